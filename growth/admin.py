from django.contrib import admin

from autonomax.admin import CompanyScopedAdmin

from .models import (
    EmailEvent,
    GrowthSettings,
    HandoffTask,
    Lead,
    LeadEvent,
    LeadScoringModel,
    LeadTouch,
    ScoringRule,
)


@admin.register(Lead)
class LeadAdmin(CompanyScopedAdmin):
    list_display = ["email", "name", "source", "score", "status", "consent", "company", "created_at"]
    list_filter = ["status", "source", "consent", "company"]
    search_fields = ["email", "name", "utm_campaign"]
    date_hierarchy = "created_at"
    readonly_fields = ["score", "score_breakdown", "scored_at", "above_handoff", "consent_text", "consent_at",
                       "confirmation_sent_at", "confirmed_at", "touches", "last_activity_at"]


@admin.register(GrowthSettings)
class GrowthSettingsAdmin(CompanyScopedAdmin):
    list_display = ["company", "require_consent", "double_opt_in", "handoff_threshold", "form_rate_limit",
                    "marketing_rest_days"]
    readonly_fields = ["marketing_rest_reason"]

    def save_model(self, request, obj, form, change):
        if "marketing_rest_days" in form.changed_data:
            obj.marketing_rest_reason = f"set by {request.user} in the admin"
        super().save_model(request, obj, form, change)


@admin.register(ScoringRule)
class ScoringRuleAdmin(CompanyScopedAdmin):
    list_display = ["label", "kind", "event_type", "field_name", "points", "cap", "half_life_days", "is_active",
                    "company"]
    list_filter = ["kind", "is_active", "company"]


@admin.register(HandoffTask)
class HandoffTaskAdmin(CompanyScopedAdmin):
    list_display = ["title", "score", "status", "assignee", "created_at", "company"]
    list_filter = ["status", "company"]
    readonly_fields = ["lead", "threshold", "score", "context", "created_at", "status"]


@admin.register(LeadEvent)
class LeadEventAdmin(CompanyScopedAdmin):
    list_display = ["type", "lead", "occurred_at", "idempotency_key", "company"]
    list_filter = ["type", "company"]
    search_fields = ["lead__email", "idempotency_key"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LeadTouch)
class LeadTouchAdmin(CompanyScopedAdmin):
    list_display = ["lead", "channel", "source", "consent_marketing", "created_at", "company"]
    list_filter = ["channel", "company"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EmailEvent)
class EmailEventAdmin(CompanyScopedAdmin):
    list_display = ["type", "recipient", "esp", "occurred_at", "company"]
    list_filter = ["type", "esp", "company"]
    search_fields = ["recipient"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LeadScoringModel)
class LeadScoringModelAdmin(CompanyScopedAdmin):
    list_display = ["version", "is_active", "decision", "n_train", "n_test", "trained_at", "company"]
    list_filter = ["is_active", "company"]
    readonly_fields = ["version", "trained_at", "rules_fingerprint", "features", "intercept", "metrics", "n_train",
                       "n_test", "is_active", "decision"]

    def has_add_permission(self, request):
        return False
