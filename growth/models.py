"""Leads: who showed interest, from where, how warm, and whether they agreed to hear from us."""

from django.db import models

from autonomax.models import CompanyOwned


class Lead(CompanyOwned):
    class Status(models.TextChoices):
        NEW = "new", "New"
        NURTURING = "nurturing", "Nurturing"
        QUALIFIED = "qualified", "Qualified"
        CONVERTED = "converted", "Converted"
        LOST = "lost", "Lost"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=64, blank=True, help_text="landing, fiverr, referral, ...")
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    score = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    consent = models.BooleanField(default=False, help_text="Agreed to receive marketing email")
    consent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["company", "email"], name="lead_unique_email")]
        indexes = [models.Index(fields=["company", "created_at"]), models.Index(fields=["company", "status"])]

    def __str__(self) -> str:
        return self.email


class EmailDelivery(CompanyOwned):
    """One marketing email to one recipient for one send (job); the unique key makes a repeat a no-op."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    send_key = models.CharField(max_length=64, help_text="idempotency key of the send (e.g. the job's key)")
    email = models.EmailField()
    lead = models.ForeignKey(Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    subject = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["send_key", "email"], name="emaildelivery_unique_send")]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.email} ({self.status})"


class Unsubscribe(CompanyOwned):
    """An address that asked for no more marketing email from this company (lead or customer)."""

    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "email"], name="unsubscribe_unique_email")]

    def __str__(self) -> str:
        return self.email
