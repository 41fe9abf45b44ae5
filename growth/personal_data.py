"""Personal data held by growth, for export and erasure (wired into the registry by the platform).

Every growth model that names a person by email: Lead (and its touches, events,
score changes, hand-off tasks, which cascade), EmailDelivery and Unsubscribe.
Erasure keeps one thing on purpose: an Unsubscribe row stays, so an erased
person is never emailed again by a later import (only the address, nothing else).
"""

from django.db import transaction

from autonomax.models import Company

from .models import EmailDelivery, HandoffTask, Lead, LeadEvent, LeadScoreChange, LeadTouch, Unsubscribe


def _iso(value):
    return value.isoformat() if value else None


def export_personal_data(company: Company, email: str) -> dict:
    """Everything growth holds about `email` in `company`, as JSON-ready data."""
    email = (email or "").strip().lower()
    leads = list(Lead.objects.filter(company=company, email__iexact=email))
    out = {"leads": [], "email_deliveries": [], "unsubscribed": []}
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
    out["email_deliveries"] = [
        {"subject": d.subject, "status": d.status, "sent_at": _iso(d.sent_at)}
        for d in EmailDelivery.objects.filter(company=company, email__iexact=email)]
    out["unsubscribed"] = [_iso(u.created_at) for u in Unsubscribe.objects.filter(company=company,
                                                                                   email__iexact=email)]
    return out


@transaction.atomic
def erase_personal_data(company: Company, email: str) -> dict:
    """Delete what growth holds about `email` in `company`; returns counts per kind.

    The Unsubscribe row is kept (the address alone) so the person is never emailed again.
    """
    email = (email or "").strip().lower()
    leads = Lead.objects.filter(company=company, email__iexact=email)
    lead_ids = list(leads.values_list("pk", flat=True))
    counts = {
        "lead_touches": LeadTouch.objects.filter(lead_id__in=lead_ids).delete()[0],
        "lead_events": LeadEvent.objects.filter(lead_id__in=lead_ids).delete()[0],
        "lead_score_changes": LeadScoreChange.objects.filter(lead_id__in=lead_ids).delete()[0],
        "handoff_tasks": HandoffTask.objects.filter(lead_id__in=lead_ids).delete()[0],
        "email_deliveries": EmailDelivery.objects.filter(company=company, email__iexact=email).delete()[0],
    }
    counts["leads"] = Lead.objects.filter(pk__in=lead_ids).delete()[0]
    return counts
