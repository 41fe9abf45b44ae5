"""Support tickets and their messages, with the times the SLAs and KPIs need."""

from django.conf import settings
from django.db import models

from autonomax.models import CompanyOwned


class Ticket(CompanyOwned):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        CHAT = "chat", "Chat"
        WEB = "web", "Web form"
        MARKETPLACE = "marketplace", "Marketplace"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Waiting on customer"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    subject = models.CharField(max_length=200)
    customer_email = models.EmailField()
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    intent = models.CharField(max_length=64, blank=True, help_text="e.g. download_issue, refund_request")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    auto_resolved = models.BooleanField(default=False, help_text="Resolved by an AI answer with no human step")
    escalated = models.BooleanField(default=False)
    created_at = models.DateTimeField(db_index=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["company", "status"]), models.Index(fields=["company", "created_at"])]

    def __str__(self) -> str:
        return self.subject


class TicketMessage(models.Model):
    class Author(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        AGENT = "agent", "Agent"
        AI = "ai", "AI"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    author = models.CharField(max_length=16, choices=Author.choices)
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.author}: {self.body[:40]}"


class Macro(CompanyOwned):
    """A canned answer for a frequent ticket intent (an FAQ macro agents and auto-replies can use)."""

    intent = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField()
    ticket_count = models.PositiveIntegerField(default=0, help_text="tickets with this intent when written")
    source_key = models.CharField(max_length=64, blank=True, help_text="idempotency key of the job that wrote it")
    ai_provider = models.CharField(max_length=64, blank=True)
    confidence = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True,
                                     help_text="the model's confidence in the answer when it was written")
    # A person who edited the macro owns it: the support bot never overwrites it.
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    edited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["intent"]
        constraints = [models.UniqueConstraint(fields=["company", "intent"], name="macro_unique_intent")]

    def __str__(self) -> str:
        return self.title
