"""Catalog, customers, orders, refunds, listings and inbound webhook events."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from autonomax.models import MONEY, CompanyOwned


class IncomeStream(CompanyOwned):
    class Kind(models.TextChoices):
        DIGITAL_PRODUCTS = "digital_products", "Digital products"
        SUBSCRIPTIONS = "subscriptions", "Subscriptions"
        CONSULTING = "consulting", "Consulting"
        SERVICES = "services", "Services"
        AFFILIATES = "affiliates", "Affiliates"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "kind"], name="incomestream_unique_kind")]

    def __str__(self) -> str:
        return self.name


class Product(CompanyOwned):
    class Kind(models.TextChoices):
        DIGITAL = "digital", "Digital"
        SERVICE = "service", "Service"
        SUBSCRIPTION = "subscription", "Subscription"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    sku = models.CharField(max_length=64)
    slug = models.SlugField(max_length=120, unique=True, help_text="Public landing page: /p/<slug>/")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DIGITAL)
    description = models.TextField(blank=True)
    price = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    asset = models.FileField(upload_to="products/", blank=True)
    image = models.ImageField(upload_to="product-images/", blank=True,
                              help_text="Shown on the public landing page (served at /p/<slug>/image/).")
    income_stream = models.ForeignKey(IncomeStream, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "sku"], name="product_unique_sku")]
        indexes = [models.Index(fields=["company", "status"])]

    def __str__(self) -> str:
        return self.name


class Customer(CompanyOwned):
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    shopify_customer_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["company", "email"], name="customer_unique_email")]

    def __str__(self) -> str:
        return self.email


def _order_access_token() -> str:
    return secrets.token_urlsafe(24)


class Order(CompanyOwned):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        FULFILLED = "fulfilled", "Fulfilled"
        REFUNDED = "refunded", "Refunded"
        CANCELLED = "cancelled", "Cancelled"

    class Channel(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        SHOPIFY = "shopify", "Shopify"
        MANUAL = "manual", "Manual"

    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.MANUAL)
    external_id = models.CharField(max_length=128, blank=True)
    # Stripe PaymentIntent of the checkout, so refunds and payment events find their order.
    payment_intent_id = models.CharField(max_length=128, blank=True, db_index=True)
    # The code the buyer entered at checkout; a redemption is recorded only once the payment is reported.
    discount = models.ForeignKey("Discount", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Unguessable token for the customer's order-status page.
    access_token = models.CharField(max_length=64, unique=True, default=_order_access_token, editable=False)
    currency = models.CharField(max_length=3, default="USD")
    total = models.DecimalField(**MONEY)
    amount_refunded = models.DecimalField(**MONEY)
    income_stream = models.ForeignKey(IncomeStream, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # The order confirmation (service and subscription items): owed since fulfilment, its sender's lease
    # (at least once, as a download email's), and when it went out.
    confirmation_due_at = models.DateTimeField(null=True, blank=True)
    confirmation_claimed_at = models.DateTimeField(null=True, blank=True)
    confirmation_emailed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "channel", "external_id"],
                condition=~Q(external_id=""),
                name="order_unique_external_id",
            )
        ]
        indexes = [
            models.Index(fields=["company", "paid_at"]),
            models.Index(fields=["company", "status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.status})"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(**MONEY)

    def __str__(self) -> str:
        return f"{self.quantity} × {self.title}"


class Refund(CompanyOwned):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="USD")
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    external_id = models.CharField(max_length=128, blank=True)
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["company", "created_at"])]

    def __str__(self) -> str:
        return f"Refund {self.amount} {self.currency} on order {self.order_id}"


class ProductDraft(CompanyOwned):
    """A product proposed by the catalog brain or a bot, waiting for review."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PROMOTED = "promoted", "Promoted to product"
        REJECTED = "rejected", "Rejected"

    brief = models.JSONField(default=dict, blank=True)
    title = models.CharField(max_length=70)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    assets = models.JSONField(default=list, blank=True)
    price = models.DecimalField(**MONEY)
    rubric = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="drafts")
    ai_provider = models.CharField(max_length=64, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    # Titles of existing products/drafts this one nearly duplicates (flagged for review).
    near_duplicates = models.JSONField(default=list, blank=True)
    # A person may let a draft below the quality gate through; who and when is kept.
    gate_override_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                         blank=True, related_name="+")
    gate_override_at = models.DateTimeField(null=True, blank=True)
    gate_override_reason = models.CharField(max_length=500, blank=True)
    # Who last edited the generated content by hand (the AI's version is not kept apart).
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    edited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    GATE_MIN_AVERAGE = 4.0

    class Meta:
        ordering = ["-created_at"]

    @property
    def rubric_average(self) -> float | None:
        scores = [float(v) for v in (self.rubric or {}).values() if isinstance(v, (int, float))]
        return round(sum(scores) / len(scores), 2) if scores else None

    @property
    def gate_passed(self) -> bool:
        average = self.rubric_average
        return average is not None and average >= self.GATE_MIN_AVERAGE

    def __str__(self) -> str:
        return self.title


class Listing(CompanyOwned):
    """A product on a sales channel, with the id and URL the channel gave it."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="listings")
    channel = models.CharField(max_length=32)
    external_id = models.CharField(max_length=128, blank=True)
    url = models.URLField(blank=True)
    status = models.CharField(max_length=32, default="pending")
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "channel"], name="listing_unique_channel")]

    def __str__(self) -> str:
        return f"{self.product} on {self.channel}"


class WebhookEvent(models.Model):
    """An inbound webhook, stored before it is processed. One row per provider event id."""

    class Provider(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        SHOPIFY = "shopify", "Shopify"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored (unknown type)"
        PENDING_MATCH = "pending_match", "Waiting for its order/product"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=100)
    company = models.ForeignKey("autonomax.Company", on_delete=models.SET_NULL, null=True, blank=True)
    # Shopify sends both; event_id holds "<topic>:<X-Shopify-Event-Id>", this the delivery's webhook id.
    webhook_id = models.CharField(max_length=128, blank=True)
    # What a pending_match event waits for (a payment intent, order or customer id). Indexed only while
    # pending (see Meta): every receipt inserts a row, and an index the new row is not in costs it nothing.
    match_ref = models.CharField(max_length=128, blank=True)
    payload = models.JSONField(default=dict)
    raw_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # When the recovery sweep last re-enqueued it (its task was lost with a worker); None if it never had to.
    requeued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhookevent_unique_provider_event")
        ]
        indexes = [
            models.Index(fields=["status", "received_at"]),
            models.Index(fields=["match_ref"], condition=models.Q(status="pending_match"),
                         name="webhookevent_pending_ref"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_type} {self.event_id}"


class ChannelConnection(CompanyOwned):
    """A company's connection to a sales channel. The access token is never stored here:
    `access_token_env` names the environment variable that holds it."""

    class Channel(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        ETSY = "etsy", "Etsy"

    channel = models.CharField(max_length=32, choices=Channel.choices)
    shop_domain = models.CharField(max_length=255, help_text="e.g. my-shop.myshopify.com")
    access_token_env = models.CharField(max_length=100, default="SHOPIFY_ACCESS_TOKEN",
                                        help_text="Name of the environment variable holding the access token.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company", "channel"], name="channelconnection_unique_channel"),
        ]
        indexes = [models.Index(fields=["channel", "shop_domain"])]

    def __str__(self) -> str:
        return f"{self.channel}: {self.shop_domain}"


class DownloadGrant(CompanyOwned):
    """The right to download a digital product bought in an order, for a while and a few times."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="grants")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    max_downloads = models.PositiveIntegerField(default=5)
    download_count = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # A sender's lease on the email (services.fulfillment.digital_delivery_send): set before sending.
    email_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "product"], name="downloadgrant_unique_item")]

    def __str__(self) -> str:
        return f"Grant {self.pk}: {self.product} for order {self.order_id}"


class ServiceTask(CompanyOwned):
    """A service sold in an order: a person schedules and delivers it."""

    class Status(models.TextChoices):
        TO_SCHEDULE = "to_schedule", "To schedule"
        SCHEDULED = "scheduled", "Scheduled"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="service_tasks")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TO_SCHEDULE)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "product"], name="servicetask_unique_item")]

    def __str__(self) -> str:
        return f"{self.product} for order {self.order_id} ({self.status})"


class Subscription(CompanyOwned):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"

    external_id = models.CharField(max_length=128, help_text="Stripe subscription id")
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True)
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company", "external_id"], name="subscription_unique_external_id"),
        ]

    def __str__(self) -> str:
        return f"Subscription {self.external_id} ({self.status})"


class CustomerConsent(CompanyOwned):
    """One recorded marketing-consent decision of a customer: granted or withdrawn, where, when and the words
    shown. The latest record is the customer's current state; nothing is overwritten."""

    class Status(models.TextChoices):
        GRANTED = "granted", "Granted"
        WITHDRAWN = "withdrawn", "Withdrawn"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    status = models.CharField(max_length=16, choices=Status.choices)
    source = models.CharField(max_length=64, help_text="checkout_form, stripe_checkout, shopify, unsubscribe_link, "
                                                       "admin, import, demo ...")
    wording = models.TextField(blank=True, help_text="The words the person saw when they decided")
    recorded_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["customer", "-recorded_at"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.status} ({self.source})"


class Discount(CompanyOwned):
    """A code that checkout honours: a percentage or an amount off, for a while, a number of times."""

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percent off"
        AMOUNT = "amount", "Amount off"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.CharField(max_length=40, help_text="Upper-case letters, digits and dashes")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERCENT)
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount_off = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, help_text="Required for an amount off")
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no overall limit")
    per_customer_limit = models.PositiveIntegerField(default=1)
    products = models.ManyToManyField(Product, blank=True, related_name="discounts",
                                      help_text="Empty: every product")
    is_active = models.BooleanField(default=True)
    source = models.CharField(max_length=120, blank=True, help_text="api, admin, or the mission that made it")
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    idempotency_key = models.CharField(max_length=100, blank=True)
    stripe_coupon_id = models.CharField(max_length=128, blank=True)
    stripe_promotion_code_id = models.CharField(max_length=128, blank=True)
    shopify_discount_id = models.CharField(max_length=128, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="discount_unique_code"),
            models.UniqueConstraint(fields=["company", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="discount_unique_idempotency_key"),
            models.CheckConstraint(
                condition=(Q(kind="percent", percent_off__gt=0, percent_off__lte=100, amount_off=None)
                           | Q(kind="amount", amount_off__gt=0, percent_off=None)),
                name="discount_value_matches_kind"),
        ]

    @property
    def label(self) -> str:
        if self.kind == self.Kind.PERCENT:
            return f"{self.percent_off.normalize():f}% off"
        return f"{self.amount_off} {self.currency} off"

    def __str__(self) -> str:
        return f"{self.code} ({self.label})"


class DiscountRedemption(CompanyOwned):
    """A discount used on a paid order, as reported by the channel's webhook."""

    discount = models.ForeignKey(Discount, on_delete=models.CASCADE, related_name="redemptions")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="discount_redemptions")
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    email = models.EmailField(blank=True)
    amount = models.DecimalField(**MONEY)
    channel = models.CharField(max_length=16)
    redeemed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-redeemed_at"]
        constraints = [models.UniqueConstraint(fields=["discount", "order"], name="discountredemption_unique_order")]

    def __str__(self) -> str:
        return f"{self.discount.code} on order {self.order_id}"
