"""Catalog, customers, orders, refunds, listings and inbound webhook events."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

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
    payload = models.JSONField(default=dict)
    raw_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhookevent_unique_provider_event")
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_type} {self.event_id}"
