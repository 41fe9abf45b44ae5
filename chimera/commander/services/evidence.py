"""LOG_EVIDENCE: measure each mission after its play's delay, update the playbook's beliefs, weekly review."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from autonomax.models import Company

from ..models import EvidenceRecord, Mission, Play
from ..transitions import SYSTEM, mission_move
from .alerts import owners_alert
from .missions import play_set_under_review

REVIEW_AFTER = 3  # consecutive non-successes that put a play under review


def _dec(value):
    return None if value in (None, "None", "") else Decimal(str(value))


def evidence_judge(*, criterion: dict, before: dict, after: dict, kpis: dict) -> tuple[bool, dict, str]:
    """(success, change per KPI, note) by the play's own criterion: KPI moved its good way by min_change_pct."""
    change = {}
    for key in sorted(set(before) | set(after)):
        b, a = _dec((before.get(key) or {}).get("value")), _dec((after.get(key) or {}).get("value"))
        pct = None if b in (None, 0) or a is None else ((a - b) / abs(b) * 100).quantize(Decimal("0.01"))
        change[key] = {"before": None if b is None else str(b), "after": None if a is None else str(a),
                       "abs": None if a is None or b is None else str(a - b), "pct": None if pct is None else str(pct)}
    key = criterion.get("kpi")
    wanted = Decimal(str(criterion.get("min_change_pct", 0)))
    row = change.get(key) or {}
    if row.get("pct") is None:
        return False, change, f"{key} could not be compared (before {row.get('before')}, after {row.get('after')})"
    direction = (kpis.get(key) or {}).get("direction") or (before.get(key) or {}).get("direction") or "up"
    moved = Decimal(row["pct"]) if direction == "up" else -Decimal(row["pct"])
    success = moved >= wanted
    note = (f"{key} went from {row['before']} to {row['after']} ({row['pct']}%); the play needed "
            f"{'+' if direction == 'up' else '-'}{wanted}% ({'higher' if direction == 'up' else 'lower'} is better): "
            f"{'success' if success else 'no success'}")
    return success, change, note


def _kpi_values(kpis: dict, keys) -> dict:
    return {k: {"value": None if (kpis.get(k) or {}).get("value") is None else str(kpis[k]["value"]),
                "status": (kpis.get(k) or {}).get("status"), "direction": (kpis.get(k) or {}).get("direction")}
            for k in keys}


@transaction.atomic
def evidence_log_due(*, company: Company, kpis: dict, now=None) -> list[EvidenceRecord]:
    """Record evidence for every measuring mission whose measure time has come; update plays."""
    now = now or timezone.now()
    due = list(Mission.objects.select_for_update().filter(company=company, status=Mission.Status.MEASURING,
                                                          measure_due_at__lte=now).select_related("play"))
    records = []
    for mission in due:
        snapshot = mission.play_snapshot
        keys = set(snapshot.get("kpis", [])) | {snapshot.get("success", {}).get("kpi")} - {None}
        before = {k: v for k, v in mission.trigger_values.items() if k in keys}
        after = _kpi_values(kpis, keys)
        success, change, note = evidence_judge(criterion=snapshot.get("success", {}), before=before, after=after,
                                               kpis=kpis)
        records.append(EvidenceRecord.objects.create(
            company=company, mission=mission, play=mission.play, correlation_id=mission.correlation_id,
            kpi_before=before, kpi_after=after, change=change, success=success, notes=note))
        mission_move(mission=mission, to=Mission.Status.COMPLETED if success else Mission.Status.FAILED,
                     by=SYSTEM, completed_at=now)
    for play in {m.play for m in due}:
        last = list(EvidenceRecord.objects.filter(play=play).order_by("-recorded_at", "-pk")
                    .values_list("success", flat=True)[:REVIEW_AFTER])
        if len(last) == REVIEW_AFTER and not any(last):
            play_set_under_review(play=play, reason=f"{REVIEW_AFTER} consecutive missions without success")
    return records


def weekly_review(*, company: Company, end=None) -> dict:
    """The week's evidence: what improved, what did not move, plays to continue or stop. Numbers from the data."""
    end = end or timezone.now()
    start = end - timedelta(days=7)
    records = list(EvidenceRecord.objects.filter(company=company, recorded_at__gte=start, recorded_at__lt=end)
                   .select_related("play", "mission"))
    plays = {}
    for r in records:
        entry = plays.setdefault(r.play_id, {"play": r.play, "wins": 0, "losses": 0, "notes": []})
        entry["wins" if r.success else "losses"] += 1
        entry["notes"].append(r.notes)
    all_time = {}
    for r in EvidenceRecord.objects.filter(company=company, play_id__in=plays).values("play_id", "success"):
        stats = all_time.setdefault(r["play_id"], [0, 0])
        stats[0 if r["success"] else 1] += 1
    rows = []
    for play_id, entry in plays.items():
        wins, losses = all_time.get(play_id, [0, 0])
        play = entry["play"]
        alpha, beta = Decimal(play.prior_alpha) + wins, Decimal(play.prior_beta) + losses
        probability = (alpha / (alpha + beta)).quantize(Decimal("0.01"))
        verdict = ("stop (under review)" if play.status == Play.Status.UNDER_REVIEW
                   else "continue" if probability >= Decimal("0.5") else "watch")
        rows.append({**entry, "all_wins": wins, "all_losses": losses, "probability": probability,
                     "verdict": verdict})
    rows.sort(key=lambda r: (-r["wins"], r["losses"], r["play"].key))
    return {"company": company, "start": start, "end": end, "records": records,
            "improved": [r for r in records if r.success], "unmoved": [r for r in records if not r.success],
            "plays": rows}


def weekly_review_send(*, company: Company, end=None) -> int:
    """Email the week's review to the company's owners."""
    review = weekly_review(company=company, end=end)
    body = render_to_string("commander/weekly_review.txt", review)
    return owners_alert(company=company, subject=f"Weekly review {review['start']:%Y-%m-%d} to "
                        f"{review['end']:%Y-%m-%d}", body=body)


def weekly_reviews_send(*, end=None) -> int:
    """The weekly review for every active company; returns the number of emails sent."""
    return sum(weekly_review_send(company=company, end=end) for company in Company.objects.filter(is_active=True))
