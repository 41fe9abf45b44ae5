"""Commerce API: thin DRF views over the commerce selectors and services."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from autonomax.tenancy import CanOperate, CompanyScopedAPIMixin

from .models import Customer, Order, OrderItem, Product, Refund
from .services.refunds import refund_issue


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "sku", "slug", "name", "kind", "description", "price", "currency", "status",
                  "created_at", "updated_at"]


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "email", "name", "created_at"]


class OrderItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderItem
        fields = ["product", "title", "quantity", "unit_price"]


class RefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = ["id", "order", "amount", "currency", "reason", "status", "created_at"]


class OrderSerializer(serializers.ModelSerializer):
    customer = CustomerSerializer(read_only=True)
    items = OrderItemSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "status", "channel", "external_id", "currency", "total", "amount_refunded",
                  "customer", "items", "created_at", "paid_at", "fulfilled_at", "refunded_at"]


class RefundRequestSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, min_value=0)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ProductViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    filterset_fields = ["status", "kind"]
    ordering_fields = ["name", "price", "created_at"]


class CustomerViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    ordering_fields = ["created_at"]


class OrderViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Order.objects.select_related("customer").prefetch_related("items")
    serializer_class = OrderSerializer
    filterset_fields = ["status", "channel"]
    ordering_fields = ["created_at", "paid_at", "total"]

    @extend_schema(request=RefundRequestSerializer, responses={201: RefundSerializer})
    @action(detail=True, methods=["post"], permission_classes=[CanOperate])
    def refund(self, request, pk=None):
        """Refund through the Stripe Refund API (idempotency key per refund); the download grant is revoked."""
        order = self.get_object()
        data = RefundRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = refund_issue(order=order, amount=data.validated_data.get("amount"),
                              reason=data.validated_data["reason"], actor=request.user)
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class RefundViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Refund.objects.all()
    serializer_class = RefundSerializer
    filterset_fields = ["status"]
