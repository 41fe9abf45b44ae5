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
    # How the effect is measured (plays.yml `measure:`): holdout or counterfactual, with its parameters.
    measure = models.JSONField(default=dict, blank=True)
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
    anomaly = models.JSONField(default=dict, blank=True,
                               help_text="the new KPI anomaly that proposed it: kpi, metric, day, value, expected "
                                         "range (empty when only the trigger did)")
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
    # Evidence (issue 11): the play's start is the "before", not the suggestion.
    started_at = models.DateTimeField(null=True, blank=True, help_text="when the play started (planned)")
    kpi_at_start = models.JSONField(default=dict, blank=True, help_text="KPI values when the play started")
    measure_plan = models.JSONField(default=dict, blank=True,
                                    help_text="how the play is measured: method, audience split, measurability")
    # The learning policy: which policy ranked it, the chance it had of being chosen, the candidates then.
    policy = models.CharField(max_length=16, blank=True)
    policy_rank = models.PositiveSmallIntegerField(default=0, help_text="1 = the policy's choice this cycle")
    propensity = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    policy_info = models.JSONField(default=dict, blank=True)

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
    # When its task was (last) sent to the queue: a job still queued long after it lost its task.
    queued_at = models.DateTimeField(null=True, blank=True)
    requeues = models.PositiveSmallIntegerField(default=0, help_text="times the recovery sweep re-sent its task")
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


class HoldoutAssignment(CompanyOwned):
    """One person of a mission's eligible audience: treated (contacted) or held out (never contacted).

    The group comes from a hash of the mission's correlation id and the person, so it is reproducible;
    it is stored when the mission is planned, so retries and later runs see the same split.
    """

    class Group(models.TextChoices):
        TREATED = "treated", "Treated"
        CONTROL = "control", "Held out"

    mission = models.ForeignKey(Mission, on_delete=models.CASCADE, related_name="assignments")
    subject = models.CharField(max_length=254, help_text="the person's email, lower case")
    group = models.CharField(max_length=8, choices=Group.choices)
    bucket = models.FloatField(help_text="the person's hash in [0, 1): below the holdout share is held out")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["mission_id", "subject"]
        constraints = [models.UniqueConstraint(fields=["mission", "subject"], name="holdout_unique_subject")]
        indexes = [models.Index(fields=["mission", "group"])]

    def __str__(self) -> str:
        return f"{self.subject}: {self.group}"


class EvidenceRecord(CompanyOwned):
    class Method(models.TextChoices):
        HOLDOUT = "holdout", "Holdout"
        COUNTERFACTUAL = "counterfactual", "Counterfactual forecast"
        EXPERIMENT = "experiment", "Experiment"
        UNMEASURED = "unmeasured", "Unmeasured"

    class Verdict(models.TextChoices):
        WIN = "win", "Win"
        LOSS = "loss", "Loss"
        NO_EFFECT = "no_effect", "No effect"
        INCONCLUSIVE = "inconclusive", "Inconclusive"

    mission = models.OneToOneField(Mission, on_delete=models.CASCADE, related_name="evidence")
    play = models.ForeignKey(Play, on_delete=models.PROTECT, related_name="evidence")
    correlation_id = models.UUIDField(db_index=True)
    # The KPI's values at the play's start and at the end of its window: context, not the verdict.
    kpi_before = models.JSONField(default=dict)
    kpi_after = models.JSONField(default=dict)
    change = models.JSONField(default=dict)
    success = models.BooleanField(help_text="verdict is win")
    notes = models.TextField(blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.UNMEASURED)
    kpi = models.CharField(max_length=64, blank=True, help_text="the success KPI")
    direction = models.CharField(max_length=4, default="up")
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    treated_n = models.PositiveIntegerField(null=True, blank=True)
    control_n = models.PositiveIntegerField(null=True, blank=True)
    pre_days = models.PositiveIntegerField(null=True, blank=True, help_text="pre-period length (counterfactual)")
    effect = models.FloatField(null=True, blank=True, help_text="absolute, in the outcome's units")
    effect_rel = models.FloatField(null=True, blank=True, help_text="relative: 0.1 is +10%")
    ci_low = models.FloatField(null=True, blank=True, help_text="relative interval, low end")
    ci_high = models.FloatField(null=True, blank=True, help_text="relative interval, high end")
    ci_low_abs = models.FloatField(null=True, blank=True)
    ci_high_abs = models.FloatField(null=True, blank=True)
    ci_level = models.FloatField(default=0.9)
    prob_improvement = models.FloatField(null=True, blank=True)
    mde = models.FloatField(null=True, blank=True, help_text="the play's minimum worthwhile effect (relative)")
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.INCONCLUSIVE,
                               db_index=True)
    needed = models.FloatField(null=True, blank=True, help_text="inconclusive: about this many times the data")
    confounded_with = models.JSONField(default=list, blank=True, help_text="overlapping missions on the KPI")
    chart = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-recorded_at"]
        verbose_name = "evidence record"

    def __str__(self) -> str:
        return f"Evidence for mission {self.mission_id}: {self.verdict}"


class CycleLock(models.Model):
    """One row per company: who runs its commander cycle now, and until when the claim holds.

    Taken and released with single conditional UPDATEs, which are atomic on SQLite and PostgreSQL
    alike; a claim left by a dead process expires after the lock's time to live.
    """

    company = models.OneToOneField("autonomax.Company", on_delete=models.CASCADE, related_name="+")
    owner = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"cycle lock {self.company_id}: {self.owner or 'free'}"
