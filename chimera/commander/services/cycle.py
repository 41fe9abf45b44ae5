"""The commander cycle for each company: ingest -> evaluate -> take up new anomalies -> suggest -> start
approved -> log due evidence.

One company's failure never stops the others; a company whose cycle is
already running is skipped (a CycleLock row claimed with one conditional
UPDATE: atomic on SQLite and PostgreSQL, and its time to live is four times
the beat interval so a slow cycle keeps it); a dry run ("silent cycle")
computes everything inside a transaction that is rolled back, sends no
alerts and queues nothing.
"""

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from autonomax.models import Company

from ..models import CycleLock
from .evidence import evidence_log_due
from .jobs import missions_resume
from .missions import missions_auto_approve, missions_start, missions_suggest

logger = logging.getLogger(__name__)

# Far longer than any cycle (a Celery cycle task is killed after CELERY_TASK_TIME_LIMIT); only a claim left by a
# process that died is ever waited out.
LOCK_SECONDS = 60 * 60


def cycle_lock_acquire(*, company: Company, token: str, now=None) -> bool:
    """Claim the company's cycle for `token`; False when another live claim holds it."""
    now = now or timezone.now()
    CycleLock.objects.bulk_create([CycleLock(company=company)], ignore_conflicts=True)
    return bool(CycleLock.objects.filter(company=company).filter(Q(owner="") | Q(expires_at__lt=now))
                .update(owner=token, expires_at=now + timedelta(seconds=LOCK_SECONDS)))


def cycle_lock_release(*, company: Company, token: str) -> None:
    """Give the claim back, only if it is still ours (an expired claim may have been taken over)."""
    CycleLock.objects.filter(company=company, owner=token).update(owner="", expires_at=None)


def cycle_run_company(*, company: Company, now=None, dry_run: bool = False) -> dict:
    """Run one company's cycle; returns its report."""
    from kpis.selectors import anomalies_new, kpi_current  # noqa: PLC0415 - KPIs are read through their services
    from kpis.services import anomalies_notice, kpis_evaluate, metrics_ingest  # noqa: PLC0415

    now = now or timezone.now()
    token = uuid.uuid4().hex
    if not cycle_lock_acquire(company=company, token=token):
        return {"company": company.slug, "skipped": "a cycle is already running for this company",
                "dry_run": dry_run}
    try:
        with transaction.atomic():
            metrics_ingest(company=company, now=now)
            kpis_evaluate(company=company, now=now, send_alerts=not dry_run)
            kpis = kpi_current(company=company)
            # Each anomaly is new once: this cycle takes it up (revenue ones alert), later cycles never see it.
            anomalies = anomalies_notice(company=company, anomalies=anomalies_new(company=company, now=now),
                                         now=now, send_alerts=not dry_run)
            suggested = missions_suggest(company=company, kpis=kpis, now=now, anomalies=anomalies)
            auto = missions_auto_approve(company=company)
            started = missions_start(company=company)
            resumed = missions_resume(company=company)
            evidence = evidence_log_due(company=company, kpis=kpis, now=now)
            report = {
                "company": company.slug, "dry_run": dry_run, "at": now.isoformat(),
                "kpis": {k: {"status": v.get("status"), "value": None if v.get("value") is None else str(v["value"])}
                         for k, v in sorted(kpis.items())},
                "anomalies": [a["text"] for a in anomalies],
                "suggested": [{"mission": m.pk, "play": m.play_snapshot["key"], "score": str(m.score),
                               "factors": m.score_factors, "explanation": m.explanation, "policy": m.policy,
                               "rank": m.policy_rank,
                               "propensity": None if m.propensity is None else str(m.propensity)}
                              for m in suggested],
                "auto_approved": [m.play_snapshot["key"] for m in auto],
                "started": [m.play_snapshot["key"] for m in started],
                "resumed_jobs": resumed,
                "evidence": [{"play": r.play.key, "verdict": r.verdict, "success": r.success, "method": r.method,
                              "effect_rel": r.effect_rel, "ci_low": r.ci_low, "ci_high": r.ci_high,
                              "notes": r.notes} for r in evidence],
            }
            if dry_run:
                transaction.set_rollback(True)
        return report
    finally:
        cycle_lock_release(company=company, token=token)


def cycle_run(*, slug: str | None = None, dry_run: bool = False, now=None) -> list[dict]:
    """Every active company (or one), each isolated: an exception is reported and the next company runs."""
    companies = Company.objects.filter(is_active=True).order_by("pk")
    if slug:
        companies = companies.filter(slug=slug)
    reports = []
    for company in companies:
        try:
            reports.append(cycle_run_company(company=company, now=now, dry_run=dry_run))
        except Exception as exc:  # noqa: BLE001 - one company's failure never stops the others
            logger.exception("commander cycle failed for %s", company.slug)
            reports.append({"company": company.slug, "error": f"{type(exc).__name__}: {exc}", "dry_run": dry_run})
    return reports


def cycle_report_text(report: dict) -> str:
    """A plain-text report for the commands."""
    lines = [f"== {report['company']}{' (dry run: nothing was changed)' if report.get('dry_run') else ''}"]
    if "error" in report:
        return "\n".join([*lines, f"   FAILED: {report['error']}"])
    if "skipped" in report:
        return "\n".join([*lines, f"   skipped: {report['skipped']}"])
    lines.append("   KPIs: " + ", ".join(f"{k}={v['value']} {str(v['status']).upper()}"
                                         for k, v in report["kpis"].items()) or "none")
    for text in report.get("anomalies", []):
        lines.append(f"   new anomaly: {text}")
    lines.append(f"   suggested missions: {len(report['suggested'])}")
    for s in report["suggested"]:
        lines.append(f"   - {s['play']} score {s['score']}: {s['explanation']}")
    for name in ("auto_approved", "started"):
        if report[name]:
            lines.append(f"   {name.replace('_', ' ')}: {', '.join(report[name])}")
    for e in report["evidence"]:
        lines.append(f"   evidence {e['play']}: {e['verdict'].upper()} - {e['notes']}")
    return "\n".join(lines)
