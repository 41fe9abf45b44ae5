"""Leads: who showed interest, from where, how warm, and whether they agreed to hear from us."""

from django.conf import settings
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
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    fields = models.JSONField(default=dict, blank=True, help_text="extra form fields (company size, role, ...)")
    score = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    score_breakdown = models.JSONField(default=list, blank=True, help_text="the score's readable parts")
    scored_at = models.DateTimeField(null=True, blank=True)
    score_state = models.JSONField(default=dict, blank=True, editable=False,
                                   help_text="what scoring folded from the events so far (incremental rescoring)")
    above_handoff = models.BooleanField(default=False, help_text="score is above the hand-off threshold")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    consent = models.BooleanField(default=False, help_text="Agreed to receive marketing email")
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_text = models.TextField(blank=True, help_text="the wording the person agreed to")
    confirmation_sent_at = models.DateTimeField(null=True, blank=True, help_text="double opt-in email sent")
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="double opt-in link followed")
    touches = models.PositiveIntegerField(default=1, help_text="times the lead was captured (form, API)")
    last_activity_at = models.DateTimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA zone for send windows (blank: company's)")
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
    provider_message_id = models.CharField(max_length=200, blank=True, db_index=True,
                                           help_text="the email provider's id (set when sent through django-anymail)")
    bounced_at = models.DateTimeField(null=True, blank=True, help_text="the provider reported a hard bounce")
    complained_at = models.DateTimeField(null=True, blank=True, help_text="the recipient reported it as spam")

    class Meta:
        ordering = ["-created_at"]
        # Per company: two companies' sends may share a key (e.g. a job key) without blocking each other.
        constraints = [models.UniqueConstraint(fields=["company", "send_key", "email"],
                                               name="emaildelivery_unique_company_send")]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.email} ({self.status})"


class Unsubscribe(CompanyOwned):
    """An address that asked for no more marketing email from this company (lead or customer)."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Spam complaint"

    email = models.EmailField()
    reason = models.CharField(max_length=16, choices=Reason.choices, default=Reason.UNSUBSCRIBED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "email"], name="unsubscribe_unique_email")]

    def __str__(self) -> str:
        return self.email


class GrowthSettings(CompanyOwned):
    """Per-company lead capture and scoring settings (defaults apply until a row exists)."""

    require_consent = models.BooleanField(default=False, help_text="reject captures without marketing consent")
    double_opt_in = models.BooleanField(default=True, help_text="consent counts once the emailed link is followed")
    consent_wording = models.TextField(
        default="Yes, send me occasional emails about new products and offers. I can unsubscribe at any time.",
        help_text="shown next to the consent box on the public form and stored with each lead")
    handoff_threshold = models.PositiveSmallIntegerField(default=80, help_text="score above which a person takes over")
    inactivity_days = models.PositiveSmallIntegerField(default=30)
    inactivity_points = models.SmallIntegerField(default=-10, help_text="added when no activity for inactivity_days")
    blocked_domains = models.TextField(blank=True, help_text="extra email domains to refuse, one per line")
    form_rate_limit = models.PositiveSmallIntegerField(default=10, help_text="public form posts per IP per hour")
    marketing_cap_per_week = models.PositiveSmallIntegerField(
        default=3, help_text="most marketing emails one lead gets in 7 days (transactional ones are not counted)")
    quiet_hours_start = models.PositiveSmallIntegerField(default=21, help_text="local hour (lead's zone) sends stop")
    quiet_hours_end = models.PositiveSmallIntegerField(default=8, help_text="local hour sends resume")
    weekdays_only = models.BooleanField(default=False, help_text="send marketing email Monday to Friday only")
    campaign_bounce_rate_max = models.FloatField(
        default=0.05, help_text="a campaign pauses when its hard bounces pass this share of its sent emails")
    campaign_complaint_rate_max = models.FloatField(
        default=0.003, help_text="a campaign pauses when its spam complaints pass this share of its sent emails")
    campaign_pause_min_sent = models.PositiveIntegerField(
        default=20, help_text="rates are judged once a campaign has sent this many emails")
    marketing_rest_days = models.PositiveSmallIntegerField(
        default=0, help_text="a play emails nobody who got a marketing email in this many days (0: no rest)")
    marketing_rest_learn = models.BooleanField(
        default=True, help_text="raise the rest when people emailed again sooner unsubscribe significantly more")
    marketing_rest_reason = models.TextField(blank=True, help_text="why the rest is what it is")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "growth settings"
        constraints = [models.UniqueConstraint(fields=["company"], name="growthsettings_unique_company")]

    def __str__(self) -> str:
        return f"growth settings of {self.company}"


class LeadTouch(CompanyOwned):
    """One capture of a lead (form post or API call): where from, and the consent given then."""

    class Channel(models.TextChoices):
        API = "api", "API"
        FORM = "form", "Public form"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="touch_rows")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    source = models.CharField(max_length=64, blank=True)
    utm = models.JSONField(default=dict, blank=True)
    consent_marketing = models.BooleanField(default=False)
    consent_text = models.TextField(blank=True)
    page_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["lead", "-created_at"])]


class LeadEvent(CompanyOwned):
    """Something a lead did; the idempotency key makes a repeated delivery a no-op."""

    class Type(models.TextChoices):
        PAGE_VIEW = "page_view", "Page view"
        EMAIL_OPEN = "email_open", "Email open"
        EMAIL_CLICK = "email_click", "Email click"
        FORM_SUBMIT = "form_submit", "Form submit"
        PURCHASE = "purchase", "Purchase"
        EMAIL_REPLY = "email_reply", "Email reply"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=16, choices=Type.choices)
    idempotency_key = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True, help_text="url/path, campaign, order id, ...")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [models.UniqueConstraint(fields=["company", "idempotency_key"], name="leadevent_unique_key")]
        # (lead, id): incremental scoring reads a lead's events after the last one folded from the index alone.
        indexes = [models.Index(fields=["lead", "-occurred_at"]), models.Index(fields=["lead", "id"])]

    def __str__(self) -> str:
        return f"{self.type} by lead {self.lead_id} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class ScoringRule(CompanyOwned):
    """Points for an event type (optionally matching a property) or for a field value, with cap and decay."""

    class Kind(models.TextChoices):
        EVENT = "event", "Event"
        FIELD = "field", "Field value"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    label = models.CharField(max_length=100, help_text="how the breakdown names it, e.g. 'pricing page visit'")
    event_type = models.CharField(max_length=16, choices=LeadEvent.Type.choices, blank=True)
    property_name = models.CharField(max_length=64, blank=True, help_text="event property to match (e.g. path)")
    property_contains = models.CharField(max_length=200, blank=True, help_text="substring the property must contain")
    field_name = models.CharField(max_length=64, blank=True, help_text="lead field ('source' or a form field)")
    field_value = models.CharField(max_length=200, blank=True, help_text="value earning the points (any case)")
    points = models.SmallIntegerField()
    cap = models.PositiveSmallIntegerField(null=True, blank=True, help_text="most points this rule can give")
    half_life_days = models.PositiveSmallIntegerField(null=True, blank=True,
                                                      help_text="event points halve every N days (empty: no decay)")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "id"]

    def __str__(self) -> str:
        return f"{self.points:+d} {self.label}"


class LeadScoreChange(CompanyOwned):
    """The score moved: from, to, why (the lead's timeline shows these)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="score_changes")
    old_score = models.PositiveSmallIntegerField()
    new_score = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["lead", "-created_at"])]


class HandoffTask(CompanyOwned):
    """A person takes over a hot lead (consulting hand-off): created once per threshold crossing."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        DISMISSED = "dismissed", "Dismissed"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="handoff_tasks")
    stream = models.CharField(max_length=32, default="consulting", help_text="income stream the hand-off serves")
    threshold = models.PositiveSmallIntegerField()
    score = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    context = models.JSONField(default=dict, blank=True, help_text="breakdown, fields, recent events, source")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+")
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["company", "status"])]

    def __str__(self) -> str:
        return self.title


class Sequence(CompanyOwned):
    """A nurture sequence: steps sent in order after delays, until a stop condition."""

    class Kind(models.TextChoices):
        MARKETING = "marketing", "Marketing"
        TRANSACTIONAL = "transactional", "Transactional"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual (API or admin)"
        CAPTURE = "capture", "On capture (new lead)"
        SEGMENT = "segment", "Segment (enrolled by the beat task)"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MARKETING)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    segment = models.CharField(max_length=32, blank=True, help_text="for trigger=segment: warm_leads, new_leads")
    stop_on_purchase = models.BooleanField(default=True)
    stop_on_reply = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SequenceStep(CompanyOwned):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    delay_hours = models.PositiveIntegerField(default=24, help_text="after enrolment (first step) or the step before")
    channel = models.CharField(max_length=16, default="email", editable=False)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="template: {name}, {email}, {company}; empty: use the prompt")
    ai_prompt = models.TextField(blank=True, help_text="the AI engine writes the body once, when first due")

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [models.UniqueConstraint(fields=["sequence", "position"], name="sequencestep_unique_position")]

    def __str__(self) -> str:
        return f"{self.sequence} #{self.position}: {self.subject}"


class Enrolment(CompanyOwned):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped"

    # The declared moves (services apply them): from -> allowed targets.
    TRANSITIONS = {"active": {"completed", "stopped"}, "completed": set(), "stopped": set()}

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrolments")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrolments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    stop_reason = models.CharField(max_length=32, blank=True, help_text="purchase, unsubscribed, reply, no_consent")
    next_position = models.PositiveSmallIntegerField(default=1)
    next_due_at = models.DateTimeField(null=True, blank=True)
    enrolled_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-enrolled_at"]
        constraints = [models.UniqueConstraint(fields=["sequence", "lead"], name="enrolment_unique_lead")]
        indexes = [models.Index(fields=["status", "next_due_at"])]

    def __str__(self) -> str:
        return f"{self.lead} in {self.sequence} ({self.status})"


class StepSend(CompanyOwned):
    """One step to one lead: the row is written before the provider call, so it is sent at most once."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="sends")
    step = models.ForeignKey(SequenceStep, on_delete=models.CASCADE, related_name="sends")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="step_sends")
    marketing = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENDING)
    reason = models.CharField(max_length=200, blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["enrolment", "step"], name="stepsend_unique_step")]
        indexes = [models.Index(fields=["lead", "marketing", "sent_at"])]

    def __str__(self) -> str:
        return f"{self.step} -> {self.lead} ({self.status})"


class Experiment(CompanyOwned):
    """An A/B test: variants assigned server-side and kept in the database, read out honestly."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"
        ROLLED_OUT = "rolled_out", "Winner rolled out"

    TRANSITIONS = {"draft": {"running"}, "running": {"stopped", "rolled_out"}, "stopped": {"rolled_out", "running"},
                   "rolled_out": set()}

    class Unit(models.TextChoices):
        LEAD = "lead", "Lead"
        CUSTOMER = "customer", "Customer"

    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    hypothesis = models.TextField(blank=True)
    unit = models.CharField(max_length=16, choices=Unit.choices, default=Unit.LEAD)
    flag_name = models.CharField(max_length=100, help_text="django-waffle flag controlling the rollout")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    min_sample_per_variant = models.PositiveIntegerField(default=200)
    min_days = models.PositiveSmallIntegerField(default=7)
    alpha = models.FloatField(default=0.05, help_text="two-sided significance level")
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    winner = models.CharField(max_length=32, blank=True)
    rolled_out_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="+")
    rolled_out_at = models.DateTimeField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, help_text="the mission/job that started it")
    final_readout = models.JSONField(default=dict, blank=True, editable=False,
                                     help_text="the read-out when it was stopped or rolled out (its evidence)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="experiment_unique_key")]

    def __str__(self) -> str:
        return self.name


class ExperimentVariant(CompanyOwned):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=32)
    weight = models.PositiveSmallIntegerField(default=50, help_text="relative share of units")
    is_control = models.BooleanField(default=False)
    content = models.JSONField(default=dict, blank=True, help_text="what this variant shows (subject, copy, price)")

    class Meta:
        ordering = ["experiment", "-is_control", "key"]
        constraints = [models.UniqueConstraint(fields=["experiment", "key"], name="variant_unique_key")]

    def __str__(self) -> str:
        return f"{self.experiment.key}:{self.key}"


class Assignment(CompanyOwned):
    """Which variant a lead or customer sees: one row, so email and storefront agree."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    unit_id = models.PositiveBigIntegerField()
    variant = models.CharField(max_length=32)
    assigned_at = models.DateTimeField()
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "unit_id"], name="assignment_unique_unit")]
        indexes = [models.Index(fields=["experiment", "variant"])]


class Campaign(CompanyOwned):
    """A campaign: brief, audience, channels, schedule; its content moves through the pipeline stages."""

    class Stage(models.TextChoices):
        IDEATION = "ideation", "Ideation"
        CREATION = "creation", "Creation"
        OPTIMISATION = "optimisation", "Optimisation"
        REVIEW = "review", "Review"
        APPROVED = "approved", "Approved"
        DISTRIBUTED = "distributed", "Distributed"

    # The declared moves: each stage's service moves it on; review needs a person unless auto.
    TRANSITIONS = {"ideation": {"creation"}, "creation": {"optimisation"}, "optimisation": {"review", "approved"},
                   "review": {"approved", "creation"}, "approved": {"distributed"}, "distributed": set()}
    CHANNELS = ("email", "x", "linkedin", "instagram")

    name = models.CharField(max_length=200)
    brief = models.TextField()
    keywords = models.JSONField(default=list, blank=True, help_text="keyword and trend inputs for ideation")
    audience = models.CharField(max_length=32, default="warm_leads", help_text="segment: warm_leads, new_leads, ...")
    channels = models.JSONField(default=list, help_text="email, x, linkedin, instagram")
    utm_campaign = models.SlugField(max_length=100)
    landing_url = models.URLField(blank=True)
    schedule_at = models.DateTimeField(null=True, blank=True)
    auto_approve = models.BooleanField(default=False, help_text="skip the person's review")
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.IDEATION)
    ideas = models.JSONField(default=list, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    distributed_at = models.DateTimeField(null=True, blank=True)
    experiment = models.ForeignKey("Experiment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    paused_at = models.DateTimeField(null=True, blank=True, help_text="sending stopped: bounce or complaint rate")
    pause_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["company", "utm_campaign"], name="campaign_unique_utm")]

    def __str__(self) -> str:
        return self.name


class CampaignContent(CompanyOwned):
    """One piece of content for one channel and variant, with its SEO checks and what became of it."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        READY = "ready", "Ready to post (no API connected: post it by hand)"
        SENT = "sent", "Sent"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contents")
    channel = models.CharField(max_length=16)
    variant = models.CharField(max_length=8, default="a")
    title = models.CharField(max_length=200)
    body = models.TextField()
    seo = models.JSONField(default=dict, blank=True, help_text="checks: length, keyword placement, readability")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "channel", "variant"]
        constraints = [models.UniqueConstraint(fields=["campaign", "channel", "variant"], name="content_unique")]


class EmailEvent(CompanyOwned):
    """A bounce, complaint or provider-side unsubscribe reported by the email provider's tracking webhook.

    Unique per (provider, event key), so a redelivered webhook changes nothing.
    """

    class Type(models.TextChoices):
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Spam complaint"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed at the provider"

    esp = models.CharField(max_length=32, help_text="the provider, as django-anymail names it")
    event_key = models.CharField(max_length=128, help_text="the provider's event id (or a digest of the event)")
    type = models.CharField(max_length=16, choices=Type.choices)
    recipient = models.EmailField()
    delivery = models.ForeignKey(EmailDelivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    step_send = models.ForeignKey(StepSend, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    detail = models.CharField(max_length=300, blank=True, help_text="the provider's description")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [models.UniqueConstraint(fields=["esp", "event_key"], name="emailevent_unique_key")]

    def __str__(self) -> str:
        return f"{self.type} {self.recipient} ({self.esp})"


class LeadScoringModel(CompanyOwned):
    """One training of the learned lead-scoring model (logistic regression), kept with its held-out metrics.

    Used for scoring only while `is_active`: it beat the rules on held-out leads (higher AUC and lower log
    loss) and the company's rules have not changed since (its features are the rules' building blocks).
    """

    version = models.PositiveIntegerField()
    trained_at = models.DateTimeField()
    rules_fingerprint = models.CharField(max_length=16, help_text="the scoring rules its features came from")
    features = models.JSONField(default=list, help_text="[{name, label, mean, scale, coef}]")
    intercept = models.FloatField(default=0.0)
    metrics = models.JSONField(default=dict, help_text="held-out AUC, log loss, accuracy, Brier, calibration "
                                                       "of the model and of the rules")
    n_train = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=False)
    decision = models.CharField(max_length=300, blank=True, help_text="why it is used or not")

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["company", "version"], name="scoringmodel_unique_version")]

    def __str__(self) -> str:
        return f"lead model v{self.version} ({'active' if self.is_active else 'not used'})"
