"""Lead scoring: per-company rules, caps and time decay, a breakdown a person can read, and the hand-off.

The score is recomputed from the lead's events whenever an event arrives (not
nightly): `leads_rescore` locks the leads, computes each score with
`score_compute` (a pure function), stores it with its breakdown, records the
change, and fires the threshold action once per crossing: when the score goes
above the hand-off threshold a HandoffTask is created for a person; it fires
again only after the score fell back to or below the threshold and rose again.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from autonomax.models import Company

from .models import GrowthSettings, HandoffTask, Lead, LeadEvent, LeadScoreChange, ScoringRule


@dataclass(frozen=True)
class Rule:
    """A scoring rule as the computation sees it (from the database or the defaults)."""

    key: str
    kind: str
    label: str
    points: int
    event_type: str = ""
    property_name: str = ""
    property_contains: str = ""
    field_name: str = ""
    field_value: str = ""
    cap: int | None = None
    half_life_days: int | None = None


# Used while a company has defined no rules of its own (ScoringRule rows replace all of them).
DEFAULT_RULES = (
    Rule("default:pricing", "event", "pricing page visit", 25, event_type="page_view", property_name="path",
         property_contains="/pricing", cap=25, half_life_days=14),
    Rule("default:page", "event", "page view", 2, event_type="page_view", cap=10, half_life_days=14),
    Rule("default:form", "event", "form submit", 15, event_type="form_submit", cap=30, half_life_days=30),
    Rule("default:open", "event", "email open", 3, event_type="email_open", cap=9, half_life_days=30),
    Rule("default:click", "event", "email click", 8, event_type="email_click", cap=24, half_life_days=30),
    Rule("default:purchase", "event", "purchase", 40, event_type="purchase", cap=40),
    Rule("default:referral", "field", "referred by someone", 10, field_name="source", field_value="referral"),
    Rule("default:consulting", "field", "asked about consulting", 20, field_name="interest",
         field_value="consulting"),
    Rule("default:size", "field", "company size 50+", 10, field_name="company_size", field_value="50+"),
)


def rules_for(*, company: Company) -> list[Rule]:
    rows = ScoringRule.objects.filter(company=company, is_active=True).order_by("kind", "id")
    rules = [Rule(key=f"rule:{r.pk}", kind=r.kind, label=r.label, points=r.points, event_type=r.event_type,
                  property_name=r.property_name, property_contains=r.property_contains, field_name=r.field_name,
                  field_value=r.field_value, cap=r.cap, half_life_days=r.half_life_days) for r in rows]
    has_any = rules or ScoringRule.objects.filter(company=company).exists()
    return rules if has_any else list(DEFAULT_RULES)


def ago(delta_seconds: float) -> str:
    days = int(delta_seconds // 86400)
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''} ago"
    hours = int(delta_seconds // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    return "just now"


def _event_matches(rule: Rule, event: dict) -> bool:
    if event["type"] != rule.event_type:
        return False
    if rule.property_name:
        value = str((event.get("properties") or {}).get(rule.property_name, ""))
        return rule.property_contains.lower() in value.lower()
    return True


def _field_value(lead: Lead, name: str):
    if name in ("source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
        return getattr(lead, name)
    return (lead.fields or {}).get(name)


def _signed(points: int) -> str:
    return f"+{points}" if points >= 0 else f"\u2212{-points}"


def score_compute(*, lead: Lead, events: list[dict], rules: list[Rule], group: GrowthSettings,
                  now: datetime) -> tuple[int, list[dict]]:
    """(score 0-100, breakdown) from the lead's events ({type, occurred_at, properties}) and fields.

    Each event rule sums its matching events, each worth `points * 0.5 ** (age / half_life)`,
    capped at `cap`; an event matched by a more specific rule (one with a property filter) is
    not counted again by a general rule of the same type. Field rules add their points once.
    No activity for `inactivity_days` adds `inactivity_points`.
    """
    breakdown: list[dict] = []
    total = 0.0
    claimed: set[int] = set()
    by_type: dict[str, list[tuple[int, dict]]] = {}
    for i, event in enumerate(events):
        by_type.setdefault(event["type"], []).append((i, event))
    ordered = sorted(rules, key=lambda r: (r.kind != "event", not r.property_name))
    for rule in ordered:
        if rule.kind == "event":
            matched = [(i, e) for i, e in by_type.get(rule.event_type, ()) if i not in claimed
                       and _event_matches(rule, e)]
            if not matched:
                continue
            claimed.update(i for i, _ in matched)
            raw = 0.0
            for _, event in matched:
                if rule.half_life_days:
                    age_days = max((now - event["occurred_at"]).total_seconds(), 0) / 86400
                    raw += rule.points * 0.5 ** (age_days / rule.half_life_days)
                else:
                    raw += rule.points
            capped = raw
            if rule.cap is not None:
                capped = max(min(raw, rule.cap), -rule.cap)
            points = round(capped)
            if points == 0:
                continue
            latest = max(e["occurred_at"] for _, e in matched)
            when = ago((now - latest).total_seconds())
            text = f"{_signed(points)} {rule.label}"
            text += f" {when}" if len(matched) == 1 else f" \u00d7{len(matched)}, latest {when}"
            notes = []
            if rule.half_life_days and round(raw) != len(matched) * rule.points:
                notes.append(f"decayed, halves every {rule.half_life_days} days")
            if rule.cap is not None and abs(raw) > rule.cap:
                notes.append(f"capped at {rule.cap}")
            if notes:
                text += f" ({'; '.join(notes)})"
            breakdown.append({"rule": rule.key, "label": rule.label, "points": points, "count": len(matched),
                              "text": text})
            total += capped
        else:
            value = _field_value(lead, rule.field_name)
            if value is None or str(value).strip().lower() != rule.field_value.strip().lower():
                continue
            breakdown.append({"rule": rule.key, "label": rule.label, "points": rule.points, "count": 1,
                              "text": f"{_signed(rule.points)} {rule.label} ({rule.field_name}: {value})"})
            total += rule.points
    times = [e["occurred_at"] for e in events] + [lead.last_activity_at or lead.created_at]
    idle_days = (now - max(t for t in times if t is not None)).total_seconds() / 86400
    if group.inactivity_days and group.inactivity_points and idle_days >= group.inactivity_days:
        points = group.inactivity_points
        breakdown.append({"rule": "inactivity", "label": "no activity", "points": points, "count": 1,
                          "text": f"{_signed(points)} no activity for {math.floor(idle_days)} days"})
        total += points
    return max(0, min(100, round(total))), breakdown


def leads_rescore(*, company: Company, lead_ids, now=None, reason: str = "event") -> dict:
    """Recompute the scores of these leads (locked, in id order); fire hand-offs on upward crossings.

    Constant query count for any number of leads: one lock, one events read, bulk writes.
    """
    from .capture import growth_settings_for  # noqa: PLC0415

    now = now or timezone.now()
    ids = sorted(set(lead_ids))
    if not ids:
        return {"rescored": 0, "changed": 0, "handoffs": 0}
    group = growth_settings_for(company=company)
    rules = rules_for(company=company)
    with transaction.atomic():
        leads = list(Lead.objects.select_for_update().filter(company=company, pk__in=ids).order_by("pk"))
        events_by_lead: dict[int, list[dict]] = {lead.pk: [] for lead in leads}
        for row in (LeadEvent.objects.filter(company=company, lead_id__in=events_by_lead)
                    .values("lead_id", "type", "occurred_at", "properties")):
            events_by_lead[row["lead_id"]].append(row)
        changed, changes, handoffs = [], [], []
        for lead in leads:
            score, breakdown = score_compute(lead=lead, events=events_by_lead[lead.pk], rules=rules, group=group,
                                             now=now)
            above = score > group.handoff_threshold
            crossed = above and not lead.above_handoff
            if score != lead.score:
                changes.append(LeadScoreChange(company=company, lead=lead, old_score=lead.score, new_score=score,
                                               reason=reason[:200], created_at=now))
            if score != lead.score or breakdown != lead.score_breakdown or above != lead.above_handoff \
                    or lead.scored_at is None:
                lead.score, lead.score_breakdown, lead.above_handoff, lead.scored_at = score, breakdown, above, now
                if crossed and lead.status in (Lead.Status.NEW, Lead.Status.NURTURING):
                    lead.status = Lead.Status.QUALIFIED
                changed.append(lead)
            if crossed:
                handoffs.append(_handoff_for(lead=lead, threshold=group.handoff_threshold,
                                             events=events_by_lead[lead.pk], now=now))
        if changed:
            Lead.objects.bulk_update(changed, ["score", "score_breakdown", "above_handoff", "scored_at", "status"])
        if changes:
            LeadScoreChange.objects.bulk_create(changes)
        if handoffs:
            HandoffTask.objects.bulk_create(handoffs)
    return {"rescored": len(leads), "changed": len(changes), "handoffs": len(handoffs)}


def _handoff_for(*, lead: Lead, threshold: int, events: list[dict], now) -> HandoffTask:
    recent = sorted(events, key=lambda e: e["occurred_at"], reverse=True)[:10]
    context = {
        "email": lead.email, "name": lead.name, "source": lead.source,
        "utm": {k: getattr(lead, f"utm_{k}") for k in ("source", "medium", "campaign") if getattr(lead, f"utm_{k}")},
        "fields": lead.fields, "score": lead.score, "breakdown": [b["text"] for b in lead.score_breakdown],
        "recent_events": [{"type": e["type"], "at": e["occurred_at"].isoformat(),
                           "path": (e.get("properties") or {}).get("path", "")} for e in recent],
        "consent": lead.consent,
    }
    who = lead.name or lead.email
    return HandoffTask(company=lead.company, lead=lead, stream="consulting", threshold=threshold, score=lead.score,
                       title=f"Consulting hand-off: {who} scored {lead.score} (> {threshold})"[:200],
                       context=context, created_at=now)


def handoff_close(*, task: HandoffTask, status: str, actor=None, now=None) -> HandoffTask:
    """A person finished (done) or set aside (dismissed) an open hand-off; closed tasks stay closed."""
    from autonomax.errors import ConflictError  # noqa: PLC0415

    if status not in (HandoffTask.Status.DONE, HandoffTask.Status.DISMISSED):
        raise ValueError(status)
    updated = HandoffTask.objects.filter(pk=task.pk, status=HandoffTask.Status.OPEN).update(
        status=status, closed_at=now or timezone.now(),
        assignee=actor if getattr(actor, "is_authenticated", False) else task.assignee)
    if not updated:
        raise ConflictError("This hand-off is already closed.")
    task.refresh_from_db()
    return task
