"""Support: tickets and their messages (with the times the SLAs and KPIs need), the company's support
settings, and the knowledge base (articles split into searchable passages, and macros)."""

import secrets

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from autonomax.models import Company, CompanyOwned


def ticket_token() -> str:
    """The short public reference of a ticket, quoted in replies (`[#T-xxxxxxxx]`) to thread them."""
    return secrets.token_hex(5)


class SupportSettings(CompanyOwned):
    """Per-company support policy: the auto-send threshold, SLA targets, business hours, refund policy."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="support_settings")
    auto_send_threshold = models.FloatField(
        default=0.85, help_text="Answers with a confidence at or above this are sent; below, the ticket escalates.")
    first_response_seconds = models.PositiveIntegerField(default=120, help_text="First-response SLA (business time)")
    resolution_seconds = models.PositiveIntegerField(default=24 * 3600, help_text="Resolution SLA (business time)")
    warning_share = models.FloatField(default=0.8, help_text="Warn when this share of an SLA has elapsed")
    business_hours = models.JSONField(
        default=dict, blank=True,
        help_text='Weekday (0=Monday) -> ["09:00", "17:00"] in the company time zone; empty: around the clock.')
    holidays = models.JSONField(default=list, blank=True, help_text='Dates with no business hours: ["2026-12-25"]')
    refund_window_days = models.PositiveIntegerField(default=14, help_text="Refunds within this many days of payment")
    refund_max_amount = models.DecimalField(max_digits=12, decimal_places=2, default=50,
                                            help_text="Automatic refunds up to this amount; above, a person decides")
    contact_form_enabled = models.BooleanField(default=True,
                                               help_text="Public form at /f/<company-slug>/contact/")

    class Meta:
        verbose_name_plural = "support settings"

    def __str__(self) -> str:
        return f"Support settings of {self.company}"


class Ticket(CompanyOwned):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        CHAT = "chat", "Chat"
        WEB = "web", "Web form"
        API = "api", "API"
        MARKETPLACE = "marketplace", "Marketplace"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        AUTO_ANSWERED = "auto_answered", "Answered by the bot"
        ESCALATED = "escalated", "Escalated to a person"
        WAITING_ON_CUSTOMER = "waiting_on_customer", "Waiting on customer"
        RESOLVED = "resolved", "Resolved"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    token = models.CharField(max_length=16, unique=True, default=ticket_token, editable=False,
                             help_text="Public reference quoted in replies, e.g. [#T-1a2b3c4d5e]")
    subject = models.CharField(max_length=200)
    customer_email = models.EmailField()
    customer_name = models.CharField(max_length=200, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    intent = models.CharField(max_length=64, blank=True, help_text="e.g. faq, order_status, refund")
    intent_confidence = models.FloatField(null=True, blank=True)
    # A person set or confirmed the intent: the ticket is a label for the company's intent model.
    intent_labelled_at = models.DateTimeField(null=True, blank=True)
    intent_labelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                           blank=True, related_name="+")
    answer_confidence = models.FloatField(null=True, blank=True)
    language = models.CharField(max_length=8, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+")
    auto_resolved = models.BooleanField(default=False, help_text="Resolved by an AI answer with no human step")
    escalated = models.BooleanField(default=False)
    handed_off_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When a person took over (replied, was assigned, or the ticket escalated): the bot never replies "
                  "after this.")
    handoff_reason = models.CharField(max_length=64, blank=True)
    escalation_context = models.JSONField(default=dict, blank=True,
                                          help_text="intent, passages, draft answer and order history for the person")
    draft_answer = models.TextField(blank=True, help_text="The bot's draft, editable before a person sends it")
    flags = models.JSONField(default=list, blank=True, help_text="e.g. body_truncated, attachment_over_limit")
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # SLA timers, kept apart; the resolution timer pauses while the ticket waits on the customer.
    first_response_due = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    sla_warned_at = models.DateTimeField(null=True, blank=True)
    first_response_breached_at = models.DateTimeField(null=True, blank=True)
    resolution_breached_at = models.DateTimeField(null=True, blank=True)
    csat_score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Customer satisfaction 1-5")
    csat_at = models.DateTimeField(null=True, blank=True)
    csat_sent_at = models.DateTimeField(null=True, blank=True, help_text="When the survey was emailed")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["company", "status"]), models.Index(fields=["company", "created_at"]),
                   models.Index(fields=["company", "customer_email"])]

    def __str__(self) -> str:
        return self.subject

    @property
    def reference(self) -> str:
        return f"[#T-{self.token}]"

    @property
    def sla_breached(self) -> bool:
        return bool(self.first_response_breached_at or self.resolution_breached_at)


class TicketMessage(models.Model):
    class Author(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        BOT = "bot", "Bot"
        PERSON = "person", "Person"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    author = models.CharField(max_length=16, choices=Author.choices)
    author_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField()
    message_id = models.CharField(max_length=255, blank=True, db_index=True,
                                  help_text="Email Message-ID (inbound or the one we sent), for threading")
    in_reply_to = models.CharField(max_length=255, blank=True)
    attachments = models.JSONField(default=list, blank=True, help_text="[{filename, content_type, size, flagged}]")
    flags = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(null=True, blank=True, help_text="The answer confidence of a bot message")
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="When a reply was emailed to the customer")

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["ticket", "message_id"], condition=~models.Q(message_id=""),
                                               name="ticketmessage_unique_message_id")]

    def __str__(self) -> str:
        return f"{self.author}: {self.body[:40]}"


class TicketEvent(models.Model):
    """What happened to a ticket and who did it: status moves, hand-offs, the bot's confidence, SLA warnings
    and breaches. The confidence rows are how the auto-send threshold is tuned from real traffic."""

    class Kind(models.TextChoices):
        STATUS = "status", "Status changed"
        HANDOFF = "handoff", "Handed to a person"
        ASSIGNED = "assigned", "Assigned"
        CONFIDENCE = "confidence", "Answer confidence"
        SLA_WARNING = "sla_warning", "SLA warning"
        SLA_BREACH = "sla_breach", "SLA breached"
        CSAT = "csat", "Satisfaction rating"
        INTENT = "intent", "Intent labelled by a person"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.CharField(max_length=16, help_text="customer, bot, person or system")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    from_status = models.CharField(max_length=24, blank=True)
    to_status = models.CharField(max_length=24, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["ticket", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}->{self.to_status}"


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


class KnowledgeArticle(CompanyOwned):
    """A help article; saved through `article_save`, which splits it into searchable passages."""

    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Paragraphs separated by blank lines become passages")
    language = models.CharField(max_length=8, default="en")
    is_published = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class KnowledgePassage(CompanyOwned):
    """One paragraph of an article, the unit of retrieval. `search_vector` is the PostgreSQL tsvector
    (on SQLite an FTS5 table `support_passage_fts` holds the same text)."""

    article = models.ForeignKey(KnowledgeArticle, on_delete=models.CASCADE, related_name="passages")
    position = models.PositiveIntegerField()
    text = models.TextField()
    language = models.CharField(max_length=8, default="en")
    search_vector = SearchVectorField(null=True, editable=False)
    embedding = models.BinaryField(null=True, editable=False,
                                   help_text="sentence vector (float32) when embedding retrieval is installed")

    class Meta:
        ordering = ["article", "position"]  # the GIN index on search_vector is made on PostgreSQL only

    def __str__(self) -> str:
        return f"{self.article.title} §{self.position}"


class IntentModel(CompanyOwned):
    """One version of the company's intent classifier (scikit-learn), trained on the tickets people labelled;
    the newest version is used. Written and read only by support.intents."""

    version = models.PositiveIntegerField()
    trained_on = models.PositiveIntegerField(help_text="labelled tickets it was trained on")
    labels = models.JSONField(default=list, help_text="the intents it knows")
    metrics = models.JSONField(default=dict, blank=True,
                               help_text="cross-validated accuracy (per intent), Brier score, calibration error")
    blob = models.BinaryField(help_text="the fitted pipeline (pickle)")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["company", "-version"]
        constraints = [models.UniqueConstraint(fields=["company", "version"], name="intentmodel_unique_version")]

    def __str__(self) -> str:
        return f"Intent model v{self.version} of {self.company}"
