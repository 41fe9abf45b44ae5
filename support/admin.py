from django.contrib import admin
from unfold.admin import TabularInline

from autonomax.admin import CompanyScopedAdmin

from .models import Macro, Ticket, TicketMessage
from .services import macro_edit


class TicketMessageInline(TabularInline):
    model = TicketMessage
    extra = 0


@admin.register(Ticket)
class TicketAdmin(CompanyScopedAdmin):
    list_display = ["subject", "customer_email", "status", "priority", "intent", "auto_resolved", "escalated",
                    "company", "created_at"]
    list_filter = ["status", "priority", "channel", "auto_resolved", "escalated", "company"]
    search_fields = ["subject", "customer_email", "intent"]
    date_hierarchy = "created_at"
    # The SLA and KPI clock: written by the support services, never edited by hand.
    readonly_fields = ["created_at", "first_response_at", "resolved_at", "auto_resolved", "escalated"]
    inlines = [TicketMessageInline]


@admin.register(Macro)
class MacroAdmin(CompanyScopedAdmin):
    """FAQ macros people can read and correct; an edit makes the macro theirs (the bot never overwrites it)."""

    list_display = ["title", "intent", "confidence", "ticket_count", "ai_provider", "edited_by", "updated_at",
                    "company"]
    list_filter = ["company", "intent"]
    search_fields = ["title", "body", "intent"]
    fields = ["company", "intent", "title", "body", "confidence", "ticket_count", "ai_provider", "source_key",
              "edited_by", "edited_at", "created_at", "updated_at"]
    readonly_fields = ["confidence", "ticket_count", "ai_provider", "source_key", "edited_by", "edited_at",
                       "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, *(["company", "intent"] if obj else [])]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.edited_by = request.user
            return super().save_model(request, obj, form, change)
        macro = macro_edit(macro=obj, actor=request.user, title=form.cleaned_data["title"],
                           body=form.cleaned_data["body"])
        obj.edited_by, obj.edited_at = macro.edited_by, macro.edited_at
