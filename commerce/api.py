"""Commerce API: thin DRF views over the commerce selectors and services."""

from rest_framework import serializers, viewsets

from autonomax.tenancy import CompanyScopedAPIMixin

from .models import Customer, Order, OrderItem, Product, Refund


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


class RefundViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Refund.objects.all()
    serializer_class = RefundSerializer
    filterset_fields = ["status"]
