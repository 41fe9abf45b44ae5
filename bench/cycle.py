"""Benchmark: the commander cycle over many companies with demo-sized data.

    python bench/cycle.py [--companies 100] [--baseline 10]

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/autonomax_bench_cycle), created and migrated
if needed. Each company gets the demo history (`seed_demo --slug bench-NNN`: 90
days, ~650 orders, ~1000 leads, ~235 tickets), its KPIs and the playbook; they
are kept between runs so a re-run only measures.

Every measured cycle is a dry run (computed in full, rolled back) so runs are
repeatable. Printed side by side:
  1. baseline (first N companies) vs all companies: seconds and queries per company;
  2. plays x1 vs x3 and KPIs x1 vs x2 on the same companies: queries per company
     (the commander reads plays, missions and evidence in a fixed number of queries).
"""

import argparse
import os
import sys
import time
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


def measure(companies, cycle_run_company, connection, CaptureQueriesContext) -> tuple[float, float, int]:
    """(seconds per company, queries per company, missions suggested) over dry-run cycles."""
    queries = suggested = 0
    started = time.perf_counter()
    for company in companies:
        with CaptureQueriesContext(connection) as ctx:
            report = cycle_run_company(company=company, dry_run=True)
        if "error" in report or "skipped" in report:
            raise SystemExit(f"cycle failed for {company.slug}: {report}")
        # Transaction control differs inside the plays/KPIs experiment (savepoints): count real statements.
        queries += sum(1 for q in ctx.captured_queries if not q["sql"].startswith(CONTROL))
        suggested += len(report["suggested"])
    elapsed = time.perf_counter() - started
    return elapsed / len(companies), queries / len(companies), suggested


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--baseline", type=int, default=10)
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from autonomax.models import Company
    from chimera.commander.models import Play
    from chimera.commander.services.cycle import cycle_run_company
    from kpis.models import KPIDefinition

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
    plays = Play.objects.filter(company=companies[0]).count()
    kpis = KPIDefinition.objects.filter(company=companies[0], is_active=True).count()
    print(f"{len(companies)} companies, {plays} plays and {kpis} KPIs each; every cycle is a dry run (rolled back)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (shared machines make seconds noisy;"
          f" query counts are exact)")

    measure(companies[:2], cycle_run_company, connection, CaptureQueriesContext)  # warm up
    base = measure(companies[:args.baseline], cycle_run_company, connection, CaptureQueriesContext)
    full_started = time.perf_counter()
    full = measure(companies, cycle_run_company, connection, CaptureQueriesContext)
    full_total = time.perf_counter() - full_started

    print()
    print(f"{'':32}{'baseline':>14}{'all':>14}{'ratio':>8}")
    print(f"{'companies':32}{args.baseline:>14}{len(companies):>14}{len(companies) / args.baseline:>8.1f}")
    print(f"{'seconds per company':32}{base[0]:>14.3f}{full[0]:>14.3f}{full[0] / base[0]:>8.2f}")
    print(f"{'queries per company':32}{base[1]:>14.1f}{full[1]:>14.1f}{full[1] / base[1]:>8.2f}")
    print(f"{'missions suggested':32}{base[2]:>14}{full[2]:>14}")
    print(f"total time for {len(companies)} companies: {full_total:.1f}s")

    # Same companies with three times the plays (copies, all triggerable) and twice the KPIs.
    sample = companies[:args.baseline]
    with transaction.atomic():
        for company in sample:
            originals = list(Play.objects.filter(company=company))
            Play.objects.bulk_create([
                Play(company=company, key=f"{p.key}-copy{n}", label=p.label, owner=p.owner, level=p.level,
                     autonomy=p.autonomy, trigger=p.trigger, impact=p.impact, effort=p.effort, job_plan=p.job_plan,
                     measure_after_hours=p.measure_after_hours, kpis=p.kpis, prior_alpha=p.prior_alpha,
                     prior_beta=p.prior_beta, success_criterion=p.success_criterion)
                for p in originals for n in (1, 2)])
        plays3 = measure(sample, cycle_run_company, connection, CaptureQueriesContext)
        for company in sample:
            originals = list(KPIDefinition.objects.filter(company=company, is_active=True))
            for kpi in originals:
                kpi.pk, kpi.key = None, f"{kpi.key}-copy"[:64]
            KPIDefinition.objects.bulk_create(originals)
        kpis2 = measure(sample, cycle_run_company, connection, CaptureQueriesContext)
        transaction.set_rollback(True)

    print()
    print(f"{'same ' + str(len(sample)) + ' companies':32}{'x1':>14}{'plays x3':>14}{'ratio':>8}"
          f"{'+KPIs x2':>14}{'ratio':>8}")
    print(f"{'queries per company':32}{base[1]:>14.1f}{plays3[1]:>14.1f}{plays3[1] / base[1]:>8.2f}"
          f"{kpis2[1]:>14.1f}{kpis2[1] / base[1]:>8.2f}")
    print(f"{'seconds per company':32}{base[0]:>14.3f}{plays3[0]:>14.3f}{plays3[0] / base[0]:>8.2f}"
          f"{kpis2[0]:>14.3f}{kpis2[0] / base[0]:>8.2f}")
    print(f"{'missions suggested':32}{base[2]:>14}{plays3[2]:>14}{'':>8}{kpis2[2]:>14}")


if __name__ == "__main__":
    main()
