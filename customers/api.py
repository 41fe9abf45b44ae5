"""Customers API: each customer with their value (RFM, segment, churn, lifetime value), export and erasure."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from autonomax.errors import AppError
from autonomax.models import Role
from autonomax.tenancy import CompanyScopedAPIMixin
from commerce.models import Customer

from .models import CustomerProfile
from .services.privacy import customer_erase, customer_export


class CustomerSerializer(serializers.ModelSerializer):
    rfm = serializers.SerializerMethodField()
    segment = serializers.CharField(source="profile.segment", read_only=True, allow_null=True)
    p_alive = serializers.FloatField(source="profile.p_alive", read_only=True, allow_null=True)
    expected_purchases_90d = serializers.FloatField(source="profile.expected_purchases_90d", read_only=True,
                                                    allow_null=True)
    expected_order_value = serializers.DecimalField(source="profile.expected_order_value", max_digits=12,
                                                    decimal_places=2, read_only=True, allow_null=True)
    predicted_value_12m = serializers.DecimalField(source="profile.predicted_value_12m", max_digits=12,
                                                   decimal_places=2, read_only=True, allow_null=True)
    history_note = serializers.SerializerMethodField()
    model_version = serializers.IntegerField(source="profile.model.version", read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = ["id", "email", "name", "created_at", "rfm", "segment", "p_alive", "expected_purchases_90d",
                  "expected_order_value", "predicted_value_12m", "history_note", "model_version"]

    @staticmethod
    def _profile(customer) -> CustomerProfile | None:
        try:
            return customer.profile
        except CustomerProfile.DoesNotExist:
            return None

    def get_rfm(self, customer) -> dict | None:
        p = self._profile(customer)
        if p is None or not p.orders:
            return None
        return {"recency": p.recency_days, "frequency": p.orders, "monetary": str(p.monetary),
                "score": p.rfm_score}

    def get_history_note(self, customer) -> str:
        p = self._profile(customer)
        if p is None:
            return "not scored yet"
        return p.history_note or ("" if p.p_alive is not None else "no lifetime model fitted yet (nightly)")

    def to_representation(self, customer):
        data = super().to_representation(customer)
        data["segment"] = data["segment"] or None  # "" until the first paid order
        return data


class EraseRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class ErasureSerializer(serializers.Serializer):
    customer_ref = serializers.IntegerField()
    reason = serializers.CharField()
    changed = serializers.DictField(child=serializers.IntegerField())
    erased_at = serializers.DateTimeField()


class CustomerViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Customer.objects.select_related("profile", "profile__model")
    serializer_class = CustomerSerializer
    filterset_fields = ["profile__segment"]
    ordering_fields = ["created_at"]

    @extend_schema(request=None, responses={200: dict}, summary="Everything held about the customer, from every app")
    @action(detail=True, methods=["post"])
    def export(self, request, pk=None):
        return Response(customer_export(customer=self.get_object()))

    @extend_schema(request=EraseRequestSerializer, responses={200: ErasureSerializer},
                   summary="Erase the customer's personal data everywhere (owners only, with a reason)")
    @action(detail=True, methods=["post"])
    def erase(self, request, pk=None):
        if request.membership.role != Role.OWNER:
            raise AppError("Only an owner of the company can erase a customer.", code="forbidden", status=403)
        body = EraseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = customer_erase(customer=self.get_object(), actor=request.user, reason=body.validated_data["reason"])
        return Response(ErasureSerializer(record).data)
