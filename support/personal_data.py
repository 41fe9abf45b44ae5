"""What support holds about a person: their tickets and every message in them."""

from autonomax.privacy import Person, erased_email, register, scrub

from .models import Ticket, TicketMessage


def export(company, person: Person) -> dict:
    tickets = Ticket.objects.filter(company=company, customer_email__iexact=person.email)
    return {
        "tickets": [
            {"id": t.pk, "subject": t.subject, "email": t.customer_email, "channel": t.channel, "status": t.status,
             "created_at": t.created_at, "resolved_at": t.resolved_at,
             "messages": [{"author": m.author, "body": m.body, "at": m.created_at} for m in t.messages.all()]}
            for t in tickets.prefetch_related("messages")
        ],
    }


def erase(company, person: Person) -> dict:
    tickets = list(Ticket.objects.filter(company=company, customer_email__iexact=person.email))
    messages = 0
    for ticket in tickets:
        Ticket.objects.filter(pk=ticket.pk).update(customer_email=erased_email(f"t{ticket.pk}"),
                                                   subject=scrub(ticket.subject, person))
        for message in TicketMessage.objects.filter(ticket=ticket):
            message.body = scrub(message.body, person)
            message.save(update_fields=["body"])
            messages += 1
    return {"support.Ticket": len(tickets), "support.TicketMessage": messages}


register("support", models=("support.Ticket",), export=export, erase=erase)
