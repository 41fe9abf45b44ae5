from django.contrib import admin

from autonomax.admin import CompanyScopedAdmin

from .models import AICall


@admin.register(AICall)
class AICallAdmin(CompanyScopedAdmin):
    list_display = ["created_at", "company", "task_type", "provider", "model", "status", "fallback", "tokens_in",
                    "tokens_out", "cost_usd", "latency_ms"]
    list_filter = ["status", "provider", "task_type", "fallback", "company"]
    search_fields = ["correlation_id", "prompt_hash", "error"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AICall._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
