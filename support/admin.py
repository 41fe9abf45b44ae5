from django.contrib import admin
from unfold.admin import TabularInline

from autonomax.admin import CompanyScopedAdmin

from .models import Ticket, TicketMessage


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
    inlines = [TicketMessageInline]
