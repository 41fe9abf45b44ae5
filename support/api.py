from django.db.models import Count
from rest_framework import serializers, viewsets

from autonomax.tenancy import CompanyScopedAPIMixin

from .models import Ticket


class TicketSerializer(serializers.ModelSerializer):
    message_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Ticket
        fields = ["id", "subject", "customer_email", "channel", "intent", "status", "priority", "auto_resolved",
                  "escalated", "created_at", "first_response_at", "resolved_at", "message_count"]


class TicketViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Ticket.objects.annotate(message_count=Count("messages"))
    serializer_class = TicketSerializer
    filterset_fields = ["status", "priority", "channel"]
    ordering_fields = ["created_at", "priority"]

