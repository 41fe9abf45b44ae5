from django.contrib import admin

from autonomax.admin import CompanyScopedAdmin

from .models import KPIDefinition, MetricSnapshot


@admin.register(KPIDefinition)
class KPIDefinitionAdmin(CompanyScopedAdmin):
    list_display = ["key", "label", "metric", "direction", "target", "warning_threshold", "critical_threshold",
                    "window_days", "is_active", "company"]
    list_filter = ["direction", "is_active", "company"]
    search_fields = ["key", "label", "metric"]
    readonly_fields = ["updated_at"]


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(CompanyScopedAdmin):
    list_display = ["metric", "value", "window_days", "at", "source", "company"]
    list_filter = ["source", "window_days", "company"]
    search_fields = ["metric"]
    date_hierarchy = "at"
    readonly_fields = ["computed_at"]
