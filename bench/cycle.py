"""Benchmark: the commander cycle over many companies with demo-sized data.

    python bench/cycle.py [--companies 100] [--baseline 10] [--runs 3]

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/autonomax_bench_cycle), created and migrated
if needed. Each company gets the demo history (`seed_demo --slug bench-NNN`: 90
days, ~650 orders, ~1000 leads, ~235 tickets), its KPIs and the playbook; they
are kept between runs so a re-run only measures. The seeded companies never keep a
cycle: everything the bench runs is rolled back.

Printed side by side:
  1. the first cycle of a new company (it backfills 60 daily points per metric) against
     its steady cycle (15 minutes later, after that first cycle): seconds and queries,
     company by company (interleaved), `--runs` times over the baseline companies;
  2. steady cycles of the baseline companies vs all companies: seconds and queries per company;
  3. first cycles with plays x3 and KPIs x2 on the same companies: queries per company
     (the commander reads plays, missions and evidence in a fixed number of queries).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL",
                                            "postgres://postgres@127.0.0.1:5432/autonomax_bench_cycle")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK", "COMMIT")
STEADY_AFTER = timedelta(minutes=15)  # the beat interval


def timed_cycle(company, now, cycle_run_company, connection, CaptureQueriesContext) -> tuple[float, int, int]:
    """(seconds, queries, missions suggested) of one dry-run cycle (computed in full, rolled back)."""
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        report = cycle_run_company(company=company, now=now, dry_run=True)
        elapsed = time.perf_counter() - started
    if "error" in report or "skipped" in report:
        raise SystemExit(f"cycle failed for {company.slug}: {report}")
    # Transaction control differs inside the outer transactions of this bench (savepoints): count real statements.
    return elapsed, sum(1 for q in ctx.captured_queries if not q["sql"].startswith(CONTROL)), len(report["suggested"])


def measure(companies, now, *tools) -> tuple[float, float, int]:
    """(seconds per company, queries per company, missions suggested) over dry-run cycles."""
    runs = [timed_cycle(company, now, *tools) for company in companies]
    return (sum(r[0] for r in runs) / len(runs), sum(r[1] for r in runs) / len(runs), sum(r[2] for r in runs))


def first_and_steady(company, now, transaction, *tools) -> tuple[tuple, tuple]:
    """The company's first cycle (no history stored yet), then its steady cycle STEADY_AFTER later; rolled back."""
    cycle_run_company = tools[0]
    with transaction.atomic():
        first = timed_cycle(company, now, *tools)
        cycle_run_company(company=company, now=now)  # the first cycle, kept until the rollback below
        steady = timed_cycle(company, now + STEADY_AFTER, *tools)
        transaction.set_rollback(True)
    return first, steady


def spread(values) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--baseline", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="repetitions of the first-vs-steady comparison")
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from autonomax.models import Company
    from chimera.commander.models import Play
    from chimera.commander.services.cycle import cycle_run_company
    from kpis.models import KPIDefinition, MetricSnapshot
    from kpis.services.ingest import DAILY_HISTORY_DAYS

    tools = (cycle_run_company, connection, CaptureQueriesContext)
    call_command("migrate", verbosity=0)
    cache.clear()
    seeded = 0
    started = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        for n in range(args.companies):
            slug = f"bench-{n:03d}"
            if not Company.objects.filter(slug=slug).exists():
                call_command("seed_demo", slug=slug, stdout=devnull)
                seeded += 1
    if seeded:
        print(f"seeded {seeded} companies with the demo history in {time.perf_counter() - started:.1f}s")
    companies = list(Company.objects.filter(slug__startswith="bench-").order_by("slug")[:args.companies])
    if MetricSnapshot.objects.filter(company__in=companies).exists():
        raise SystemExit("the bench companies have stored metrics: their first cycle cannot be measured")
    plays = Play.objects.filter(company=companies[0]).count()
    kpis = KPIDefinition.objects.filter(company=companies[0], is_active=True).count()
    sample = companies[:args.baseline]
    print(f"{len(companies)} companies, {plays} plays and {kpis} KPIs each; every cycle is a dry run (rolled back)")
    print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          "(shared machines make seconds noisy; query counts are exact)")
    now = timezone.now()
    first_and_steady(companies[0], now, transaction, *tools)  # warm up

    # 1. First cycle vs steady cycle, company by company.
    print()
    print(f"first cycle (backfills {DAILY_HISTORY_DAYS} daily points) vs steady cycle, "
          f"{len(sample)} companies x {args.runs} runs")
    print(f"{'run':>4}{'first s (median)':>18}{'steady s (median)':>19}{'ratio':>8}{'first q':>9}{'steady q':>10}")
    ratios = []
    for run in range(1, args.runs + 1):
        pairs = [first_and_steady(company, now, transaction, *tools) for company in sample]
        first_s = statistics.median(p[0][0] for p in pairs)
        steady_s = statistics.median(p[1][0] for p in pairs)
        ratios.append(first_s / steady_s)
        print(f"{run:>4}{first_s:>18.3f}{steady_s:>19.3f}{ratios[-1]:>8.2f}"
              f"{statistics.median(p[0][1] for p in pairs):>9.0f}{statistics.median(p[1][1] for p in pairs):>10.0f}")
    print(f"ratio first / steady, min / median / max over {args.runs} runs: {spread(ratios)} (goal <= 2)")

    # 2 and 3 on steady cycles: every company has had its first cycle, all rolled back at the end.
    with transaction.atomic():
        for company in companies:
            cycle_run_company(company=company, now=now)
        later = now + STEADY_AFTER
        measure(companies[:2], later, *tools)  # warm up
        base = measure(sample, later, *tools)
        full_started = time.perf_counter()
        full = measure(companies, later, *tools)
        full_total = time.perf_counter() - full_started

        print()
        print(f"{'steady cycles':32}{'baseline':>14}{'all':>14}{'ratio':>8}")
        print(f"{'companies':32}{args.baseline:>14}{len(companies):>14}{len(companies) / args.baseline:>8.1f}")
        print(f"{'seconds per company':32}{base[0]:>14.3f}{full[0]:>14.3f}{full[0] / base[0]:>8.2f}")
        print(f"{'queries per company':32}{base[1]:>14.1f}{full[1]:>14.1f}{full[1] / base[1]:>8.2f}")
        print(f"{'missions suggested':32}{base[2]:>14}{full[2]:>14}")
        print(f"total time for {len(companies)} companies: {full_total:.1f}s")
        transaction.set_rollback(True)

    # Same new companies with three times the plays (copies, all triggerable) and twice the KPIs: first cycles,
    # so that every variant suggests missions (in a steady cycle only the copies would).
    with transaction.atomic():
        base_first = measure(sample, now, *tools)
        for company in sample:
            originals = list(Play.objects.filter(company=company))
            Play.objects.bulk_create([
                Play(company=company, key=f"{p.key}-copy{n}", label=p.label, owner=p.owner, level=p.level,
                     autonomy=p.autonomy, trigger=p.trigger, impact=p.impact, effort=p.effort, job_plan=p.job_plan,
                     measure_after_hours=p.measure_after_hours, kpis=p.kpis, prior_alpha=p.prior_alpha,
                     prior_beta=p.prior_beta, success_criterion=p.success_criterion)
                for p in originals for n in (1, 2)])
        plays3 = measure(sample, now, *tools)
        for company in sample:
            originals = list(KPIDefinition.objects.filter(company=company, is_active=True))
            for kpi in originals:
                kpi.pk, kpi.key = None, f"{kpi.key}-copy"[:64]
            KPIDefinition.objects.bulk_create(originals)
        kpis2 = measure(sample, now, *tools)
        transaction.set_rollback(True)

    print()
    print(f"{'same ' + str(len(sample)) + ' companies, first':32}{'x1':>14}{'plays x3':>14}{'ratio':>8}"
          f"{'+KPIs x2':>14}{'ratio':>8}")
    print(f"{'queries per company':32}{base_first[1]:>14.1f}{plays3[1]:>14.1f}{plays3[1] / base_first[1]:>8.2f}"
          f"{kpis2[1]:>14.1f}{kpis2[1] / base_first[1]:>8.2f}")
    print(f"{'seconds per company':32}{base_first[0]:>14.3f}{plays3[0]:>14.3f}{plays3[0] / base_first[0]:>8.2f}"
          f"{kpis2[0]:>14.3f}{kpis2[0] / base_first[0]:>8.2f}")
    print(f"{'missions suggested':32}{base_first[2]:>14}{plays3[2]:>14}{'':>8}{kpis2[2]:>14}")


if __name__ == "__main__":
    main()
