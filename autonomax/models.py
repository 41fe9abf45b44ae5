"""Tenancy (Company, Membership, API tokens), the change log and analytics events."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Company(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    # Plays marked `autonomy: auto` run without approval only while this is on.
    autopilot = models.BooleanField(default=False)
    # The company's kill switch: no job starts or makes a side effect while set.
    execution_halted = models.BooleanField(default=False)
    halted_reason = models.CharField(max_length=500, blank=True)
    halted_at = models.DateTimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    currency = models.CharField(max_length=3, default="USD")
    max_active_missions = models.PositiveSmallIntegerField(default=3)
    # Per-company override of models.yml `max_cost_usd_per_day` (null: global cap).
    ai_max_cost_usd_per_day = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    support_email = models.EmailField(blank=True)
    # An AI-written support answer (e.g. an FAQ macro) is kept only above this confidence (0-1).
    support_min_confidence = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.60"),
                                                 validators=[MinValueValidator(0), MaxValueValidator(1)])
    # The owner's onboarding in the browser: the silent cycle's report (when, by whom) and when it was reviewed.
    onboarding = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "company"], name="membership_unique_user_company")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.company} ({self.role})"


class CompanyOwned(models.Model):
    """Base for every row that belongs to one company."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class APIToken(models.Model):
    """An API key bound to one user in one company.

    Only a SHA-256 of the key is stored, so a request is checked with one
    indexed lookup (no password hasher per request) and a leaked database does
    not leak usable keys.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user} @ {self.company})"


class ConfigChange(models.Model):
    """Who changed what configuration, when, why and with which expected effect."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    actor_label = models.CharField(max_length=100, blank=True, help_text="e.g. 'load_playbook' for system changes")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="field -> [old, new]")
    reason = models.TextField(blank=True)
    expected_effect = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["company", "object_type", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.object_type}:{self.object_id} by {self.actor or self.actor_label}"


class EventName(models.TextChoices):
    PRODUCT_GENERATED = "product.generated"
    ASSET_CREATED = "asset.created"
    LISTING_PUBLISHED = "listing.published"
    ORDER_PAID = "order.paid"
    REFUND_ISSUED = "refund.issued"
    AGENT_PROPOSAL = "agent.proposal"


class Event(CompanyOwned):
    """An analytics event: what happened, to which company, when, with what payload."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64, choices=EventName.choices)
    occurred_at = models.DateTimeField(db_index=True)
    payload = models.JSONField(default=dict, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["company", "name", "-occurred_at"])]

    def __str__(self) -> str:
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


MONEY = {"max_digits": 12, "decimal_places": 2, "default": Decimal("0.00")}


class Invitation(models.Model):
    """An invitation to join a company with a role, accepted once through an emailed link.

    Only the SHA-256 of the link's token is stored (like API tokens): the link is shown once.
    """

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.company} as {self.role}"


class Connection(CompanyOwned):
    """A company's connection to an outside service (Stripe, Shopify, an email provider, AI providers).

    Plain values (a shop domain) are in `options`; secrets only Fernet-encrypted in `secrets_encrypted`
    and never shown again (`secret_hints` keeps their last characters so an owner can recognise them).
    Environment variables remain the defaults for whatever a company has not set.
    """

    class Status(models.TextChoices):
        OK = "ok", "Working"
        FAILING = "failing", "Failing"

    kind = models.CharField(max_length=32)
    options = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField(blank=True)
    secret_hints = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    status_message = models.CharField(max_length=500, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "kind"], name="connection_unique_kind")]

    def __str__(self) -> str:
        return f"{self.kind} connection of company {self.company_id}"
