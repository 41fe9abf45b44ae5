from rest_framework import serializers, viewsets

from autonomax.tenancy import CompanyScopedAPIMixin

from .models import Lead


class LeadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lead
        fields = ["id", "email", "name", "source", "utm_source", "utm_medium", "utm_campaign", "score", "status",
                  "consent", "created_at", "converted_at"]


class LeadViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Lead.objects.all()
    serializer_class = LeadSerializer
    filterset_fields = ["status", "source"]
    ordering_fields = ["created_at", "score"]
