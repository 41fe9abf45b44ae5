"""Support reads, always scoped to one company."""

from django.db.models import Case, Count, IntegerField, Prefetch, Value, When

from autonomax.models import Company

from .models import Ticket, TicketMessage


def ticket_detail(*, company: Company, pk) -> Ticket | None:
    """One ticket with its assignee and messages (3 queries)."""
    return (Ticket.objects.filter(company=company, pk=pk).select_related("assignee")
            .prefetch_related(Prefetch("messages", queryset=TicketMessage.objects.select_related("author_user")))
            .first())


def ticket_list(*, company: Company):
    return Ticket.objects.filter(company=company).annotate(message_count=Count("messages"))


def ticket_queue(*, company: Company, include_resolved: bool = False):
    """The inbox queue: escalations first, then the ones whose SLA is due soonest."""
    rows = Ticket.objects.filter(company=company).select_related("assignee")
    if not include_resolved:
        rows = rows.exclude(status=Ticket.Status.RESOLVED)
    return rows.annotate(escalated_first=Case(When(status=Ticket.Status.ESCALATED, then=Value(0)), default=Value(1),
                                              output_field=IntegerField())
                         ).order_by("escalated_first", "first_response_due", "resolution_due", "pk")
