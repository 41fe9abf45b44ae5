"""Finished simulator runs kept for the dashboard (`simulate --save`): the JSON report and its chart."""

from django.db import models


class SimulationReport(models.Model):
    """One `simulate` report. Not a company's data: every run was a sandbox that no longer exists."""

    scenario = models.CharField(max_length=100)
    days = models.PositiveIntegerField()
    seeds = models.JSONField(default=list)
    report = models.JSONField()
    chart = models.BinaryField(blank=True, default=b"", help_text="PNG: cumulative net revenue and regret")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.scenario}: {self.days} days x {len(self.seeds)} seed(s)"
