"""KPI definitions (from configs/kpis.yml, per company) and metric snapshots."""

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
