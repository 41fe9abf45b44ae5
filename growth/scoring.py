"""Lead scoring: per-company rules, caps and time decay, a breakdown a person can read, and the hand-off.

The score is recomputed whenever an event arrives (not nightly), incrementally:
each lead keeps a small state folded from its events (`score_state_fold`), and
the score is that state evaluated at a time (`score_evaluate`), so an event
costs its own fold, not a reread of the lead's history. `score_compute` (the
whole history folded at once) is what the incremental path always equals.
`leads_rescore` locks the leads, folds their new events, stores the score with
its breakdown, records the change, and fires the threshold action once per
crossing: when the score goes above the hand-off threshold a HandoffTask is
created for a person; it fires again only after the score fell back to or below
the threshold and rose again.
"""

import hashlib
import json
import math
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
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


DAY_US = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# An event older than this many half-lives is worth less than 1e-19 of its points: it is dropped from the
# state (and from every evaluation), so a lead's state stays bounded however long it lives.
HORIZON_HALF_LIVES = 64


def _us(at: datetime) -> int:
    """Microseconds since the epoch: exact, so every path computes the same ages from the same integers."""
    return (at - EPOCH) // timedelta(microseconds=1)


def _at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def rules_fingerprint(rules: list[Rule]) -> str:
    """Changes whenever a rule changes: a state folded under other rules is rebuilt from the lead's events."""
    return hashlib.sha256(repr([astuple(r) for r in rules]).encode()).hexdigest()[:16]


def _claiming_rule(rules: list[Rule], event: dict) -> Rule | None:
    """The rule an event counts for: the first matching event rule, specific (property filter) before general."""
    for rule in rules:
        if rule.kind == "event" and _event_matches(rule, event):
            return rule
    return None


def _event_order(rules: list[Rule]) -> list[Rule]:
    return sorted(rules, key=lambda r: (r.kind != "event", not r.property_name))


def score_state_fold(*, state: dict | None, events, rules: list[Rule], now: datetime) -> dict:
    """Fold events ({id?, type, occurred_at, properties}) into a lead's scoring state; returns a new state.

    The state keeps, per event rule, the count, the latest time and (for decaying rules) the event times
    still inside the horizon; plus the latest event of any kind and the highest event id folded. It is all
    a score needs: folding new events into it gives exactly what folding the whole history does.
    """
    state = {"v": rules_fingerprint(rules), "id": 0, "last": None, "rules": {}} if state is None else {
        **state, "rules": {k: {**v, "times": list(v.get("times", ()))} for k, v in state["rules"].items()}}
    ordered = _event_order(rules)
    now_us = _us(now)
    for event in events:
        at = _us(event["occurred_at"])
        state["last"] = at if state["last"] is None else max(state["last"], at)
        state["id"] = max(state["id"], event.get("id") or 0)
        rule = _claiming_rule(ordered, event)
        if rule is None:
            continue
        entry = state["rules"].setdefault(rule.key, {"n": 0, "latest": at, "times": []})
        entry["n"] += 1
        entry["latest"] = max(entry["latest"], at)
        if rule.half_life_days:
            entry["times"].append(at)
    for rule in ordered:
        entry = state["rules"].get(rule.key)
        if entry and rule.half_life_days:
            oldest = now_us - HORIZON_HALF_LIVES * rule.half_life_days * DAY_US
            entry["times"] = sorted(t for t in entry["times"] if t >= oldest)
    return state


def rule_raw_points(*, rule: Rule, entry: dict, now_us: int) -> float:
    """An event rule's points before its cap: decayed per event, or points × count."""
    if not rule.half_life_days:
        return float(rule.points * entry["n"])
    oldest = now_us - HORIZON_HALF_LIVES * rule.half_life_days * DAY_US
    raw = 0.0
    for at in entry["times"]:
        if at >= oldest:
            raw += rule.points * 0.5 ** (max(now_us - at, 0) / DAY_US / rule.half_life_days)
    return raw


def field_rule_matches(*, rule: Rule, lead: Lead) -> bool:
    value = _field_value(lead, rule.field_name)
    return value is not None and str(value).strip().lower() == rule.field_value.strip().lower()


def idle_days(*, lead: Lead, state: dict, now: datetime) -> float:
    times = [t for t in (state["last"] and _at(state["last"]), lead.last_activity_at or lead.created_at) if t]
    return (now - max(times)).total_seconds() / 86400


def score_evaluate(*, lead: Lead, state: dict, rules: list[Rule], group: GrowthSettings,
                   now: datetime) -> tuple[int, list[dict]]:
    """(score 0-100, breakdown) from a folded state and the lead's fields, at `now`.

    Each event rule sums its events, each worth `points * 0.5 ** (age / half_life)`, capped at `cap`;
    an event matched by a more specific rule (one with a property filter) is not counted again by a
    general rule of the same type. Field rules add their points once. No activity for
    `inactivity_days` adds `inactivity_points`.
    """
    breakdown: list[dict] = []
    total = 0.0
    now_us = _us(now)
    for rule in _event_order(rules):
        if rule.kind == "event":
            entry = state["rules"].get(rule.key)
            if not entry:
                continue
            count = entry["n"]
            raw = rule_raw_points(rule=rule, entry=entry, now_us=now_us)
            capped = raw
            if rule.cap is not None:
                capped = max(min(raw, rule.cap), -rule.cap)
            points = round(capped)
            if points == 0:
                continue
            when = ago((now - _at(entry["latest"])).total_seconds())
            text = f"{_signed(points)} {rule.label}"
            text += f" {when}" if count == 1 else f" \u00d7{count}, latest {when}"
            notes = []
            if rule.half_life_days and round(raw) != count * rule.points:
                notes.append(f"decayed, halves every {rule.half_life_days} days")
            if rule.cap is not None and abs(raw) > rule.cap:
                notes.append(f"capped at {rule.cap}")
            if notes:
                text += f" ({'; '.join(notes)})"
            breakdown.append({"rule": rule.key, "label": rule.label, "points": points, "count": count,
                              "text": text})
            total += capped
        else:
            if not field_rule_matches(rule=rule, lead=lead):
                continue
            value = _field_value(lead, rule.field_name)
            breakdown.append({"rule": rule.key, "label": rule.label, "points": rule.points, "count": 1,
                              "text": f"{_signed(rule.points)} {rule.label} ({rule.field_name}: {value})"})
            total += rule.points
    idle = idle_days(lead=lead, state=state, now=now)
    if group.inactivity_days and group.inactivity_points and idle >= group.inactivity_days:
        points = group.inactivity_points
        breakdown.append({"rule": "inactivity", "label": "no activity", "points": points, "count": 1,
                          "text": f"{_signed(points)} no activity for {math.floor(idle)} days"})
        total += points
    return max(0, min(100, round(total))), breakdown


def score_compute(*, lead: Lead, events: list[dict], rules: list[Rule], group: GrowthSettings,
                  now: datetime) -> tuple[int, list[dict]]:
    """The score from the lead's whole history (what the incremental path must always agree with)."""
    state = score_state_fold(state=None, events=events, rules=rules, now=now)
    return score_evaluate(lead=lead, state=state, rules=rules, group=group, now=now)


def _new_events_by_lead(*, company: Company, starts: dict[int, int]) -> dict[int, list[dict]]:
    """Each lead's events after the last one its state holds (all of them for a state to rebuild), one query."""
    events: dict[int, list[dict]] = {pk: [] for pk in starts}
    if not starts:
        return events
    condition = Q()
    for pk, start in starts.items():
        condition |= Q(lead_id=pk, pk__gt=start) if start else Q(lead_id=pk)
    for row in (LeadEvent.objects.filter(condition, company=company)
                .values("id", "lead_id", "type", "occurred_at", "properties")):
        events[row["lead_id"]].append(row)
    return events


def leads_rescore(*, company: Company, lead_ids, now=None, reason: str = "event") -> dict:
    """Rescore these leads (locked, in id order); fire hand-offs on upward crossings.

    Incremental: each lead's stored state (`Lead.score_state`) takes in only the events stored since it
    was last folded (event ids only grow for a locked lead: writers lock the lead before adding events);
    a lead without a state, or with one folded under other rules, is rebuilt from its whole history.
    When the company's learned model is in use (growth.learned), it scores from the same state.
    Constant query count for any number of leads: one lock, one events read, bulk writes.
    """
    from .capture import growth_settings_for  # noqa: PLC0415
    from .learned import lead_model_active, model_score  # noqa: PLC0415 - the model builds on this module

    now = now or timezone.now()
    ids = sorted(set(lead_ids))
    if not ids:
        return {"rescored": 0, "changed": 0, "handoffs": 0}
    group = growth_settings_for(company=company)
    rules = rules_for(company=company)
    fingerprint = rules_fingerprint(rules)
    model = lead_model_active(company=company, fingerprint=fingerprint)
    with transaction.atomic():
        leads = list(Lead.objects.select_for_update().filter(company=company, pk__in=ids).order_by("pk"))
        current = {lead.pk: lead.score_state if (lead.score_state or {}).get("v") == fingerprint else None
                   for lead in leads}
        new_events = _new_events_by_lead(company=company,
                                         starts={pk: (state or {}).get("id", 0) for pk, state in current.items()})
        changed, changes, crossed_leads = [], [], []
        for lead in leads:
            state = score_state_fold(state=current[lead.pk], events=new_events[lead.pk], rules=rules, now=now)
            if model is None:
                score, breakdown = score_evaluate(lead=lead, state=state, rules=rules, group=group, now=now)
            else:
                score, breakdown = model_score(model=model, lead=lead, state=state, rules=rules, now=now)
            above = score > group.handoff_threshold
            crossed = above and not lead.above_handoff
            if score != lead.score:
                changes.append(LeadScoreChange(company=company, lead=lead, old_score=lead.score, new_score=score,
                                               reason=reason[:200], created_at=now))
            if score != lead.score or breakdown != lead.score_breakdown or above != lead.above_handoff \
                    or lead.scored_at is None or state != lead.score_state:
                lead.score, lead.score_breakdown, lead.above_handoff, lead.scored_at = score, breakdown, above, now
                lead.score_state = state
                if crossed and lead.status in (Lead.Status.NEW, Lead.Status.NURTURING):
                    lead.status = Lead.Status.QUALIFIED
                changed.append(lead)
            if crossed:
                crossed_leads.append(lead)
        if changed:
            _leads_write(changed)
        if changes:
            LeadScoreChange.objects.bulk_create(changes)
        handoffs = [_handoff_for(lead=lead, threshold=group.handoff_threshold, now=now) for lead in crossed_leads]
        if handoffs:
            HandoffTask.objects.bulk_create(handoffs)
    return {"rescored": len(leads), "changed": len(changes), "handoffs": len(handoffs)}


SCORE_FIELDS = ["score", "score_breakdown", "score_state", "above_handoff", "scored_at", "status"]


def _leads_write(leads: list[Lead]) -> None:
    """The rescored leads in one statement. Django's bulk_update writes a CASE per column with a branch per
    row (quadratic in the batch: most of the old rescoring time); PostgreSQL gets UPDATE ... FROM (VALUES)."""
    if connection.vendor != "postgresql":
        Lead.objects.bulk_update(leads, SCORE_FIELDS)
        return
    table = Lead._meta.db_table
    rows, params = [], []
    for lead in leads:
        rows.append("(%s, %s, %s::jsonb, %s::jsonb, %s, %s::timestamptz, %s)")
        params += [lead.pk, lead.score, json.dumps(lead.score_breakdown), json.dumps(lead.score_state),
                   lead.above_handoff, lead.scored_at, lead.status]
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{table}" AS l SET score = v.score, score_breakdown = v.breakdown, score_state = v.state, '
            f"above_handoff = v.above, scored_at = v.scored_at, status = v.status "
            f"FROM (VALUES {', '.join(rows)}) AS v(id, score, breakdown, state, above, scored_at, status) "
            f"WHERE l.id = v.id", params)


def _handoff_for(*, lead: Lead, threshold: int, now) -> HandoffTask:
    recent = list(LeadEvent.objects.filter(lead=lead).order_by("-occurred_at")
                  .values("type", "occurred_at", "properties")[:10])
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
