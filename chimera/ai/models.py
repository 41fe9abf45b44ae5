"""The AI call log: one row per call, never raw PII."""

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
    latency_ms = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    # True when an earlier provider in the route failed or was skipped.
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
