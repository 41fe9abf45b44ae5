"""Support API: tickets in (any client with a token), a person's reply; thin over the ticket services."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomax.errors import NotFoundError
from autonomax.models import Membership
from autonomax.tenancy import CanOperate, CompanyScopedAPIMixin

from .intents import INTENT_LABELS, ticket_intent_label
from .knowledge import kb_search
from .models import Ticket, TicketMessage
from .selectors import ticket_detail, ticket_list
from .tickets import Inbound, ticket_assign, ticket_receive, ticket_reply, ticket_resolve


class TicketSerializer(serializers.ModelSerializer):
    message_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Ticket
        fields = ["id", "subject", "customer_email", "channel", "intent", "status", "priority", "auto_resolved",
                  "escalated", "created_at", "first_response_at", "resolved_at", "message_count"]


class TicketMessageSerializer(serializers.ModelSerializer):
    at = serializers.DateTimeField(source="created_at")
    author_name = serializers.SerializerMethodField()

    class Meta:
        model = TicketMessage
        fields = ["id", "author", "author_name", "body", "at", "attachments", "flags"]

    def get_author_name(self, obj) -> str:
        if obj.author == TicketMessage.Author.PERSON and obj.author_user is not None:
            return obj.author_user.get_full_name() or obj.author_user.get_username()
        return obj.author


class AssigneeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class SLASerializer(serializers.Serializer):
    first_response_due = serializers.DateTimeField(allow_null=True)
    resolution_due = serializers.DateTimeField(allow_null=True)
    breached = serializers.BooleanField()
    first_response_breached_at = serializers.DateTimeField(allow_null=True)
    resolution_breached_at = serializers.DateTimeField(allow_null=True)
    paused = serializers.BooleanField(help_text="The resolution timer is paused while waiting on the customer")


class TicketDetailSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    assignee = serializers.SerializerMethodField()
    sla = serializers.SerializerMethodField()
    messages = TicketMessageSerializer(many=True, read_only=True)

    class Meta:
        model = Ticket
        fields = ["id", "reference", "subject", "customer_email", "customer_name", "channel", "status", "priority",
                  "intent", "intent_confidence", "answer_confidence", "language", "assignee", "sla", "escalated",
                  "auto_resolved", "flags", "created_at", "first_response_at", "resolved_at", "messages"]

    @extend_schema(responses=AssigneeSerializer(allow_null=True))
    def get_assignee(self, obj) -> dict | None:
        if obj.assignee is None:
            return None
        return {"id": obj.assignee.pk, "username": obj.assignee.get_username()}

    @extend_schema(responses=SLASerializer)
    def get_sla(self, obj) -> dict:
        return {"first_response_due": obj.first_response_due, "resolution_due": obj.resolution_due,
                "breached": obj.sla_breached, "first_response_breached_at": obj.first_response_breached_at,
                "resolution_breached_at": obj.resolution_breached_at, "paused": obj.waiting_since is not None}


class TicketCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField()
    channel = serializers.ChoiceField(choices=Ticket.Channel.choices, required=False, default=Ticket.Channel.API)


class TicketReplySerializer(serializers.Serializer):
    body = serializers.CharField()
    resolve = serializers.BooleanField(required=False, default=False,
                                       help_text="Resolve with this reply instead of waiting on the customer")


class TicketAssignSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(allow_null=True, help_text="User id of a member of the company, or null")


class TicketIntentSerializer(serializers.Serializer):
    intent = serializers.ChoiceField(choices=INTENT_LABELS)


class TicketViewSet(CompanyScopedAPIMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Ticket.objects.all()
    serializer_class = TicketSerializer
    filterset_fields = ["status", "priority", "channel"]
    ordering_fields = ["created_at", "priority"]

    def get_permissions(self):
        if self.action in ("create", "reply", "assign", "resolve", "intent"):
            return [CanOperate()]
        return super().get_permissions()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Ticket.objects.none()
        return ticket_list(company=self.request.company)

    def get_serializer_class(self):
        return TicketDetailSerializer if self.action == "retrieve" else TicketSerializer

    def _detail(self, pk) -> Ticket:
        ticket = ticket_detail(company=self.request.company, pk=pk)
        if ticket is None:
            raise NotFoundError(f"Ticket {pk} not found.")
        return ticket

    def retrieve(self, request, pk=None):
        """One ticket: status, intent and confidences, language, assignee, SLA timers and the conversation."""
        return Response(TicketDetailSerializer(self._detail(pk)).data)

    @extend_schema(request=TicketCreateSerializer, responses={201: TicketDetailSerializer})
    def create(self, request):
        """Open a ticket for a customer (or thread into theirs when the subject quotes its reference)."""
        payload = TicketCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        received = ticket_receive(company=request.company, inbound=Inbound(
            email=data["email"], name=data["name"], subject=data["subject"], body=data["body"],
            channel=data["channel"]))
        # 201 either way: a message was stored (a reply quoting the reference joins its ticket).
        return Response(TicketDetailSerializer(self._detail(received.ticket.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TicketReplySerializer, responses={201: TicketDetailSerializer})
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        """A person's reply: emailed to the customer; from now on the bot never replies on this ticket."""
        ticket = self._detail(pk)
        payload = TicketReplySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ticket_reply(ticket=ticket, user=request.user, body=payload.validated_data["body"],
                     resolve=payload.validated_data["resolve"])
        return Response(TicketDetailSerializer(self._detail(pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TicketAssignSerializer, responses={200: TicketDetailSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Assign the ticket to a member of the company (a person has taken it: the bot stops)."""
        ticket = self._detail(pk)
        payload = TicketAssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        assignee = None
        if payload.validated_data["assignee"] is not None:
            membership = (Membership.objects.select_related("user")
                          .filter(company=request.company, user_id=payload.validated_data["assignee"]).first())
            if membership is None:
                raise NotFoundError("No such member of this company.")
            assignee = membership.user
        ticket_assign(ticket=ticket, assignee=assignee, actor=request.user)
        return Response(TicketDetailSerializer(self._detail(pk)).data)

    @extend_schema(request=None, responses={200: TicketDetailSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Mark the ticket resolved."""
        ticket_resolve(ticket=self._detail(pk), actor=request.user)
        return Response(TicketDetailSerializer(self._detail(pk)).data)

    @extend_schema(request=TicketIntentSerializer, responses={200: TicketDetailSerializer})
    @action(detail=True, methods=["post"])
    def intent(self, request, pk=None):
        """A person sets or corrects the ticket's intent: the ticket becomes a label for the company's intent
        model (trained nightly)."""
        ticket = self._detail(pk)
        payload = TicketIntentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ticket_intent_label(ticket=ticket, intent=payload.validated_data["intent"], user=request.user)
        return Response(TicketDetailSerializer(self._detail(pk)).data)


class PassageSerializer(serializers.Serializer):
    passage_id = serializers.IntegerField()
    article_id = serializers.IntegerField()
    title = serializers.CharField()
    text = serializers.CharField()
    language = serializers.CharField()
    score = serializers.FloatField(help_text="The database's full-text rank, 0-1")
    coverage = serializers.FloatField(help_text="Share of the question's content words found in the passage")


class KnowledgeSearchQuery(serializers.Serializer):
    q = serializers.CharField(max_length=2000)
    limit = serializers.IntegerField(min_value=1, max_value=20, required=False, default=5)


class KnowledgeSearchView(APIView):
    """GET /api/v1/knowledge/search/?q=...: the best passages of the company's published articles."""

    @extend_schema(parameters=[KnowledgeSearchQuery], responses={200: PassageSerializer(many=True)})
    def get(self, request):
        query = KnowledgeSearchQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        hits = kb_search(company=request.company, query=query.validated_data["q"],
                         limit=query.validated_data["limit"])
        return Response([h.as_dict() for h in hits])
