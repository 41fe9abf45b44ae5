from django.contrib import admin
from django.core.exceptions import ValidationError
from unfold.admin import TabularInline

from autonomax.admin import CompanyScopedAdmin, ReadOnlyAdmin
from autonomax.errors import AppError

from .models import Alert, AlertDelivery, ExternalMetric, KPIDefinition, KPIEvaluation, MetricAnomaly, MetricSnapshot
from .services import kpi_definition_save
from .services.config import kpi_definition_validate


class KPIDefinitionForm(admin.ModelAdmin.form):
    def clean(self):
        data = super().clean()
        fields = ("company", "metric", "direction", "warning_threshold", "critical_threshold")
        if all(data.get(f) is not None for f in fields):
            try:
                kpi_definition_validate(company=data["company"], metric=data["metric"], direction=data["direction"],
                                        warning=data["warning_threshold"], critical=data["critical_threshold"])
            except AppError as exc:
                raise ValidationError(exc.message) from exc
        return data


@admin.register(KPIDefinition)
class KPIDefinitionAdmin(CompanyScopedAdmin):
    form = KPIDefinitionForm
    list_display = ["key", "label", "metric", "direction", "target", "warning_threshold", "critical_threshold",
                    "window_days", "is_active", "company"]
    list_filter = ["direction", "is_active", "company"]
    search_fields = ["key", "label", "metric"]
    readonly_fields = ["updated_at"]

    def save_model(self, request, obj, form, change):
        # The form already validated; the service saves and records the change log entry.
        kpi_definition_save(kpi=obj, actor=request.user, reason="edited in admin")


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["metric", "value", "window_days", "at", "source", "company"]
    list_filter = ["source", "window_days", "company"]
    search_fields = ["metric"]
    date_hierarchy = "at"
    readonly_fields = ["computed_at"]


@admin.register(KPIEvaluation)
class KPIEvaluationAdmin(ReadOnlyAdmin):
    list_display = ["evaluated_at", "kpi", "status", "value", "target", "reason", "company"]
    list_filter = ["status", "company"]
    date_hierarchy = "evaluated_at"


@admin.register(MetricAnomaly)
class MetricAnomalyAdmin(ReadOnlyAdmin):
    list_display = ["at", "metric", "kind", "value", "expected_low", "expected_high", "score", "noticed_at",
                    "company"]
    readonly_fields = ["noticed_at"]  # not editable, so a form would leave it out
    list_filter = ["kind", "company"]


class AlertDeliveryInline(TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    readonly_fields = ["channel", "recipients", "status", "attempts", "last_error", "sent_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kpi", "kind", "message", "company"]
    list_filter = ["kind", "company"]
    inlines = [AlertDeliveryInline]


@admin.register(ExternalMetric)
class ExternalMetricAdmin(ReadOnlyAdmin):
    list_display = ["name", "label", "company"]
