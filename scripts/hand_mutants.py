"""The hand-made mutants of issue 9 §5 (and of this hardening), each run against its tests.

mutmut (setup.cfg, `make mutmut`) mutates every function it can, but mutmut 3 skips decorated functions
(suggestion, escalation and the job state writes are still `@transaction.atomic`), and some named defects
live outside its five files (tasks, recovery, the cycle lock). This runner applies
each named defect to a copy of the project, runs the tests that should catch it, and reports killed or
survived. A mutant survives when its tests still pass.

    DATABASE_URL=postgres://... .venv/bin/python scripts/hand_mutants.py [name ...]
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEBHOOKS = "commerce/services/webhooks.py"
MISSIONS = "chimera/commander/services/missions.py"
JOBS = "chimera/commander/services/jobs.py"
BUDGET = "chimera/ai/budget.py"
EVALUATE = "kpis/services/evaluate.py"
T_WEBHOOKS = ["tests/commerce/test_webhooks_tenancy.py", "tests/commerce/test_webhooks.py"]
T_COMMANDER = ["tests/commander/test_autonomy_and_roles.py", "tests/commander/test_jobs.py",
               "tests/commander/test_approval.py"]
T_BUDGET = ["tests/ai/test_budget.py"]
T_KPIS = ["tests/kpis/test_evaluate.py"]

# name: (file, original text, mutated text, tests)
MUTANTS = {
    "stripe order_id look-up ignores the company": (
        WEBHOOKS, 'base.filter(pk=int(order_id), company__slug=metadata.get("company", ""))',
        "base.filter(pk=int(order_id))", T_WEBHOOKS),
    "shopify refund look-up ignores the company": (
        WEBHOOKS, "Order.objects.filter(company=company, channel=Order.Channel.SHOPIFY,\n"
                  '                                 external_id=str(data.get("order_id"))).first()',
        'Order.objects.filter(channel=Order.Channel.SHOPIFY, external_id=str(data.get("order_id"))).first()',
        T_WEBHOOKS),
    "unmatched checkout dropped instead of parked": (
        WEBHOOKS, 'raise PendingMatch(session.get("id") or "", company=_stripe_company(session))',
        "return _stripe_company(session)", T_WEBHOOKS),
    "event row lock removed": (
        WEBHOOKS, "WebhookEvent.objects.select_for_update().filter(pk=event_id).first()",
        "WebhookEvent.objects.filter(pk=event_id).first()", T_WEBHOOKS),
    "transient database errors not retried": (
        "commerce/tasks.py", "autoretry_for=(TransientWebhookError, OperationalError, InterfaceError)",
        "autoretry_for=()", ["tests/commerce/test_recovery.py"]),
    "recovery sweep forgets it re-enqueued": (
        "commerce/services/recovery.py", "WebhookEvent.objects.filter(pk__in=ids).update(requeued_at=now)",
        "pass", ["tests/commerce/test_recovery.py"]),
    "recovery sweep skips unsent download emails": (
        "commerce/services/recovery.py", '"delivery_emails": delivery_emails_recover(now=now)}',
        '"delivery_emails": []}', ["tests/commerce/test_recovery.py"]),
    "autopilot approves every proposed mission": (
        MISSIONS, "company=company, status=Mission.Status.PROPOSED, play_snapshot__autonomy=Play.Autonomy.AUTO,",
        "company=company, status=Mission.Status.PROPOSED,", T_COMMANDER),
    "autopilot approves strategic missions": (
        MISSIONS, ").exclude(play_snapshot__level=Play.Level.STRATEGIC))", "))", T_COMMANDER),
    "autopilot off is ignored": (
        MISSIONS, "    if not company.autopilot:\n        return []\n    missions = list(",
        "    missions = list(", T_COMMANDER),
    "role look-up ignores the company": (
        MISSIONS, "Membership.objects.filter(company=company, user=actor)", "Membership.objects.filter(user=actor)",
        T_COMMANDER),
    "strategic missions not owner-only": (
        MISSIONS, "if level == Play.Level.STRATEGIC and role != Role.OWNER:", "if False:", T_COMMANDER),
    "a halt in the middle of a job is ignored": (
        JOBS, "        if blocked:\n            raise ExecutionHalted(blocked)\n", "        pass\n", T_COMMANDER),
    "global halt does not require a superuser": (
        JOBS, 'if not getattr(actor, "is_superuser", False):', "if False:", T_COMMANDER),
    "lost queued jobs never swept": (
        JOBS, "    stuck += _jobs_requeue_or_stuck(job_ids=lost, now=now)\n", "", T_COMMANDER),
    "lifting the halt does not resume held jobs": (
        "autonomax/services.py", "            handler(company=company)", "            pass",
        ["tests/commander/test_jobs.py"]),
    "cycle lock taken while held": (
        "chimera/commander/services/cycle.py", ".filter(Q(owner=\"\") | Q(expires_at__lt=now))", "",
        ["tests/commander/test_cycle.py"]),
    "spend row look-up ignores the company": (
        BUDGET, "rows = AISpendDay.objects.filter(company=company, day=day)",
        "rows = AISpendDay.objects.filter(day=day)", T_BUDGET),
    "settle ignores the company": (
        BUDGET, "    AISpendDay.objects.filter(company=company, day=day).update(",
        "    AISpendDay.objects.filter(day=day).update(", T_BUDGET),
    "budget day in UTC, not the company's time zone": (
        BUDGET, "return timezone.localdate(timezone=tz)", 'return timezone.localdate(timezone=ZoneInfo("UTC"))',
        T_BUDGET),
    "misreported usage charged in full": (
        BUDGET, "charged = min(actual, reserved) if reserved > 0 else actual", "charged = actual", T_BUDGET),
    "no wait for in-flight reservations": (
        BUDGET, "give_up = time.monotonic() + wait_s", "give_up = time.monotonic()", T_BUDGET),
    "external metric look-up ignores the company": (
        EVALUATE, 'MetricSnapshot.objects.filter(company=OuterRef("company"), metric=OuterRef("metric")).exclude(',
        'MetricSnapshot.objects.filter(metric=OuterRef("metric")).exclude(', T_KPIS),
    "inactive KPIs evaluated": (
        EVALUATE, "KPIDefinition.objects.filter(company=company, is_active=True)",
        "KPIDefinition.objects.filter(company=company)", T_KPIS),
}


def main() -> None:
    wanted = sys.argv[1:] or list(MUTANTS)
    work = Path(tempfile.mkdtemp(prefix="hand-mutants-"))
    shutil.copytree(ROOT, work / "src", ignore=shutil.ignore_patterns(".venv", "mutants", "var", ".git",
                                                                       "__pycache__"))
    src = work / "src"
    results = {}
    for name in wanted:
        path, old, new, tests = MUTANTS[name]
        file = src / path
        original = file.read_text()
        if original.count(old) != 1:
            results[name] = "NOT APPLIED (text not found once)"
            print(f"{results[name]:10} {name}", flush=True)
            continue
        file.write_text(original.replace(old, new))
        try:
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--reuse-db",
                 "-m", "not integration and not e2e", *tests],
                cwd=src, env={**os.environ, "AUTONOMAX_VAR_DIR": str(work / "var")}, capture_output=True, text=True,
            )
        finally:
            file.write_text(original)
        results[name] = "killed" if run.returncode == 1 else "SURVIVED" if run.returncode == 0 else \
            f"error {run.returncode}"
        print(f"{results[name]:10} {name}", flush=True)
    killed = sum(1 for r in results.values() if r == "killed")
    print(f"\n{killed} of {len(results)} hand-made mutants killed")
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if killed == len(results) else 1)


if __name__ == "__main__":
    main()
