"""What growth holds about a person: the lead, the marketing emails sent to them, their unsubscribe."""

import hashlib

from autonomax.privacy import Person, erased_email, register, scrub

from .models import EmailDelivery, Lead, Unsubscribe


def suppressed_address(email: str) -> str:
    """What an erased person's unsubscribe becomes: no address, only a hash that still blocks marketing
    to the same address should it come back."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]
    return f"{digest}@suppressed.invalid"


def export(company, person: Person) -> dict:
    return {
        "leads": list(Lead.objects.filter(company=company, email__iexact=person.email).values(
            "id", "email", "name", "source", "utm_source", "utm_medium", "utm_campaign", "score", "status",
            "consent", "consent_at", "created_at", "converted_at")),
        "emails": list(EmailDelivery.objects.filter(company=company, email__iexact=person.email).values(
            "subject", "status", "created_at", "sent_at")),
        "unsubscribed": list(Unsubscribe.objects.filter(company=company, email__iexact=person.email).values(
            "created_at")),
    }


def erase(company, person: Person) -> dict:
    changed = {}
    for lead in Lead.objects.filter(company=company, email__iexact=person.email):
        person = Person(email=person.email, name=person.name or lead.name)
        Lead.objects.filter(pk=lead.pk).update(email=erased_email(lead.pk), name="", consent=False,
                                               status=Lead.Status.UNSUBSCRIBED)
        changed["growth.Lead"] = changed.get("growth.Lead", 0) + 1
    deliveries = list(EmailDelivery.objects.filter(company=company, email__iexact=person.email))
    for delivery in deliveries:
        EmailDelivery.objects.filter(pk=delivery.pk).update(
            email=erased_email(f"d{delivery.pk}"), subject=scrub(delivery.subject, person),
            error=scrub(delivery.error, person))
    changed["growth.EmailDelivery"] = len(deliveries)
    # No more marketing, ever: the unsubscribe stays, as a hash of the address.
    Unsubscribe.objects.filter(company=company, email__iexact=person.email).delete()
    Unsubscribe.objects.get_or_create(company=company, email=suppressed_address(person.email))
    changed["growth.Unsubscribe"] = 1
    return changed


register("growth", models=("growth.Lead", "growth.EmailDelivery", "growth.Unsubscribe"), export=export,
         erase=erase)
