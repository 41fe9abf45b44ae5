"""Customer intelligence: RFM scores and segments, churn and lifetime-value fits, erasure records."""

from django.conf import settings
from django.db import models

from autonomax.models import CompanyOwned

MONEY = {"max_digits": 12, "decimal_places": 2}


class Segment(models.TextChoices):
    CHAMPIONS = "champions", "Champions"
    LOYAL = "loyal", "Loyal"
    NEW = "new", "New"
    AT_RISK = "at_risk", "At risk"
    HIBERNATING = "hibernating", "Hibernating"
    LOST = "lost", "Lost"


class CustomerSettings(CompanyOwned):
    """Per-company rules: how RFM scores map to segments, and how long raw personal data is kept."""

    segment_rules = models.JSONField(
        default=list, blank=True,
        help_text='Ordered rules, first match wins: [{"segment": "champions", "r": [4, 5], "f": [4, 5]}, ...]. '
                  "Empty: the documented defaults.")
    score_bounds = models.JSONField(
        default=dict, blank=True,
        help_text='{"recency_days": [30, 60, 120, 240], "orders": [2, 3, 4, 6]}: recency scores 5 within the first '
                  "bound down to 1 past the last; frequency scores 1 plus the bounds reached. Empty: the defaults.")
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Raw webhook bodies older than this are purged; empty: the platform default.")

    class Meta:
        verbose_name_plural = "customer settings"
        constraints = [models.UniqueConstraint(fields=["company"], name="customersettings_unique_company")]

    def __str__(self) -> str:
        return f"Customer settings of {self.company}"

    def clean(self):
        from django.core.exceptions import ValidationError

        from .services.segments import segment_rules_validate

        if self.segment_rules:
            problems = segment_rules_validate(self.segment_rules)
            if problems:
                raise ValidationError({"segment_rules": problems})


class LifetimeModel(CompanyOwned):
    """One nightly fit of BG/NBD (purchases, alive) + Gamma-Gamma (order value) for a company, versioned."""

    class Status(models.TextChoices):
        FITTED = "fitted", "Fitted"
        NOT_ENOUGH_HISTORY = "not_enough_history", "Not enough history"
        FAILED = "failed", "Failed to fit"

    version = models.PositiveIntegerField()
    status = models.CharField(max_length=24, choices=Status.choices)
    note = models.CharField(max_length=300, blank=True)
    fitted_at = models.DateTimeField()
    customers = models.PositiveIntegerField(default=0)
    repeat_customers = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True, help_text="r, alpha, a, b (BG/NBD); p, q, v (Gamma-Gamma)")
    holdout = models.JSONField(
        default=dict, blank=True,
        help_text="Fit on the history before the last 90 days, predict those 90 days: mae, actual and predicted "
                  "purchases, calibration by decile.")

    class Meta:
        ordering = ["-fitted_at"]
        constraints = [models.UniqueConstraint(fields=["company", "version"], name="lifetimemodel_unique_version")]

    def __str__(self) -> str:
        return f"v{self.version} ({self.status})"


class CustomerProfile(CompanyOwned):
    """What the platform knows about one customer's value: RFM, segment, churn and lifetime value."""

    customer = models.OneToOneField("commerce.Customer", on_delete=models.CASCADE, related_name="profile")
    orders = models.PositiveIntegerField(default=0)
    first_order_at = models.DateTimeField(null=True, blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    recency_days = models.PositiveIntegerField(null=True, blank=True)
    monetary = models.DecimalField(default=0, **MONEY)
    r_score = models.PositiveSmallIntegerField(default=0)
    f_score = models.PositiveSmallIntegerField(default=0)
    m_score = models.PositiveSmallIntegerField(default=0)
    segment = models.CharField(max_length=16, choices=Segment.choices, blank=True)
    segment_since = models.DateTimeField(null=True, blank=True)
    p_alive = models.FloatField(null=True, blank=True)
    expected_purchases_90d = models.FloatField(null=True, blank=True)
    expected_order_value = models.DecimalField(null=True, blank=True, **MONEY)
    predicted_value_12m = models.DecimalField(null=True, blank=True, **MONEY)
    history_note = models.CharField(max_length=200, blank=True)
    model = models.ForeignKey(LifetimeModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["company", "segment"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.segment or 'no orders'}"

    @property
    def rfm_score(self) -> str:
        return f"{self.r_score}{self.f_score}{self.m_score}"


class SegmentMove(CompanyOwned):
    """A customer moved from one segment to another (the history the customer page and metrics show)."""

    customer = models.ForeignKey("commerce.Customer", on_delete=models.CASCADE, related_name="segment_moves")
    from_segment = models.CharField(max_length=16, choices=Segment.choices, blank=True)
    to_segment = models.CharField(max_length=16, choices=Segment.choices)
    moved_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-moved_at"]
        indexes = [models.Index(fields=["company", "moved_at"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_segment or '-'} → {self.to_segment}"


class ErasureRecord(CompanyOwned):
    """Who erased which customer record, when and why — without any of the erased personal data."""

    customer_ref = models.PositiveIntegerField(help_text="id of the anonymised customer row")
    erased_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    reason = models.CharField(max_length=300)
    changed = models.JSONField(default=dict, help_text="rows changed per model")
    erased_at = models.DateTimeField()

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"customer {self.customer_ref} erased {self.erased_at:%Y-%m-%d}"
