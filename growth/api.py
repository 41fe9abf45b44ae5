"""Growth API: lead capture, event batches, leads with their score breakdown, hand-off tasks. Thin."""

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from autonomax.errors import ConflictError
from autonomax.tenancy import CanOperate, CompanyScopedAPIMixin, access_company_object

from .campaigns import (
    campaign_create,
    campaign_create_content,
    campaign_ideate,
    campaign_preview,
    campaign_results,
    campaign_review,
    campaign_test_send,
)
from .capture import CaptureInput, LeadInvalid, lead_capture
from .deliverability import campaign_resume
from .events import EVENT_TYPES, MAX_BATCH, lead_events_record
from .experiments import (
    experiment_convert,
    experiment_create,
    experiment_readout,
    experiment_rollout,
    experiment_start,
    experiment_stop,
    variant_for,
)
from .models import (
    Campaign,
    CampaignContent,
    Enrolment,
    Experiment,
    ExperimentVariant,
    HandoffTask,
    Lead,
    LeadTouch,
    Sequence,
    SequenceStep,
)
from .scoring import handoff_close
from .sequences import SEGMENT_NAMES, sequence_create, sequence_enrol, sequence_performance


class ScoreItemSerializer(serializers.Serializer):
    rule = serializers.CharField()
    label = serializers.CharField()
    points = serializers.IntegerField()
    count = serializers.IntegerField()
    text = serializers.CharField(help_text="e.g. '+25 pricing page visit 2 days ago'")


class LeadSerializer(serializers.ModelSerializer):
    score_breakdown = ScoreItemSerializer(many=True, read_only=True)

    class Meta:
        model = Lead
        fields = ["id", "email", "name", "source", "utm_source", "utm_medium", "utm_campaign", "utm_term",
                  "utm_content", "fields", "score", "score_breakdown", "status", "consent", "consent_at",
                  "confirmed_at", "touches", "last_activity_at", "created_at", "converted_at"]


class UTMSerializer(serializers.Serializer):
    source = serializers.CharField(required=False, max_length=100)
    medium = serializers.CharField(required=False, max_length=100)
    campaign = serializers.CharField(required=False, max_length=100)
    term = serializers.CharField(required=False, max_length=100)
    content = serializers.CharField(required=False, max_length=100)


class ConsentSerializer(serializers.Serializer):
    marketing = serializers.BooleanField(help_text="agreed to receive marketing email")
    text = serializers.CharField(required=False, max_length=2000,
                                 help_text="the exact wording agreed to (required when marketing is true)")
    at = serializers.DateTimeField(required=False, help_text="when consent was given (default: now)")


class LeadCaptureSerializer(serializers.Serializer):
    """Documentation of the request; the capture service validates it (and names the field at fault)."""

    email = serializers.EmailField(max_length=254, help_text="normalised (lower case); disposable domains refused")
    name = serializers.CharField(required=False, max_length=200)
    source = serializers.CharField(required=False, max_length=64)
    utm = UTMSerializer(required=False)
    consent = ConsentSerializer(required=False, help_text="required when the company requires consent")
    fields = serializers.DictField(required=False, help_text="up to 20 extra fields, scalar values ≤ 500 chars")


class LeadCaptureResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    score = serializers.IntegerField()
    score_breakdown = ScoreItemSerializer(many=True)
    created = serializers.BooleanField(help_text="false when the email was already a lead (a touch was recorded)")
    consent_status = serializers.ChoiceField(choices=["confirmed", "pending_confirmation", "none"])


class LeadEventSerializer(serializers.Serializer):
    idempotency_key = serializers.CharField(max_length=128, help_text="unique per company; a repeat is stored once")
    type = serializers.ChoiceField(choices=EVENT_TYPES)
    lead_id = serializers.IntegerField(required=False, help_text="the lead, or give email")
    email = serializers.EmailField(required=False)
    occurred_at = serializers.DateTimeField(required=False, help_text="ISO 8601 with zone; default now")
    properties = serializers.DictField(required=False, help_text="e.g. {'path': '/pricing'}")


class LeadEventBatchSerializer(serializers.Serializer):
    events = LeadEventSerializer(many=True, help_text=f"1-{MAX_BATCH} events; one invalid event rejects the batch")


class LeadEventResultSerializer(serializers.Serializer):
    idempotency_key = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "duplicate"])


class LeadEventBatchResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rescored = serializers.IntegerField(help_text="leads whose score was recomputed")
    handoffs = serializers.IntegerField(help_text="hand-off tasks created by threshold crossings")
    results = LeadEventResultSerializer(many=True)


def _capture_input(data) -> CaptureInput:
    if not isinstance(data, dict):
        raise LeadInvalid({"non_field_errors": "The body must be a JSON object."})
    consent = data.get("consent")
    if consent is not None and not isinstance(consent, dict):
        raise LeadInvalid({"consent": "Must be an object."})
    consent = consent or {}
    at = consent.get("at")
    if at is not None:
        at = serializers.DateTimeField().to_internal_value(at) if isinstance(at, str) else None
    return CaptureInput(email=data.get("email"), name=data.get("name") or "", source=data.get("source") or "",
                        utm=data.get("utm") or {}, consent_marketing=consent.get("marketing", False),
                        consent_text=consent.get("text") or "", consent_at=at, fields=data.get("fields") or {})


def consent_status(lead: Lead) -> str:
    if lead.consent:
        return "confirmed"
    return "pending_confirmation" if lead.confirmation_sent_at else "none"


class LeadViewSet(CompanyScopedAPIMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Lead.objects.all()
    serializer_class = LeadSerializer
    permission_classes = [CanOperate]
    filterset_fields = ["status", "source"]
    ordering_fields = ["created_at", "score"]

    @extend_schema(
        request=LeadCaptureSerializer, responses={201: LeadCaptureResultSerializer, 200: LeadCaptureResultSerializer},
        summary="Capture a lead", description=(
            "201 with a new lead; the same normalised email in the same company answers 200 with the same lead "
            "and records the touch. Invalid or disposable emails, missing consent where the company requires it "
            "and oversize fields answer 400 naming the field; nothing is stored then."),
        examples=[OpenApiExample("capture", request_only=True, value={
            "email": "ada@example.com", "name": "Ada", "source": "landing",
            "utm": {"source": "newsletter", "medium": "email", "campaign": "launch"},
            "consent": {"marketing": True, "text": "Yes, send me occasional emails."},
            "fields": {"company_size": "50+"}})])
    def create(self, request, *args, **kwargs):
        try:
            data = _capture_input(request.data)
        except serializers.ValidationError as exc:
            raise LeadInvalid({"consent.at": "An ISO 8601 date-time."}) from exc
        lead, created = lead_capture(company=request.company, data=data, channel=LeadTouch.Channel.API)
        body = {"id": lead.pk, "score": lead.score, "score_breakdown": lead.score_breakdown, "created": created,
                "consent_status": consent_status(lead)}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=LeadEventBatchSerializer, responses={200: LeadEventBatchResultSerializer},
                   summary="Record a batch of lead events",
                   description="Each event is stored once per idempotency key; the touched leads are rescored "
                               "at once and threshold actions fire once per crossing.")
    @action(detail=False, methods=["post"], url_path="events")
    def events(self, request):
        payload = request.data if isinstance(request.data, dict) else {}
        result = lead_events_record(company=request.company, events=payload.get("events"))
        return Response(result)


class HandoffTaskSerializer(serializers.ModelSerializer):
    lead = LeadSerializer(read_only=True)

    class Meta:
        model = HandoffTask
        fields = ["id", "title", "stream", "threshold", "score", "status", "context", "lead", "created_at",
                  "closed_at"]


class HandoffTaskViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Hot leads a person should take over (the consulting hand-off)."""

    queryset = HandoffTask.objects.select_related("lead")
    serializer_class = HandoffTaskSerializer
    permission_classes = [CanOperate]
    filterset_fields = ["status"]

    @extend_schema(request=None, responses={200: HandoffTaskSerializer})
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None):
        task = handoff_close(task=self.get_object(), status=HandoffTask.Status.DONE, actor=request.user)
        return Response(HandoffTaskSerializer(task).data)

    @extend_schema(request=None, responses={200: HandoffTaskSerializer})
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        task = handoff_close(task=self.get_object(), status=HandoffTask.Status.DISMISSED, actor=request.user)
        return Response(HandoffTaskSerializer(task).data)


class SequenceStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = SequenceStep
        fields = ["id", "position", "delay_hours", "channel", "subject", "body", "ai_prompt"]


class SequenceSerializer(serializers.ModelSerializer):
    steps = SequenceStepSerializer(many=True)

    class Meta:
        model = Sequence
        fields = ["id", "name", "kind", "trigger", "segment", "stop_on_purchase", "stop_on_reply", "is_active",
                  "steps", "created_at"]

    def validate_steps(self, steps):
        if not steps:
            raise serializers.ValidationError("At least one step.")
        positions = [s["position"] for s in steps]
        if len(set(positions)) != len(positions):
            raise serializers.ValidationError("Step positions must be unique.")
        for s in steps:
            if not s.get("body") and not s.get("ai_prompt"):
                raise serializers.ValidationError(f"Step {s['position']}: give a body or an ai_prompt.")
        return steps

    def validate(self, attrs):
        if attrs.get("trigger") == Sequence.Trigger.SEGMENT and attrs.get("segment") not in SEGMENT_NAMES:
            raise serializers.ValidationError({"segment": f"One of {', '.join(SEGMENT_NAMES)}."})
        return attrs


class EnrolRequestSerializer(serializers.Serializer):
    lead_id = serializers.IntegerField()


class EnrolmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrolment
        fields = ["id", "sequence", "lead", "status", "stop_reason", "next_position", "next_due_at", "enrolled_at",
                  "finished_at"]


class SequenceViewSet(CompanyScopedAPIMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Nurture sequences; each step is sent at most once per enrolled lead."""

    queryset = Sequence.objects.prefetch_related("steps")
    serializer_class = SequenceSerializer
    permission_classes = [CanOperate]

    def perform_create(self, serializer):
        serializer.instance = sequence_create(company=self.request.company, data=serializer.validated_data)

    @extend_schema(request=EnrolRequestSerializer, responses={201: EnrolmentSerializer, 200: EnrolmentSerializer},
                   summary="Enrol a lead (once; a repeat answers 200 with the same enrolment)")
    @action(detail=True, methods=["post"])
    def enrol(self, request, pk=None):
        body = EnrolRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lead = access_company_object(Lead, company=request.company, pk=body.validated_data["lead_id"])
        enrolment, created = sequence_enrol(sequence=self.get_object(), lead=lead)
        return Response(EnrolmentSerializer(enrolment).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={200: serializers.ListSerializer(child=serializers.DictField())},
                   summary="Per step: sent, failed, opens, clicks and their rates")
    @action(detail=True, methods=["get"])
    def performance(self, request, pk=None):
        return Response(sequence_performance(sequence=self.get_object()))


class ExperimentVariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExperimentVariant
        fields = ["key", "weight", "is_control", "content"]


class ExperimentSerializer(serializers.ModelSerializer):
    variants = ExperimentVariantSerializer(many=True)
    exposure_percent = serializers.FloatField(write_only=True, required=False, default=100,
                                              help_text="share of units entering the experiment (waffle flag)")

    class Meta:
        model = Experiment
        fields = ["id", "key", "name", "hypothesis", "unit", "flag_name", "status", "min_sample_per_variant",
                  "min_days", "alpha", "started_at", "stopped_at", "winner", "rolled_out_by", "rolled_out_at",
                  "variants", "exposure_percent", "created_at"]
        read_only_fields = ["flag_name", "status", "started_at", "stopped_at", "winner", "rolled_out_by",
                            "rolled_out_at"]


class ReadoutVariantSerializer(serializers.Serializer):
    key = serializers.CharField()
    is_control = serializers.BooleanField()
    weight = serializers.IntegerField()
    n = serializers.IntegerField()
    conversions = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    diff = serializers.FloatField(required=False, help_text="rate minus the control's")
    ci_low = serializers.FloatField(required=False)
    ci_high = serializers.FloatField(required=False)
    p_value = serializers.FloatField(required=False, help_text="two-sided, from the same standard error")
    significant = serializers.BooleanField(required=False, help_text="p < alpha per comparison ⇔ CI excludes 0")
    prob_beat_control = serializers.FloatField(required=False, help_text="Bayesian, Beta(1,1) priors, exact")


class ReadoutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    status = serializers.CharField()
    variants = ReadoutVariantSerializer(many=True)
    srm_p = serializers.FloatField(allow_null=True, help_text="chi-squared sample-ratio check; < 0.001 unhealthy")
    days = serializers.FloatField()
    min_sample_per_variant = serializers.IntegerField()
    min_days = serializers.IntegerField()
    alpha = serializers.FloatField()
    alpha_per_comparison = serializers.FloatField(help_text="Bonferroni split over the treatments")
    verdict = serializers.ChoiceField(choices=["running", "insufficient_data", "unhealthy", "winner",
                                               "no_difference"])
    winner = serializers.CharField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())


class AssignResultSerializer(serializers.Serializer):
    unit_id = serializers.IntegerField()
    variant = serializers.CharField()


class ConvertResultSerializer(serializers.Serializer):
    counted = serializers.BooleanField(help_text="false when already converted or never assigned")


class TestEmailResultSerializer(serializers.Serializer):
    sent = serializers.IntegerField(help_text="test emails sent (one per email variant)")


class DistributeQueuedSerializer(serializers.Serializer):
    queued = serializers.BooleanField()
    campaign = serializers.IntegerField()


class UnitSerializer(serializers.Serializer):
    unit_id = serializers.IntegerField(min_value=1, help_text="the lead's or customer's id")


class RolloutSerializer(serializers.Serializer):
    variant = serializers.CharField(required=False, help_text="override the read-out's winner")


class ExperimentViewSet(CompanyScopedAPIMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Experiment.objects.prefetch_related("variants")
    serializer_class = ExperimentSerializer
    permission_classes = [CanOperate]
    filterset_fields = ["status"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = experiment_create(company=self.request.company, **data)

    @extend_schema(responses={200: ReadoutSerializer}, summary="Read-out with uncertainty and verdict")
    @action(detail=True, methods=["get"])
    def readout(self, request, pk=None):
        return Response(experiment_readout(experiment=self.get_object()))

    @extend_schema(request=UnitSerializer, responses={200: AssignResultSerializer},
                   summary="The unit's variant (sticky; assigned on first call while running)")
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        body = UnitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        experiment = self.get_object()
        unit_id = body.validated_data["unit_id"]
        self._check_unit(experiment, unit_id)
        return Response({"unit_id": unit_id, "variant": variant_for(experiment=experiment, unit_id=unit_id)})

    @extend_schema(request=UnitSerializer, responses={200: ConvertResultSerializer})
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        body = UnitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        experiment = self.get_object()
        self._check_unit(experiment, body.validated_data["unit_id"])
        counted = experiment_convert(experiment=experiment, unit_id=body.validated_data["unit_id"])
        return Response({"counted": counted})

    @extend_schema(request=None, responses={200: ExperimentSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return Response(ExperimentSerializer(experiment_start(experiment=self.get_object(), actor=request.user)).data)

    @extend_schema(request=None, responses={200: ExperimentSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return Response(ExperimentSerializer(experiment_stop(experiment=self.get_object(), actor=request.user)).data)

    @extend_schema(request=RolloutSerializer, responses={200: ExperimentSerializer},
                   summary="Roll out the winner: flag to 100%, who and when recorded")
    @action(detail=True, methods=["post"])
    def rollout(self, request, pk=None):
        body = RolloutSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        experiment = experiment_rollout(experiment=self.get_object(), actor=request.user,
                                        variant=body.validated_data.get("variant"))
        return Response(ExperimentSerializer(experiment).data)

    def _check_unit(self, experiment, unit_id):
        from commerce.selectors import customer_exists  # noqa: PLC0415

        if experiment.unit == Experiment.Unit.LEAD:
            access_company_object(Lead, company=self.request.company, pk=unit_id)
        elif not customer_exists(company=self.request.company, pk=unit_id):
            raise LeadInvalid({"unit_id": f"No customer {unit_id} in this company."})


class CampaignContentSerializer(serializers.ModelSerializer):
    class Meta:
        model = CampaignContent
        fields = ["id", "channel", "variant", "title", "body", "seo", "status", "recorded_at"]


class CampaignSerializer(serializers.ModelSerializer):
    contents = CampaignContentSerializer(many=True, read_only=True)

    class Meta:
        model = Campaign
        fields = ["id", "name", "brief", "keywords", "audience", "channels", "utm_campaign", "landing_url",
                  "schedule_at", "auto_approve", "stage", "ideas", "approved_by", "approved_at", "distributed_at",
                  "experiment", "paused_at", "pause_reason", "contents", "created_at"]
        read_only_fields = ["stage", "ideas", "approved_by", "approved_at", "distributed_at", "experiment",
                            "paused_at", "pause_reason"]
        extra_kwargs = {"utm_campaign": {"required": False}}


class TrendsSerializer(serializers.Serializer):
    trends = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=20)


class TestEmailSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class CampaignViewSet(CompanyScopedAPIMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Campaigns through the content pipeline; nothing is sent before a person approves (unless auto)."""

    queryset = Campaign.objects.prefetch_related("contents")
    serializer_class = CampaignSerializer
    permission_classes = [CanOperate]
    filterset_fields = ["stage"]

    def perform_create(self, serializer):
        serializer.instance = campaign_create(company=self.request.company, **serializer.validated_data)

    def _out(self, campaign):
        return Response(CampaignSerializer(Campaign.objects.prefetch_related("contents").get(pk=campaign.pk)).data)

    @extend_schema(request=TrendsSerializer, responses={200: CampaignSerializer}, summary="Ideation")
    @action(detail=True, methods=["post"])
    def ideate(self, request, pk=None):
        body = TrendsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._out(campaign_ideate(campaign=self.get_object(), trends=body.validated_data.get("trends")))

    @extend_schema(request=None, responses={200: CampaignSerializer},
                   summary="Creation and optimisation: A/B content per channel with SEO checks")
    @action(detail=True, methods=["post"], url_path="create-content")
    def create_content(self, request, pk=None):
        return self._out(campaign_create_content(campaign=self.get_object()))

    @extend_schema(request=None, responses={200: CampaignSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._out(campaign_review(campaign=self.get_object(), actor=request.user, approve=True))

    @extend_schema(request=None, responses={200: CampaignSerializer}, summary="Send back to creation")
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._out(campaign_review(campaign=self.get_object(), actor=request.user, approve=False))

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Audience count and rendered preview")
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        return Response(campaign_preview(campaign=self.get_object()))

    @extend_schema(request=TestEmailSerializer, responses={200: TestEmailResultSerializer},
                   summary="Send the rendered email(s) to one address, marked [TEST]")
    @action(detail=True, methods=["post"], url_path="test-email")
    def test_email(self, request, pk=None):
        body = TestEmailSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response({"sent": campaign_test_send(campaign=self.get_object(), to=body.validated_data["email"])})

    @extend_schema(request=None, responses={202: DistributeQueuedSerializer},
                   summary="Distribute now (email once per recipient; social content recorded ready to post)")
    @action(detail=True, methods=["post"])
    def distribute(self, request, pk=None):
        campaign = self.get_object()
        if campaign.stage != Campaign.Stage.APPROVED:
            raise ConflictError(f"The campaign is in {campaign.stage}: it needs approval first.",
                                code="not_approved")
        if campaign.paused_at is not None:
            raise ConflictError(f"The campaign is paused ({campaign.pause_reason}): resume it first.", code="paused")
        transaction.on_commit(lambda: campaign_distribute_enqueue(campaign.pk))
        return Response({"queued": True, "campaign": campaign.pk}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Sends, opens, clicks, conversions by UTM")
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        return Response(campaign_results(campaign=self.get_object()))

    @extend_schema(request=None, responses={200: CampaignSerializer},
                   summary="Lift a pause set by the bounce or complaint rate")
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._out(campaign_resume(campaign=self.get_object(), actor=request.user))


def campaign_distribute_enqueue(campaign_id: int) -> None:
    from .tasks import email_campaign_distribute_task  # noqa: PLC0415

    email_campaign_distribute_task.delay(campaign_id)
