"""Commerce API: thin DRF views over the commerce selectors and services."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomax.api_rows import Rows
from autonomax.tenancy import CanOperate, CompanyScopedAPIMixin, access_company_object
from autonomax.text_input import control_characters_refuse

from .models import Customer, Discount, Listing, Order, OrderItem, Product, ProductDraft, Refund
from .selectors import discount_list
from .services.discounts import discount_create
from .services.drafts import draft_gate_override, draft_generate, draft_promote
from .services.publishing import listing_publish
from .services.refunds import refund_issue


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "sku", "slug", "name", "kind", "description", "price", "currency", "status",
                  "created_at", "updated_at"]


class OrderCustomerSerializer(serializers.ModelSerializer):
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
    customer = OrderCustomerSerializer(read_only=True)
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


ORDER_ROWS = Rows(OrderSerializer, exclude={"customer", "items"})
CUSTOMER_ROWS, ITEM_ROWS = Rows(OrderCustomerSerializer), Rows(OrderItemSerializer)


class OrderViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Order.objects.select_related("customer").prefetch_related("items")
    serializer_class = OrderSerializer
    filterset_fields = ["status", "channel"]
    ordering_fields = ["created_at", "paid_at", "total"]

    def list(self, request, *args, **kwargs):
        """The same JSON as OrderSerializer, rendered from `.values()` (lists are the hot path)."""
        queryset = self.filter_queryset(self.get_queryset()).prefetch_related(None)
        page = self.paginate_queryset(queryset.values(*ORDER_ROWS.columns(), "customer_id",
                                                      *CUSTOMER_ROWS.columns("customer__")))
        item_rows = list(OrderItem.objects.filter(order_id__in=[o["id"] for o in page]).order_by("pk").values(
            "order_id", *ITEM_ROWS.columns()))
        items = {}
        for row, item in zip(item_rows, ITEM_ROWS.render_many(item_rows), strict=True):
            items.setdefault(row["order_id"], []).append(item)
        customers = CUSTOMER_ROWS.render_many(page, "customer__")
        return self.get_paginated_response([
            {**order, "customer": customer if row["customer_id"] else None, "items": items.get(row["id"], [])}
            for row, order, customer in zip(page, ORDER_ROWS.render_many(page), customers, strict=True)
        ])

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


class ProductBriefSerializer(serializers.Serializer):
    category = serializers.CharField(max_length=100)
    audience = serializers.CharField(max_length=200)
    keywords = serializers.ListField(child=serializers.CharField(max_length=80), min_length=1, max_length=20)
    refs = serializers.ListField(child=serializers.CharField(max_length=500), required=False, default=list,
                                 max_length=20)

    def validate_keywords(self, keywords):
        if len(keywords[0]) > 70:  # the draft's title (at most 70 characters) starts with it
            raise serializers.ValidationError("The first keyword is the start of the title: at most 70 characters.")
        return keywords


class ProductDraftSerializer(serializers.ModelSerializer):
    rubric_average = serializers.FloatField(read_only=True)
    gate_passed = serializers.BooleanField(read_only=True)

    class Meta:
        model = ProductDraft
        fields = ["id", "title", "description", "tags", "assets", "price", "rubric", "rubric_average", "gate_passed",
                  "near_duplicates", "status", "product", "brief", "ai_provider", "gate_override_at", "created_at"]


class PublishRequestSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=["shopify", "etsy"])
    draft_id = serializers.IntegerField(required=False)
    product_id = serializers.IntegerField(required=False)
    pricing = serializers.DictField(required=False, default=dict)

    def validate(self, attrs):
        if not attrs.get("draft_id") and not attrs.get("product_id"):
            raise serializers.ValidationError("Give draft_id (or product_id).")
        return attrs


class ListingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Listing
        fields = ["id", "product", "channel", "external_id", "url", "status", "published_at"]


class ProductDraftViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    """Drafts from the catalog brain, waiting for review."""

    queryset = ProductDraft.objects.all()
    serializer_class = ProductDraftSerializer
    filterset_fields = ["status"]

    @extend_schema(request=None, responses={200: ProductSerializer})
    @action(detail=True, methods=["post"], permission_classes=[CanOperate])
    def promote(self, request, pk=None):
        product = draft_promote(draft=self.get_object(), actor=request.user)
        return Response(ProductSerializer(product).data)

    @extend_schema(request=None, responses={200: ProductDraftSerializer})
    @action(detail=True, methods=["post"], permission_classes=[CanOperate], url_path="override-gate")
    def override_gate(self, request, pk=None):
        draft = draft_gate_override(draft=self.get_object(), actor=request.user)
        return Response(ProductDraftSerializer(draft).data)


class ProductDraftCreateView(APIView):
    """POST /api/v1/products/draft: a ProductBrief becomes a ProductDraft through the AI engine."""

    permission_classes = [CanOperate]

    @extend_schema(request=ProductBriefSerializer, responses={201: ProductDraftSerializer})
    def post(self, request):
        brief = ProductBriefSerializer(data=request.data)
        brief.is_valid(raise_exception=True)
        control_characters_refuse(brief.validated_data)
        draft = draft_generate(company=request.company, brief=brief.validated_data, actor=request.user)
        return Response(ProductDraftSerializer(draft).data, status=status.HTTP_201_CREATED)


class ProductPublishView(APIView):
    """POST /api/v1/products/publish: create or update the listing on the channel, verified by reading back."""

    permission_classes = [CanOperate]

    @extend_schema(request=PublishRequestSerializer, responses={201: ListingSerializer})
    def post(self, request):
        data = PublishRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("draft_id"):
            target = access_company_object(ProductDraft, company=request.company, pk=data.validated_data["draft_id"])
        else:
            target = access_company_object(Product, company=request.company, pk=data.validated_data["product_id"])
        listing = listing_publish(company=request.company, draft_or_product=target,
                                  channel=data.validated_data["channel"], pricing=data.validated_data["pricing"],
                                  actor=request.user)
        return Response(ListingSerializer(listing).data, status=status.HTTP_201_CREATED)


class DiscountSerializer(serializers.ModelSerializer):
    products = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    redemption_count = serializers.IntegerField(read_only=True)
    label = serializers.CharField(read_only=True)

    class Meta:
        model = Discount
        fields = ["id", "code", "kind", "percent_off", "amount_off", "currency", "label", "valid_from",
                  "valid_until", "max_redemptions", "per_customer_limit", "products", "is_active",
                  "redemption_count", "source", "correlation_id", "stripe_promotion_code_id",
                  "shopify_discount_id", "created_at"]


class DiscountCreateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40)
    kind = serializers.ChoiceField(choices=Discount.Kind.choices, default=Discount.Kind.PERCENT)
    percent_off = serializers.DecimalField(max_digits=5, decimal_places=2, required=False, allow_null=True)
    amount_off = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True, default="")
    valid_from = serializers.DateTimeField(required=False, allow_null=True)
    valid_until = serializers.DateTimeField(required=False, allow_null=True)
    max_redemptions = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    per_customer_limit = serializers.IntegerField(required=False, default=1, min_value=1)
    products = serializers.ListField(child=serializers.IntegerField(), required=False, default=list,
                                     max_length=100)


class DiscountViewSet(CompanyScopedAPIMixin, viewsets.ReadOnlyModelViewSet):
    """GET/POST /api/v1/discounts/: the codes checkout honours (and the Shopify shop, when connected)."""

    queryset = Discount.objects.all()
    serializer_class = DiscountSerializer
    filterset_fields = ["is_active", "kind"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Discount.objects.none()
        return discount_list(company=self.request.company)

    def get_permissions(self):
        if self.action == "create":
            return [CanOperate()]
        return super().get_permissions()

    @extend_schema(request=DiscountCreateSerializer, responses={201: DiscountSerializer})
    def create(self, request):
        data = DiscountCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        ids = values.pop("products")
        products = [access_company_object(Product, company=request.company, pk=pk) for pk in ids]
        discount, _ = discount_create(company=request.company, products=products, source="api", actor=request.user,
                                      **values)
        discount = discount_list(company=request.company).get(pk=discount.pk)
        return Response(DiscountSerializer(discount).data, status=status.HTTP_201_CREATED)
