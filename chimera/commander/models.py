"""Plays (the playbook), missions (suggested plays), jobs (their steps) and evidence."""

import uuid

from django.conf import settings
from django.db import models

from autonomax.models import CompanyOwned


class Play(CompanyOwned):
    class Level(models.TextChoices):
        OPERATIONAL = "operational", "Operational (operator may approve)"
        TACTICAL = "tactical", "Tactical (operator may approve)"
        STRATEGIC = "strategic", "Strategic (owner only)"

    class Autonomy(models.TextChoices):
        SUGGEST = "suggest", "Suggest (needs approval)"
        AUTO = "auto", "Auto (runs while autopilot is on)"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        UNDER_REVIEW = "under_review", "Under review"
        DISABLED = "disabled", "Disabled"

    key = models.SlugField(max_length=64)
    label = models.CharField(max_length=200)
    owner = models.CharField(max_length=64, help_text="commander id from agents.yml")
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.OPERATIONAL)
    autonomy = models.CharField(max_length=16, choices=Autonomy.choices, default=Autonomy.SUGGEST)
    trigger = models.JSONField(default=list, help_text="KPI conditions, all must hold")
    impact = models.DecimalField(max_digits=4, decimal_places=3, default=0)
    effort = models.DecimalField(max_digits=4, decimal_places=3, default=0)
    job_plan = models.JSONField(default=list)
    measure_after_hours = models.PositiveIntegerField(default=72)
    kpis = models.JSONField(default=list, help_text="KPI keys this play should move")
    prior_alpha = models.DecimalField(max_digits=8, decimal_places=3, default=1)
    prior_beta = models.DecimalField(max_digits=8, decimal_places=3, default=1)
    # How the evidence decides success, e.g. {"kpi": "aov", "min_change_pct": 5}.
    success_criterion = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="play_unique_key")]

    def __str__(self) -> str:
        return self.label


class Agent(CompanyOwned):
    """A commander or a bot from agents.yml: who owns plays and which job types a bot handles."""

    class Kind(models.TextChoices):
        COMMANDER = "commander", "Commander"
        BOT = "bot", "Bot"

    key = models.SlugField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    label = models.CharField(max_length=200)
    role = models.TextField(blank=True)
    values = models.JSONField(default=list, blank=True)
    handles = models.JSONField(default=list, blank=True, help_text="job types (bots only)")
    queue = models.CharField(max_length=16, default="default")
    timeout_minutes = models.PositiveIntegerField(default=15)
    commander = models.CharField(max_length=64, blank=True, help_text="the commander a bot reports to")

    class Meta:
        ordering = ["kind", "key"]
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="agent_unique_key")]

    def __str__(self) -> str:
        return self.label


class PlaybookVersion(CompanyOwned):
    """One load of the whole playbook (kpis.yml + plays.yml + agents.yml) for a company, all or nothing.

    Numbered per company; a mission is pinned to the version it was suggested under.
    """

    number = models.PositiveIntegerField()
    files = models.JSONField(default=dict, help_text="file name -> SHA-256 of the text loaded")
    counts = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    actor_label = models.CharField(max_length=100, blank=True)
    reason = models.TextField()
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["company", "number"], name="playbook_version_unique")]

    def __str__(self) -> str:
        return f"playbook v{self.number}"


class Mission(CompanyOwned):
    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        PLANNED = "planned", "Planned"
        RUNNING = "running", "Running"
        MEASURING = "measuring", "Measuring"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        ESCALATED = "escalated", "Escalated"
        # Every job had nothing to do (e.g. an empty segment): not measured, not evidence either way.
        NO_OP = "no_op", "Nothing to do"
        CANCELLED = "cancelled", "Cancelled"

    play = models.ForeignKey(Play, on_delete=models.PROTECT, related_name="missions")
    # The play as it was when the mission was created: edits never change running missions.
    play_version = models.PositiveIntegerField(default=1)
    play_snapshot = models.JSONField(default=dict)
    # The whole playbook (KPIs, plays, agents) the mission was suggested under.
    playbook_version = models.ForeignKey(PlaybookVersion, on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="missions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)
    score = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    score_factors = models.JSONField(default=dict)
    explanation = models.TextField()
    trigger_values = models.JSONField(default=dict, help_text="KPI values and thresholds that triggered it")
    correlation_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    # What came of it when it ended without evidence (e.g. no_op: why nothing was done).
    outcome = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    measure_due_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "-created_at"]
        indexes = [models.Index(fields=["company", "status"])]

    def __str__(self) -> str:
        return f"{self.play_snapshot.get('label', self.play_id)} ({self.status})"


class Job(CompanyOwned):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        STUCK = "stuck", "Stuck"
        CANCELLED = "cancelled", "Cancelled"
        # The bot did nothing (nothing to do, or its side effect could not happen): not a success.
        SKIPPED = "skipped", "Skipped"

    mission = models.ForeignKey(Mission, on_delete=models.CASCADE, related_name="jobs")
    type = models.CharField(max_length=64)
    bot = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    queue = models.CharField(max_length=16, default="default")
    timeout_minutes = models.PositiveIntegerField(default=15)

    class Meta:
        ordering = ["mission_id", "order"]
        indexes = [models.Index(fields=["company", "status"])]

    def __str__(self) -> str:
        return f"{self.type} by {self.bot} ({self.status})"


class EvidenceRecord(CompanyOwned):
    mission = models.OneToOneField(Mission, on_delete=models.CASCADE, related_name="evidence")
    play = models.ForeignKey(Play, on_delete=models.PROTECT, related_name="evidence")
    correlation_id = models.UUIDField(db_index=True)
    kpi_before = models.JSONField(default=dict)
    kpi_after = models.JSONField(default=dict)
    change = models.JSONField(default=dict)
    success = models.BooleanField()
    notes = models.TextField(blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-recorded_at"]
        verbose_name = "evidence record"

    def __str__(self) -> str:
        return f"Evidence for mission {self.mission_id}: {'success' if self.success else 'no effect'}"
