from django.contrib import admin, messages
from unfold.admin import TabularInline

from autonomax.admin import CompanyScopedAdmin
from autonomax.errors import AppError

from .knowledge import article_delete, article_save
from .models import (
    IntentModel,
    KnowledgeArticle,
    KnowledgePassage,
    Macro,
    SupportSettings,
    Ticket,
    TicketEvent,
    TicketMessage,
)
from .services import macro_edit
from .tickets import ticket_escalate, ticket_resolve


class TicketMessageInline(TabularInline):
    model = TicketMessage
    extra = 0
    fields = ["created_at", "author", "author_user", "body", "message_id", "attachments", "flags", "confidence"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class TicketEventInline(TabularInline):
    model = TicketEvent
    extra = 0
    fields = ["created_at", "kind", "actor", "user", "from_status", "to_status", "data"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Ticket)
class TicketAdmin(CompanyScopedAdmin):
    list_display = ["subject", "customer_email", "status", "priority", "intent", "answer_confidence", "assignee",
                    "auto_resolved", "escalated", "company", "created_at"]
    list_filter = ["status", "priority", "channel", "auto_resolved", "escalated", "company"]
    search_fields = ["subject", "customer_email", "intent", "token"]
    date_hierarchy = "created_at"
    readonly_fields = ["token", "created_at", "status", "intent", "intent_confidence", "answer_confidence", "language",
                       "handed_off_at", "handoff_reason", "escalation_context", "first_response_at", "resolved_at",
                       "first_response_due", "resolution_due", "waiting_since", "first_response_breached_at",
                       "resolution_breached_at", "auto_resolved", "escalated", "flags", "intent_labelled_at",
                       "intent_labelled_by"]
    inlines = [TicketMessageInline, TicketEventInline]
    actions = ["resolve_tickets", "escalate_tickets"]

    @admin.action(description="Resolve the selected tickets")
    def resolve_tickets(self, request, queryset):
        self._each(request, queryset, lambda t: ticket_resolve(ticket=t, actor=request.user))

    @admin.action(description="Escalate the selected tickets to a person")
    def escalate_tickets(self, request, queryset):
        self._each(request, queryset, lambda t: ticket_escalate(ticket=t, reason="escalated_in_admin", by="person"))

    def _each(self, request, queryset, apply):
        done = 0
        for ticket in queryset:
            try:
                apply(ticket)
                done += 1
            except AppError as exc:
                self.message_user(request, f"{ticket}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} ticket(s) updated.")


class KnowledgePassageInline(TabularInline):
    model = KnowledgePassage
    extra = 0
    fields = ["position", "text"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(CompanyScopedAdmin):
    list_display = ["title", "language", "is_published", "company", "updated_at"]
    list_filter = ["language", "is_published", "company"]
    search_fields = ["title", "body"]
    fields = ["company", "title", "body", "language", "is_published"]
    inlines = [KnowledgePassageInline]

    def save_model(self, request, obj, form, change):
        saved = article_save(company=obj.company, title=obj.title, body=obj.body, language=obj.language,
                             is_published=obj.is_published, article=obj if change else None)
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass  # the passages are derived from the body; nothing to save from the read-only inline

    def delete_model(self, request, obj):
        article_delete(article=obj)

    def delete_queryset(self, request, queryset):
        for article in queryset:
            article_delete(article=article)


@admin.register(SupportSettings)
class SupportSettingsAdmin(CompanyScopedAdmin):
    list_display = ["company", "auto_send_threshold", "first_response_seconds", "resolution_seconds",
                    "refund_window_days", "refund_max_amount", "contact_form_enabled"]


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


@admin.register(IntentModel)
class IntentModelAdmin(CompanyScopedAdmin):
    """The company's intent classifier versions, read-only: trained nightly from the tickets people labelled."""

    list_display = ["company", "version", "trained_on", "created_at"]
    list_filter = ["company"]
    fields = ["company", "version", "trained_on", "labels", "metrics", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
