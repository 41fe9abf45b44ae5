"""The AI call log (one row per call, never raw PII), the daily spend ledger and routing preferences."""

from django.db import models

from autonomax.models import CompanyOwned


class AICall(CompanyOwned):
    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    task_type = models.CharField(max_length=64)
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=128, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    # What the provider's reported usage cost beyond the call's reserved worst case (it reported more
    # tokens than it may use): not charged against the daily cap, recorded here and on the day.
    overrun_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    # Stable reason for failures and budget fallbacks, e.g. "budget_exceeded", "all_providers_failed".
    error_code = models.CharField(max_length=64, blank=True)
    # True when an earlier provider in the route failed, was in cooldown or was over budget
    # (providers whose key is not set are not part of the route and do not count).
    fallback = models.BooleanField(default=False)
    prompt_hash = models.CharField(max_length=64, blank=True)
    redaction_count = models.PositiveIntegerField(default=0)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "AI call"
        indexes = [models.Index(fields=["company", "created_at"])]

    def __str__(self) -> str:
        return f"{self.task_type} via {self.provider} ({self.status})"


class AISpendDay(CompanyOwned):
    """One company's AI spend for one day: settled spend plus cost reserved by calls in flight.

    A call reserves its worst-case cost with a conditional UPDATE (only if
    spent + reserved + estimate <= cap), and settles the provider's reported
    cost afterwards, so concurrent calls cannot push the day past the cap.
    """

    day = models.DateField()
    spent_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    reserved_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    overrun_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0,
                                      help_text="reported cost beyond the calls' reservations (misreporting providers)")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        verbose_name = "AI spend day"
        constraints = [models.UniqueConstraint(fields=["company", "day"], name="aispendday_unique_company_day")]

    def __str__(self) -> str:
        return f"{self.company_id} {self.day}: {self.spent_usd} USD"


class AIRoutingPreference(CompanyOwned):
    """Per-company routing override: `cost_optimized` sends every task down the cost_optimized route."""

    class Preference(models.TextChoices):
        DEFAULT = "default", "Default routes"
        COST_OPTIMIZED = "cost_optimized", "Cost-optimised route for every task"

    preference = models.CharField(max_length=32, choices=Preference.choices, default=Preference.DEFAULT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company"], name="airoutingpreference_unique_company")]

    def __str__(self) -> str:
        return f"{self.company_id}: {self.preference}"
