"""SLA warnings and breaches, and the satisfaction survey after resolution.

`sla_sweep` runs every minute (celery-beat): a warning when a timer has used `warning_share` of its time,
a breach when it is past due; each recorded once (conditional UPDATE ... WHERE <stamp> IS NULL), as
TicketEvents. A first response or resolution that arrives late is recorded as a breach at that moment by
`sla_record_late` (called by the ticket services). The resolution timer is paused while a ticket waits on
the customer (see `ticket_transition`).
"""

import logging
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from autonomax.errors import AppError

from .models import SupportSettings, Ticket, TicketEvent

logger = logging.getLogger(__name__)
CSAT_SALT = "support.csat"
OPEN = [Ticket.Status.OPEN, Ticket.Status.AUTO_ANSWERED, Ticket.Status.ESCALATED, Ticket.Status.WAITING_ON_CUSTOMER]


def _event(ticket_id: int, kind: str, at: datetime, data: dict) -> None:
    TicketEvent.objects.create(ticket_id=ticket_id, kind=kind, actor="system", created_at=at, data=data)


def sla_sweep(*, now: datetime | None = None) -> dict:
    """Record due warnings and breaches for every company's open tickets; a repeat records nothing new."""
    now = now or timezone.now()
    counts = {"warnings": 0, "first_response_breaches": 0, "resolution_breaches": 0}
    open_tickets = Ticket.objects.filter(status__in=OPEN)
    with transaction.atomic():
        for pk in list(open_tickets.filter(first_response_at__isnull=True, first_response_due__lte=now,
                                           first_response_breached_at__isnull=True).values_list("pk", flat=True)):
            if Ticket.objects.filter(pk=pk, first_response_breached_at__isnull=True).update(
                    first_response_breached_at=now):
                _event(pk, TicketEvent.Kind.SLA_BREACH, now, {"timer": "first_response"})
                counts["first_response_breaches"] += 1
        for pk in list(open_tickets.filter(waiting_since__isnull=True, resolution_due__lte=now,
                                           resolution_breached_at__isnull=True).values_list("pk", flat=True)):
            if Ticket.objects.filter(pk=pk, resolution_breached_at__isnull=True).update(resolution_breached_at=now):
                _event(pk, TicketEvent.Kind.SLA_BREACH, now, {"timer": "resolution"})
                counts["resolution_breaches"] += 1
        # Warnings: the running timer has used its company's warning share and is not yet breached.
        shares = dict(SupportSettings.objects.values_list("company_id", "warning_share"))
        candidates = open_tickets.filter(sla_warned_at__isnull=True, first_response_breached_at__isnull=True,
                                         resolution_breached_at__isnull=True).filter(
            Q(first_response_at__isnull=True, first_response_due__gt=now)
            | Q(first_response_at__isnull=False, waiting_since__isnull=True, resolution_due__gt=now))
        for ticket in candidates.only("pk", "company_id", "created_at", "first_response_at", "first_response_due",
                                      "resolution_due"):
            due = ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due
            share = shares.get(ticket.company_id, 0.8)
            if now >= ticket.created_at + (due - ticket.created_at) * share and Ticket.objects.filter(
                    pk=ticket.pk, sla_warned_at__isnull=True).update(sla_warned_at=now):
                _event(ticket.pk, TicketEvent.Kind.SLA_WARNING, now, {
                    "timer": "first_response" if ticket.first_response_at is None else "resolution",
                    "due": due.isoformat()})
                counts["warnings"] += 1
    return counts


def sla_record_late(*, ticket: Ticket, at: datetime) -> None:
    """A first response or resolution just happened: if it was late and not yet recorded, record the breach."""
    if ticket.first_response_at and ticket.first_response_due and not ticket.first_response_breached_at \
            and ticket.first_response_at > ticket.first_response_due:
        if Ticket.objects.filter(pk=ticket.pk, first_response_breached_at__isnull=True).update(
                first_response_breached_at=ticket.first_response_at):
            ticket.first_response_breached_at = ticket.first_response_at
            _event(ticket.pk, TicketEvent.Kind.SLA_BREACH, at, {"timer": "first_response", "late": True})
    if ticket.resolved_at and ticket.resolution_due and not ticket.resolution_breached_at \
            and ticket.resolved_at > ticket.resolution_due:
        if Ticket.objects.filter(pk=ticket.pk, resolution_breached_at__isnull=True).update(
                resolution_breached_at=ticket.resolved_at):
            ticket.resolution_breached_at = ticket.resolved_at
            _event(ticket.pk, TicketEvent.Kind.SLA_BREACH, at, {"timer": "resolution", "late": True})


# --- CSAT ---------------------------------------------------------------------------------------------------

def csat_token(*, ticket: Ticket) -> str:
    return signing.dumps({"t": ticket.pk}, salt=CSAT_SALT, compress=True)


def csat_url(*, ticket: Ticket, score: int) -> str:
    path = reverse("support:csat", kwargs={"token": csat_token(ticket=ticket)})
    return f"{settings.SITE_URL.rstrip('/')}{path}?score={score}"


def csat_survey_send(*, ticket_id: int) -> bool:
    """Email the 1-5 survey once after a ticket is resolved (a conditional UPDATE claims the send)."""
    from django.core.mail import EmailMessage  # noqa: PLC0415

    if not Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.RESOLVED, csat_sent_at__isnull=True).update(
            csat_sent_at=timezone.now()):
        return False
    ticket = Ticket.objects.select_related("company").get(pk=ticket_id)
    links = "\n".join(f"{n} - {label}: {csat_url(ticket=ticket, score=n)}" for n, label in
                      [(5, "great"), (4, "good"), (3, "okay"), (2, "poor"), (1, "bad")])
    sender = ticket.company.support_email or settings.DEFAULT_FROM_EMAIL
    try:
        EmailMessage(subject=f"How did we do? {ticket.reference}", from_email=sender, to=[ticket.customer_email],
                     body=f"Your request \"{ticket.subject}\" is resolved. How satisfied are you?\n\n{links}\n").send()
    except Exception:
        Ticket.objects.filter(pk=ticket_id).update(csat_sent_at=None)
        raise
    return True


def csat_record(*, token: str, score) -> Ticket:
    """Store the customer's rating (1-5) from the survey link; a later click changes it."""
    try:
        data = signing.loads(token, salt=CSAT_SALT, max_age=60 * 60 * 24 * 60)
    except signing.BadSignature:
        raise AppError("This survey link is not valid.", code="invalid_token", status=404) from None
    try:
        score = int(score)
    except (TypeError, ValueError):
        score = 0
    if not 1 <= score <= 5:
        raise AppError("The rating must be 1 to 5.", code="invalid", details={"score": ["1 to 5"]})
    ticket = Ticket.objects.filter(pk=data.get("t")).first()
    if ticket is None:
        raise AppError("This survey link is not valid.", code="invalid_token", status=404)
    now = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(csat_score=score, csat_at=now)
    _event(ticket.pk, TicketEvent.Kind.CSAT, now, {"score": score})
    ticket.csat_score, ticket.csat_at = score, now
    return ticket


