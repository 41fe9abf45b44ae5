"""KPI definitions (from configs/kpis.yml, per company) and metric snapshots."""

from datetime import timedelta

from django.db import models

from autonomax.models import CompanyOwned


class KPIDefinition(CompanyOwned):
    class Direction(models.TextChoices):
        UP = "up", "Higher is better"
        DOWN = "down", "Lower is better"

    key = models.SlugField(max_length=64)
    label = models.CharField(max_length=200)
    unit = models.CharField(max_length=16, blank=True)
    metric = models.CharField(max_length=100)
    direction = models.CharField(max_length=4, choices=Direction.choices)
    target = models.DecimalField(max_digits=18, decimal_places=4)
    warning_threshold = models.DecimalField(max_digits=18, decimal_places=4)
    critical_threshold = models.DecimalField(max_digits=18, decimal_places=4)
    window_days = models.PositiveSmallIntegerField(default=7)
    freshness_minutes = models.PositiveIntegerField(default=60)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The latest evaluation (one join for the current state) and whether a CRITICAL
    # alert is open, so a KPI that stays CRITICAL alerts once and recovery says so once.
    last_evaluation = models.ForeignKey(
        "KPIEvaluation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    alert_open = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["key"]
        verbose_name = "KPI definition"
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="kpidefinition_unique_key")]

    def __str__(self) -> str:
        return self.label


class MetricSnapshot(CompanyOwned):
    """One value of one metric over a window ending at `at`."""

    metric = models.CharField(max_length=100)
    window_days = models.PositiveSmallIntegerField(default=1)
    value = models.DecimalField(max_digits=18, decimal_places=4)
    at = models.DateTimeField(help_text="End of the measured window")
    computed_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=64, default="platform")

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "metric", "window_days", "at", "source"], name="metricsnapshot_unique_point"
            )
        ]
        indexes = [models.Index(fields=["company", "metric", "-at"])]

    def __str__(self) -> str:
        return f"{self.metric}={self.value} @ {self.at:%Y-%m-%d %H:%M}"


class KPIStatus(models.TextChoices):
    OK = "OK", "OK"
    WARNING = "WARNING", "Warning"
    CRITICAL = "CRITICAL", "Critical"
    UNKNOWN = "UNKNOWN", "Unknown"


class ExternalMetric(CompanyOwned):
    """A metric that comes from outside (analytics, Fiverr, CRM), declared in kpis.yml."""

    name = models.CharField(max_length=100)
    label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="externalmetric_unique_name")]

    def __str__(self) -> str:
        return self.name


class KPIEvaluation(CompanyOwned):
    """One evaluation of one KPI, with every number that produced its status."""

    kpi = models.ForeignKey(KPIDefinition, on_delete=models.CASCADE, related_name="evaluations")
    status = models.CharField(max_length=8, choices=KPIStatus.choices)
    value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    target = models.DecimalField(max_digits=18, decimal_places=4)
    warning_threshold = models.DecimalField(max_digits=18, decimal_places=4)
    critical_threshold = models.DecimalField(max_digits=18, decimal_places=4)
    direction = models.CharField(max_length=4, choices=KPIDefinition.Direction.choices)
    metric = models.CharField(max_length=100)
    window_days = models.PositiveSmallIntegerField()
    snapshot_at = models.DateTimeField(null=True, blank=True, help_text="End of the window of the value used")
    reason = models.CharField(max_length=300)
    evaluated_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-evaluated_at", "-id"]
        indexes = [models.Index(fields=["company", "kpi", "-evaluated_at"])]

    def __str__(self) -> str:
        return f"{self.kpi_id} {self.status} @ {self.evaluated_at:%Y-%m-%d %H:%M}"


class MetricAnomaly(CompanyOwned):
    """A point of a metric's daily series the detector flagged as a spike or a drop."""

    class Kind(models.TextChoices):
        SPIKE = "spike", "Spike"
        DROP = "drop", "Drop"

    metric = models.CharField(max_length=100)
    at = models.DateTimeField(help_text="End of the flagged day")
    value = models.DecimalField(max_digits=18, decimal_places=4)
    baseline = models.DecimalField(max_digits=18, decimal_places=4, help_text="Median of the trailing days")
    mad = models.DecimalField(max_digits=18, decimal_places=4)
    score = models.DecimalField(max_digits=10, decimal_places=2, help_text="Robust z-score")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The values the detector would not have flagged that day (inside the trailing days' range, or within
    # the z-score threshold of their median): what "normal" meant.
    expected_low = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    expected_high = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    detected_at = models.DateTimeField(help_text="Latest detection (re-scored every cycle)")
    # When a cycle first took it up (an input to suggestions, an alert for revenue): it is new only once.
    noticed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "metric anomalies"
        constraints = [models.UniqueConstraint(fields=["company", "metric", "at"], name="metricanomaly_unique_point")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.metric} on {self.at - timedelta(seconds=1):%Y-%m-%d}"  # `at` ends the day


class Alert(CompanyOwned):
    """A KPI went CRITICAL (triggered) or came back from it (resolved), or a revenue KPI's metric had a new
    anomaly (one alert per anomaly)."""

    class Kind(models.TextChoices):
        TRIGGERED = "triggered", "Triggered"
        RESOLVED = "resolved", "Resolved"
        ANOMALY = "anomaly", "Anomaly"

    kpi = models.ForeignKey(KPIDefinition, on_delete=models.CASCADE, related_name="alerts")
    evaluation = models.ForeignKey(KPIEvaluation, on_delete=models.CASCADE, related_name="alerts")
    anomaly = models.ForeignKey(MetricAnomaly, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="alerts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    message = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["anomaly"], condition=models.Q(anomaly__isnull=False),
                                               name="alert_unique_anomaly")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"


class AlertDelivery(models.Model):
    """One channel's delivery of an alert, retried until sent or given up."""

    class Channel(models.TextChoices):
        SLACK = "slack", "Slack"
        EMAIL = "email", "Email"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipients = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "alert deliveries"
        constraints = [models.UniqueConstraint(fields=["alert", "channel"], name="alertdelivery_unique_channel")]

    def __str__(self) -> str:
        return f"{self.channel} {self.status}"
