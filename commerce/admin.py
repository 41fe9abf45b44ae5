from django import forms
from django.contrib import admin, messages
from unfold.admin import TabularInline

from autonomax.admin import CompanyScopedAdmin
from autonomax.errors import AppError

from .models import (
    ChannelConnection,
    Customer,
    CustomerConsent,
    Discount,
    DiscountRedemption,
    DownloadGrant,
    IncomeStream,
    Listing,
    Order,
    OrderItem,
    Product,
    ProductDraft,
    Refund,
    ServiceTask,
    Subscription,
    WebhookEvent,
)
from .services.discounts import discount_create, discount_validate
from .services.drafts import draft_gate_override, draft_promote
from .services.refunds import refund_issue
from .services.webhooks import webhook_reprocess


@admin.register(IncomeStream)
class IncomeStreamAdmin(CompanyScopedAdmin):
    list_display = ["name", "kind", "company"]
    list_filter = ["kind", "company"]
    search_fields = ["name"]


class ProductAdminForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = "__all__"  # noqa: DJ007 - the admin shows every field

    def clean(self):
        data = super().clean()
        if (data.get("kind") == Product.Kind.DIGITAL and data.get("status") == Product.Status.ACTIVE
                and not data.get("asset")):
            raise forms.ValidationError("A digital product is for sale only with its deliverable: upload the file "
                                        "(or promote a draft, which renders it) before making it active.")
        return data


@admin.register(Product)
class ProductAdmin(CompanyScopedAdmin):
    form = ProductAdminForm
    list_display = ["name", "sku", "kind", "price", "currency", "status", "company", "updated_at"]
    list_filter = ["status", "kind", "company"]
    search_fields = ["name", "sku", "slug"]
    readonly_fields = ["created_at", "updated_at"]
    prepopulated_fields = {"slug": ["name"]}


class CustomerConsentInline(TabularInline):
    """Consent history: each decision with its source, time and the words shown. Recorded, never edited."""

    model = CustomerConsent
    extra = 0
    can_delete = False
    fields = ["status", "source", "wording", "recorded_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Customer)
class CustomerAdmin(CompanyScopedAdmin):
    list_display = ["email", "name", "company", "created_at"]
    list_filter = ["company"]
    search_fields = ["email", "name", "stripe_customer_id", "shopify_customer_id"]
    date_hierarchy = "created_at"
    inlines = [CustomerConsentInline]


class DiscountAdminForm(forms.ModelForm):
    class Meta:
        model = Discount
        fields = ["company", "code", "kind", "percent_off", "amount_off", "currency", "valid_from", "valid_until",
                  "max_redemptions", "per_customer_limit", "products", "is_active"]

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and data.get("company") and not self.errors:
            try:
                discount_validate(company=data["company"], code=data.get("code", ""), kind=data.get("kind", ""),
                                  percent_off=data.get("percent_off"), amount_off=data.get("amount_off"),
                                  currency=data.get("currency") or "", valid_from=data.get("valid_from"),
                                  valid_until=data.get("valid_until"), max_redemptions=data.get("max_redemptions"),
                                  per_customer_limit=data.get("per_customer_limit") or 1,
                                  products=data.get("products") or [])
            except AppError as exc:
                raise forms.ValidationError(exc.message) from None
        return data


class DiscountRedemptionInline(TabularInline):
    model = DiscountRedemption
    extra = 0
    can_delete = False
    fields = ["order", "email", "amount", "channel", "redeemed_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Discount)
class DiscountAdmin(CompanyScopedAdmin):
    """New codes go through the service (published to Stripe and Shopify); afterwards only `is_active` and
    nothing else changes, so the code stays the same everywhere it was published."""

    form = DiscountAdminForm
    list_display = ["code", "kind", "percent_off", "amount_off", "currency", "valid_until", "max_redemptions",
                    "is_active", "source", "company", "created_at"]
    list_filter = ["is_active", "kind", "company"]
    search_fields = ["code", "source", "correlation_id"]
    filter_horizontal = ["products"]
    inlines = [DiscountRedemptionInline]
    REMOTE = ["source", "correlation_id", "stripe_coupon_id", "stripe_promotion_code_id", "shopify_discount_id",
              "created_by", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.REMOTE
        return [*DiscountAdminForm.Meta.fields[:-1], *self.REMOTE]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["is_active"])
            return
        data = form.cleaned_data
        discount, _ = discount_create(
            company=data["company"], code=data["code"], kind=data["kind"], percent_off=data.get("percent_off"),
            amount_off=data.get("amount_off"), currency=data.get("currency") or "",
            valid_from=data.get("valid_from"), valid_until=data.get("valid_until"),
            max_redemptions=data.get("max_redemptions"), per_customer_limit=data.get("per_customer_limit") or 1,
            products=list(data.get("products") or []), source="admin", actor=request.user)
        obj.pk, obj.uid, obj.code = discount.pk, discount.uid, discount.code
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)
            return
        for formset in formsets:  # a new discount's products were set by the service; no m2m save here
            self.save_formset(request, form, formset, change=change)


class OrderItemInline(TabularInline):
    model = OrderItem
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Order)
class OrderAdmin(CompanyScopedAdmin):
    list_display = ["id", "company", "customer", "status", "channel", "total", "currency", "created_at", "paid_at"]
    list_filter = ["status", "channel", "company"]
    search_fields = ["external_id", "customer__email"]
    date_hierarchy = "created_at"
    list_select_related = ["customer", "company"]
    raw_id_fields = ["customer"]
    readonly_fields = ["access_token", "paid_at", "fulfilled_at", "refunded_at", "cancelled_at", "amount_refunded",
                       "payment_intent_id"]
    inlines = [OrderItemInline]
    actions = ["refund_in_full"]

    @admin.action(description="Refund in full through Stripe")
    def refund_in_full(self, request, queryset):
        for order in queryset:
            try:
                refund = refund_issue(order=order, reason="admin refund", actor=request.user)
            except AppError as exc:
                self.message_user(request, f"Order {order.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Order {order.pk}: refunded {refund.amount} {refund.currency}.")


@admin.register(Refund)
class RefundAdmin(CompanyScopedAdmin):
    list_display = ["id", "order", "amount", "currency", "status", "company", "created_at"]
    list_filter = ["status", "company"]
    search_fields = ["external_id", "order__external_id"]
    date_hierarchy = "created_at"
    raw_id_fields = ["order"]
    readonly_fields = ["idempotency_key", "external_id", "issued_by"]


@admin.register(ProductDraft)
class ProductDraftAdmin(CompanyScopedAdmin):
    list_display = ["title", "status", "price", "rubric_average", "company", "ai_provider", "created_at"]
    list_filter = ["status", "company"]
    search_fields = ["title", "description"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "ai_provider", "correlation_id", "near_duplicates", "gate_override_by",
                       "gate_override_at", "product"]
    actions = ["promote", "override_gate"]

    @admin.display(description="rubric avg")
    def rubric_average(self, obj):
        return obj.rubric_average

    @admin.action(description="Promote to product (must pass the quality gate or be overridden)")
    def promote(self, request, queryset):
        for draft in queryset:
            try:
                product = draft_promote(draft=draft, actor=request.user)
            except AppError as exc:
                self.message_user(request, f"{draft.title}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{draft.title}: product {product.pk} created ({product.slug}).")

    @admin.action(description="Override the quality gate (I reviewed it)")
    def override_gate(self, request, queryset):
        for draft in queryset:
            draft_gate_override(draft=draft, actor=request.user)
        self.message_user(request, f"{queryset.count()} draft(s) may now be promoted.")


@admin.register(Listing)
class ListingAdmin(CompanyScopedAdmin):
    list_display = ["product", "channel", "status", "external_id", "published_at", "company"]
    list_filter = ["channel", "status", "company"]
    search_fields = ["product__name", "external_id"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(CompanyScopedAdmin):
    list_display = ["received_at", "provider", "event_type", "event_id", "status", "attempts", "company"]
    list_filter = ["provider", "status", "event_type"]
    search_fields = ["event_id", "event_type"]
    date_hierarchy = "received_at"
    readonly_fields = ["provider", "event_id", "webhook_id", "event_type", "payload", "raw_body", "headers",
                       "received_at", "processed_at", "attempts", "last_error", "match_ref"]
    actions = ["reprocess"]

    @admin.action(description="Reprocess the selected events")
    def reprocess(self, request, queryset):
        count = webhook_reprocess(events=queryset)
        self.message_user(request, f"{count} event(s) queued for processing.")


@admin.register(ChannelConnection)
class ChannelConnectionAdmin(CompanyScopedAdmin):
    # The token itself is never stored: only the name of the environment variable that holds it.
    list_display = ["company", "channel", "shop_domain", "access_token_env", "is_active", "created_at"]
    list_filter = ["channel", "is_active"]


@admin.register(DownloadGrant)
class DownloadGrantAdmin(CompanyScopedAdmin):
    list_display = ["id", "order", "product", "download_count", "max_downloads", "expires_at", "revoked_at",
                    "emailed_at"]
    raw_id_fields = ["order", "product"]
    readonly_fields = ["download_count", "emailed_at"]


@admin.register(ServiceTask)
class ServiceTaskAdmin(CompanyScopedAdmin):
    list_display = ["id", "product", "order", "status", "assignee", "scheduled_for", "created_at"]
    list_filter = ["status", "company"]
    raw_id_fields = ["order", "product"]


@admin.register(Subscription)
class SubscriptionAdmin(CompanyScopedAdmin):
    list_display = ["external_id", "customer", "product", "status", "started_at", "ended_at", "company"]
    list_filter = ["status", "company"]
    raw_id_fields = ["order", "product", "customer"]
