from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from autonomax.admin import CompanyScopedAdmin

from .models import CustomerProfile, CustomerSettings, ErasureRecord, LifetimeModel, SegmentMove


@admin.register(CustomerProfile)
class CustomerProfileAdmin(CompanyScopedAdmin):
    list_display = ["customer", "segment", "rfm_score", "orders", "monetary", "p_alive", "predicted_value_12m",
                    "story"]
    list_filter = ["segment"]
    search_fields = ["customer__email", "customer__name"]
    readonly_fields = [f.name for f in CustomerProfile._meta.fields]

    @admin.display(description="Story")
    def story(self, obj):
        return format_html('<a href="{}">open</a>', reverse("customer-story", args=[obj.customer_id]))


@admin.register(LifetimeModel)
class LifetimeModelAdmin(CompanyScopedAdmin):
    list_display = ["version", "status", "fitted_at", "customers", "repeat_customers", "holdout_mae"]
    readonly_fields = [f.name for f in LifetimeModel._meta.fields]

    @admin.display(description="Holdout MAE (purchases / customer / 90 days)")
    def holdout_mae(self, obj):
        return obj.holdout.get("mae", obj.holdout.get("note", "—"))


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
