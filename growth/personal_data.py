"""What growth holds about a person: the lead with its touches, events, score changes and hand-off tasks,
the marketing emails sent to them (and whether they were opened), their unsubscribe.

Erasure deletes the lead and everything hanging off it, anonymises the email deliveries (campaign counts
stay right) and keeps the unsubscribe only as a hash of the address, so marketing never reaches that
address again, even after a later import, without keeping the address itself.
"""

import hashlib

from django.db.models import Q

from autonomax.models import Company
from autonomax.privacy import Person, erased_email, register, scrub

from .models import (
    EmailDelivery,
    EmailEvent,
    HandoffTask,
    Lead,
    LeadEvent,
    LeadScoreChange,
    LeadTouch,
    StepSend,
    Unsubscribe,
)


def suppressed_address(email: str) -> str:
    """What an erased person's unsubscribe becomes: no address, only a hash that still blocks marketing
    to the same address should it come back."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]
    return f"{digest}@suppressed.invalid"


def unsubscribed(company_id: int, email: str):
    """The address's unsubscribe rows: its own, or the hash an erasure left."""
    return Unsubscribe.objects.filter(Q(email__iexact=email) | Q(email=suppressed_address(email)),
                                      company_id=company_id)


def _iso(value):
    return value.isoformat() if value else None


def _emails_with_opens(*, company: Company, email: str, leads: list[Lead]) -> list[dict]:
    """Every marketing email to the address (segment and campaign sends, sequence steps) with its first open.

    Opens come from the tracking pixel, which reports per lead and message: a campaign's message is
    "<send_key>:<variant>", a sequence step's "step:<id>". Segment sends carry no pixel: `opens_tracked` is
    False and `opened_at` says nothing about them."""
    opens = [(e.lead_id, (e.properties or {}).get("message", ""), e.occurred_at)
             for e in LeadEvent.objects.filter(lead__in=leads, type=LeadEvent.Type.EMAIL_OPEN)]

    def first_open(lead_id, key: str) -> str | None:
        return _iso(min((at for lead, message, at in opens
                         if lead == lead_id and (message == key or message.startswith(f"{key}:"))), default=None))

    emails = [{"subject": d.subject, "status": d.status, "sent_at": _iso(d.sent_at),
               "opens_tracked": bool(d.lead_id) and d.send_key.startswith("campaign:"),
               "opened_at": first_open(d.lead_id, d.send_key) if d.lead_id else None}
              for d in EmailDelivery.objects.filter(company=company, email__iexact=email)]
    emails += [{"subject": s.step.subject, "status": s.status, "sent_at": _iso(s.sent_at), "opens_tracked": True,
                "opened_at": first_open(s.lead_id, f"step:{s.step_id}")}
               for s in StepSend.objects.filter(lead__in=leads).select_related("step")]
    return emails


def export_personal_data(company: Company, email: str) -> dict:
    """Everything growth holds about `email` in `company`, as JSON-ready data."""
    email = (email or "").strip().lower()
    leads = list(Lead.objects.filter(company=company, email__iexact=email))
    out = {"leads": [], "email_deliveries": [], "unsubscribed": [], "email_events": []}
    for lead in leads:
        out["leads"].append({
            "id": lead.pk, "email": lead.email, "name": lead.name, "source": lead.source,
            "utm": {k: getattr(lead, f"utm_{k}") for k in ("source", "medium", "campaign", "term", "content")},
            "fields": lead.fields, "score": lead.score, "score_breakdown": lead.score_breakdown,
            "status": lead.status, "consent": lead.consent, "consent_text": lead.consent_text,
            "consent_at": _iso(lead.consent_at), "confirmed_at": _iso(lead.confirmed_at),
            "created_at": _iso(lead.created_at), "converted_at": _iso(lead.converted_at),
            "touches": [{"channel": t.channel, "source": t.source, "utm": t.utm, "page_url": t.page_url,
                         "consent_marketing": t.consent_marketing, "consent_text": t.consent_text,
                         "at": _iso(t.created_at)} for t in LeadTouch.objects.filter(lead=lead)],
            "events": [{"type": e.type, "at": _iso(e.occurred_at), "properties": e.properties}
                       for e in LeadEvent.objects.filter(lead=lead)],
            "score_changes": [{"from": c.old_score, "to": c.new_score, "reason": c.reason, "at": _iso(c.created_at)}
                              for c in LeadScoreChange.objects.filter(lead=lead)],
            "handoff_tasks": [{"title": h.title, "status": h.status, "at": _iso(h.created_at)}
                              for h in HandoffTask.objects.filter(lead=lead)],
        })
    out["email_deliveries"] = _emails_with_opens(company=company, email=email, leads=leads)
    out["unsubscribed"] = [_iso(u.created_at) for u in Unsubscribe.objects.filter(company=company,
                                                                                   email__iexact=email)]
    out["email_events"] = [{"type": e.type, "provider": e.esp, "detail": e.detail, "at": _iso(e.occurred_at)}
                           for e in EmailEvent.objects.filter(company=company, recipient__iexact=email)]
    return out


def erase(company, person: Person) -> dict:
    leads = Lead.objects.filter(company=company, email__iexact=person.email)
    names = [n for n in leads.values_list("name", flat=True) if n]
    person = Person(email=person.email, name=person.name or (names[0] if names else ""))
    lead_ids = list(leads.values_list("pk", flat=True))
    changed = {
        "growth.LeadTouch": LeadTouch.objects.filter(lead_id__in=lead_ids).delete()[0],
        "growth.LeadEvent": LeadEvent.objects.filter(lead_id__in=lead_ids).delete()[0],
        "growth.LeadScoreChange": LeadScoreChange.objects.filter(lead_id__in=lead_ids).delete()[0],
        "growth.HandoffTask": HandoffTask.objects.filter(lead_id__in=lead_ids).delete()[0],
    }
    changed["growth.Lead"] = Lead.objects.filter(pk__in=lead_ids).delete()[0]
    deliveries = list(EmailDelivery.objects.filter(company=company, email__iexact=person.email))
    for delivery in deliveries:
        EmailDelivery.objects.filter(pk=delivery.pk).update(
            email=erased_email(f"d{delivery.pk}"), subject=scrub(delivery.subject, person),
            error=scrub(delivery.error, person))
    changed["growth.EmailDelivery"] = len(deliveries)
    events = EmailEvent.objects.filter(company=company, recipient__iexact=person.email)
    changed["growth.EmailEvent"] = events.delete()[0]
    Unsubscribe.objects.filter(company=company, email__iexact=person.email).delete()
    Unsubscribe.objects.get_or_create(company=company, email=suppressed_address(person.email))
    changed["growth.Unsubscribe"] = 1
    return changed


register("growth", models=("growth.Lead", "growth.EmailDelivery", "growth.Unsubscribe", "growth.EmailEvent"),
         export=lambda company, person: export_personal_data(company, person.email), erase=erase)
