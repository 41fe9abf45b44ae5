"""Personal data held by support, for export and erasure (registered with autonomax.privacy).

Tickets hold the customer's email and name; their messages hold what the customer wrote and the replies,
plus stored attachments. Erasure deletes the customer's tickets with their messages, events and attachment
files (a ticket is the customer's conversation: nothing in it is kept without them). When one of those tickets
was a label of the company's intent model, the model versions go too (their vocabulary holds the words of the
ticket); the nightly training builds a new one from the labels that remain.
"""

from django.core.files.storage import default_storage
from django.db import transaction

from autonomax.models import Company
from autonomax.privacy import register

from .models import IntentModel, Ticket, TicketEvent, TicketMessage


def _tickets(company: Company, email: str):
    return Ticket.objects.filter(company=company, customer_email__iexact=(email or "").strip())


def export_personal_data(company: Company, email: str) -> dict:
    """Everything support holds about the person with this email in this company."""
    tickets = _tickets(company, email).prefetch_related("messages")
    return {"tickets": [{
        "reference": t.reference, "subject": t.subject, "customer_email": t.customer_email,
        "customer_name": t.customer_name, "channel": t.channel, "status": t.status, "language": t.language,
        "created_at": t.created_at.isoformat(), "resolved_at": t.resolved_at.isoformat() if t.resolved_at else None,
        "messages": [{"author": m.author, "body": m.body, "at": m.created_at.isoformat(),
                      "attachments": [{k: a.get(k) for k in ("filename", "content_type", "size")}
                                      for a in m.attachments]} for m in t.messages.all()],
    } for t in tickets]}


def erase_personal_data(company: Company, email: str) -> dict:
    """Delete the person's tickets, messages, events and stored attachments; returns counts per kind."""
    with transaction.atomic():
        tickets = list(_tickets(company, email).values_list("pk", flat=True))
        messages = TicketMessage.objects.filter(ticket_id__in=tickets)
        paths = [a["path"] for atts in messages.values_list("attachments", flat=True) for a in atts or []
                 if isinstance(a, dict) and a.get("path")]
        counts = {"tickets": len(tickets), "ticket_messages": messages.count(),
                  "ticket_events": TicketEvent.objects.filter(ticket_id__in=tickets).count(),
                  "attachments": len(paths), "intent_models": 0}
        if Ticket.objects.filter(pk__in=tickets, intent_labelled_at__isnull=False).exists():
            counts["intent_models"], _ = IntentModel.objects.filter(company=company).delete()
        Ticket.objects.filter(pk__in=tickets).delete()
    for path in paths:
        default_storage.delete(path)
    return counts


register("support", models=("support.Ticket",),
         export=lambda company, person: export_personal_data(company, person.email),
         erase=lambda company, person: {f"support.{kind}": n for kind, n in
                                        erase_personal_data(company, person.email).items()})
