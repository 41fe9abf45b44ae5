import json

from django.contrib import admin, messages
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from autonomax.admin import CompanyScopedAdmin

from .models import CustomerProfile, CustomerSettings, ErasureRecord, LifetimeModel, SegmentMove
from .services.privacy import customer_export


@admin.register(CustomerProfile)
class CustomerProfileAdmin(CompanyScopedAdmin):
    list_display = ["customer", "segment", "rfm_score", "orders", "monetary", "p_alive", "predicted_value_12m",
                    "story"]
    list_filter = ["segment"]
    search_fields = ["customer__email", "customer__name"]
    readonly_fields = [f.name for f in CustomerProfile._meta.fields]
    actions = ["export_personal_data"]

    @admin.action(description="Export the customer's personal data (JSON)")
    def export_personal_data(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Export one customer at a time.", messages.WARNING)
            return None
        profile = queryset.select_related("customer__company").get()
        response = HttpResponse(json.dumps(customer_export(customer=profile.customer), indent=2, default=str),
                                content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="customer-{profile.customer_id}.json"'
        return response

    @admin.display(description="Story")
    def story(self, obj):
        return format_html('<a href="{}">open</a>', reverse("customer-story", args=[obj.customer_id]))


@admin.register(LifetimeModel)
class LifetimeModelAdmin(CompanyScopedAdmin):
    list_display = ["version", "status", "fitted_at", "customers", "repeat_customers", "holdout_mae"]
    readonly_fields = [*(f.name for f in LifetimeModel._meta.fields), "calibration"]

    @admin.display(description="Holdout MAE (purchases per customer over the held-out days)")
    def holdout_mae(self, obj):
        return obj.holdout.get("mae", obj.holdout.get("note", "—"))

    @admin.display(description="Calibration by decile of prediction (held-out days)")
    def calibration(self, obj):
        rows = obj.holdout.get("calibration") or []
        if not rows:
            return obj.holdout.get("note", "—")
        return format_html(
            '<table class="calibration"><tr><th>Decile</th><th>Customers</th><th>Predicted</th><th>Bought</th></tr>'
            "{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                             ((d["decile"], d["customers"], d["predicted"], d["actual"]) for d in rows)))


@admin.register(SegmentMove)
class SegmentMoveAdmin(CompanyScopedAdmin):
    list_display = ["customer", "from_segment", "to_segment", "moved_at"]
    list_filter = ["to_segment"]
    readonly_fields = [f.name for f in SegmentMove._meta.fields]


@admin.register(ErasureRecord)
class ErasureRecordAdmin(CompanyScopedAdmin):
    list_display = ["customer_ref", "erased_by", "reason", "erased_at"]
    readonly_fields = [f.name for f in ErasureRecord._meta.fields]


@admin.register(CustomerSettings)
class CustomerSettingsAdmin(CompanyScopedAdmin):
    list_display = ["company", "retention_days"]
