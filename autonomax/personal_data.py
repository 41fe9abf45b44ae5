"""What the platform core holds about a person: invitations sent to them and analytics events naming them."""

from django.db.models import TextField
from django.db.models.functions import Cast

from .models import Event, Invitation
from .privacy import Person, register, scrub


def _events(company, person: Person):
    return (Event.objects.filter(company=company).annotate(payload_text=Cast("payload", TextField()))
            .filter(payload_text__icontains=person.email))


def export(company, person: Person) -> dict:
    return {
        "invitations": list(Invitation.objects.filter(company=company, email__iexact=person.email).values(
            "email", "role", "created_at", "accepted_at")),
        "events": [{"name": e.name, "occurred_at": e.occurred_at, "payload": e.payload}
                   for e in _events(company, person)],
    }


def erase(company, person: Person) -> dict:
    events = list(_events(company, person))
    for event in events:
        Event.objects.filter(pk=event.pk).update(payload=scrub(event.payload, person))
    invitations, _ = Invitation.objects.filter(company=company, email__iexact=person.email).delete()
    return {"autonomax.Event": len(events), "autonomax.Invitation": invitations}


# Company.support_email is the shop's own address, not a person's.
register("autonomax", models=("autonomax.Company", "autonomax.Event", "autonomax.Invitation"), export=export,
         erase=erase)
