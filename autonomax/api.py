"""Core API: the caller's companies and the company kill switch."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .models import APIToken, Company, Membership
from .services import company_set_halt
from .tenancy import CanOperate, request_membership


class CompanySerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Company
        fields = ["slug", "name", "is_active", "autopilot", "execution_halted", "halted_reason", "timezone",
                  "currency", "max_active_missions", "role"]

    def get_role(self, company) -> str:
        return self.context["roles"].get(company.pk, "owner")


class HaltSerializer(serializers.Serializer):
    halted = serializers.BooleanField(default=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        # A misspelt `halted` must not silently fall back to the default and stop everything.
        unknown = sorted(set(getattr(self, "initial_data", {}) or {}) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class CompanyViewSet(viewsets.ReadOnlyModelViewSet):
    """Companies the caller belongs to (a token sees only its own company)."""

    queryset = Company.objects.all()  # narrowed per caller in get_queryset
    serializer_class = CompanySerializer
    lookup_field = "slug"
    lookup_url_kwarg = "company_slug"
    pagination_class = None

    def get_queryset(self):
        token = self.request.auth if isinstance(self.request.auth, APIToken) else None
        if token is not None:
            return Company.objects.filter(pk=token.company_id)
        if self.request.user.is_superuser:
            return Company.objects.filter(is_active=True)
        return Company.objects.filter(memberships__user=self.request.user, is_active=True)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["roles"] = dict(
            Membership.objects.filter(user=self.request.user).values_list("company_id", "role")
        )
        return context

    @extend_schema(request=HaltSerializer, responses=CompanySerializer)
    @action(detail=True, methods=["post"], permission_classes=[CanOperate])
    def halt(self, request, company_slug=None):
        """Kill switch: stop (or with `halted: false`, resume) all job execution for the company."""
        membership = request_membership(request, slug=company_slug)
        body = HaltSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        company = company_set_halt(company=membership.company, halted=body.validated_data["halted"],
                                   actor=request.user, reason=body.validated_data["reason"])
        return Response(self.get_serializer(company).data)
