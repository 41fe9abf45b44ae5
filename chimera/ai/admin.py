from django.contrib import admin

from autonomax.admin import CompanyScopedAdmin, ReadOnlyAdmin

from .models import AICall, AIRoutingPreference, AISpendDay
from .services import ai_routing_preference_set


@admin.register(AICall)
class AICallAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "company", "task_type", "provider", "model", "status", "fallback", "tokens_in",
                    "tokens_out", "cost_usd", "latency_ms", "error_code"]
    list_filter = ["status", "provider", "task_type", "fallback", "error_code", "company"]
    search_fields = ["correlation_id", "prompt_hash", "error"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AICall._meta.fields]


@admin.register(AISpendDay)
class AISpendDayAdmin(ReadOnlyAdmin):
    list_display = ["day", "company", "spent_usd", "reserved_usd", "updated_at"]
    list_filter = ["company"]
    date_hierarchy = "day"
    readonly_fields = [f.name for f in AISpendDay._meta.fields]


@admin.register(AIRoutingPreference)
class AIRoutingPreferenceAdmin(CompanyScopedAdmin):
    list_display = ["company", "preference", "updated_at"]
    list_filter = ["preference"]
    fields = ["company", "preference"]

    def get_readonly_fields(self, request, obj=None):
        return ["company"] if obj else []

    def save_model(self, request, obj, form, change):
        # The service records who changed the routing, and why, in the change log.
        ai_routing_preference_set(company=obj.company, preference=obj.preference, actor=request.user,
                                  reason="changed in the admin")
        obj.pk = AIRoutingPreference.objects.get(company=obj.company).pk
