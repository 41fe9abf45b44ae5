"""Benchmark: one full KPI cycle (INGEST_METRICS + EVALUATE_KPIS) on a big company, against
hand-written SQL computing the same figures of every metric family (orders, refunds, customers, leads, AI
calls, jobs, missions, tickets, segments) over the same windows and rows: one statement per family.

    python bench/kpi_eval.py [--orders 1000000 --leads 200000 --tickets 50000] [--keep]

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/autonomax_bench_kpis), created and migrated if needed.
Data is generated inside PostgreSQL with generate_series (seeded, so runs are comparable).
Prints timings (median of REPEAT runs), query counts and the ratio; never part of the test suite.
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
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/autonomax_bench_kpis")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost")

REPEAT = 5
SLUG = "bench"


def database_ensure(*, fresh: bool) -> None:
    """Create the bench database; `fresh` drops it first (faster than deleting a million rows)."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    admin = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                            password=db["PASSWORD"] or None, dbname="postgres", autocommit=True)
    if fresh:
        admin.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
    if not exists:
        admin.execute(f'CREATE DATABASE "{db["NAME"]}"')
    admin.close()


def _filler(cursor, table: str, given: dict[str, str]) -> tuple[str, str]:
    """Column list and SELECT expressions: `given` plus a neutral value for every other NOT NULL
    column, so the bench keeps working when other apps add required fields."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL AND column_name <> 'id'", [table])
    neutral = {"character varying": "''", "text": "''", "boolean": "false", "uuid": "gen_random_uuid()",
               "jsonb": "'{}'::jsonb", "timestamp with time zone": "now()", "date": "current_date"}
    columns = dict(given)
    for name, data_type in cursor.fetchall():
        columns.setdefault(name, neutral.get(data_type, "0"))
    return ", ".join(columns), ", ".join(columns.values())


def data_generate(*, company, orders: int, leads: int, tickets: int) -> None:
    from django.db import connection

    customers = max(1, orders // 5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cols, exprs = _filler(cursor, "commerce_customer", {
            "company_id": "%(c)s", "email": "'c' || g || '@bench.example'",
            "created_at": "now() - random() * interval '400 days'",
        })
        cursor.execute(f"INSERT INTO commerce_customer ({cols}) SELECT {exprs} FROM generate_series(1, %(n)s) g",
                       {"c": company.pk, "n": customers})
        cursor.execute("SELECT min(id) FROM commerce_customer WHERE company_id = %s", [company.pk])
        first_customer = cursor.fetchone()[0]
        cols, exprs = _filler(cursor, "commerce_order", {
            "company_id": "%(c)s", "customer_id": "%(first)s + floor(random() * %(customers)s)::bigint",
            "status": "CASE WHEN r < 0.03 THEN 'refunded' ELSE 'fulfilled' END", "channel": "'stripe'",
            "external_id": "''", "access_token": "md5('bench' || g)", "currency": "'USD'", "total": "total",
            "amount_refunded": "CASE WHEN r < 0.03 THEN total ELSE 0 END", "created_at": "ts", "paid_at": "ts",
        })
        cursor.execute(
            f"INSERT INTO commerce_order ({cols}) SELECT {exprs} FROM (SELECT g, random() AS r, "
            "round((5 + random() * 60)::numeric, 2) AS total, now() - random() * interval '365 days' AS ts "
            "FROM generate_series(1, %(n)s) g) s",
            {"c": company.pk, "n": orders, "first": first_customer, "customers": customers})
        cols, exprs = _filler(cursor, "commerce_refund", {
            "company_id": "company_id", "order_id": "id", "amount": "total", "currency": "'USD'",
            "status": "'succeeded'", "created_at": "least(paid_at + interval '1 day', now())",
        })
        cursor.execute(f"INSERT INTO commerce_refund ({cols}) SELECT {exprs} FROM commerce_order "
                       "WHERE company_id = %s AND status = 'refunded'", [company.pk])
        cols, exprs = _filler(cursor, "growth_lead", {
            "company_id": "%(c)s", "email": "'l' || g || '@bench.example'", "score": "floor(random() * 100)::int",
            "status": "CASE WHEN conv < now() THEN 'converted' ELSE 'new' END", "consent": "true",
            "created_at": "ts", "converted_at": "CASE WHEN conv < now() THEN conv END",
        })
        cursor.execute(
            f"INSERT INTO growth_lead ({cols}) SELECT {exprs} FROM (SELECT g, ts, CASE WHEN random() < 0.15 THEN "
            "ts + random() * interval '14 days' END AS conv FROM (SELECT g, now() - random() * interval '365 days' "
            "AS ts FROM generate_series(1, %(n)s) g) a) s", {"c": company.pk, "n": leads})
        cols, exprs = _filler(cursor, "support_ticket", {
            "company_id": "%(c)s", "subject": "'Cannot download #' || g",
            "customer_email": "'t' || g || '@bench.example'", "token": "left(md5('ticket' || g), 16)",
            "channel": "'email'", "status": "CASE WHEN resolved < now() THEN 'resolved' ELSE 'open' END",
            "priority": "'normal'", "auto_resolved": "coalesce(resolved < now(), false) AND random() < 0.3",
            "created_at": "ts",
            "first_response_at": "least(ts + random() * interval '10 hours', now())",
            "resolved_at": "CASE WHEN resolved < now() THEN resolved END",
        })
        cursor.execute(
            f"INSERT INTO support_ticket ({cols}) SELECT {exprs} FROM (SELECT g, ts, CASE WHEN random() < 0.9 THEN "
            "ts + random() * interval '72 hours' END AS resolved FROM (SELECT g, now() - random() * interval "
            "'365 days' AS ts FROM generate_series(1, %(n)s) g) a) s", {"c": company.pk, "n": tickets})
        for table in ("commerce_customer", "commerce_order", "commerce_refund", "growth_lead", "support_ticket"):
            cursor.execute(f"ANALYZE {table}")


def _window_filters(column: str, windows, aggregates) -> tuple[list[str], list]:
    """`aggregates` per window as FILTERed columns; each aggregate is (SQL with {w} for the window's condition,
    whether it also takes the window's start as a parameter after the window's bounds)."""
    columns, params = [], []
    for start, end in windows:
        inside = f"{column} >= %s AND {column} < %s"
        for sql, takes_start in aggregates:
            columns.append(sql.format(w=inside))
            params += [start, end] + ([start] if takes_start else [])
    return columns, params


# Each metric family's figures, as a person would write them: one statement per family, one FILTERed
# aggregate per figure and window, over the rows of the windows' span (the same figures the registered
# families compute: commerce, growth, AI, commander, support and customers' metrics).
FAMILIES = {
    "orders": ("commerce_order o JOIN commerce_customer c ON c.id = o.customer_id", "o.company_id", "o.paid_at", "",
               [("sum(o.total) FILTER (WHERE {w})", False), ("count(*) FILTER (WHERE {w})", False),
                ("count(DISTINCT o.customer_id) FILTER (WHERE {w})", False),
                ("count(DISTINCT o.customer_id) FILTER (WHERE {w} AND c.created_at < %s)", True)]),
    "refunds": ("commerce_refund", "company_id", "created_at", "AND status = 'succeeded'",
                [("sum(amount) FILTER (WHERE {w})", False), ("count(*) FILTER (WHERE {w})", False)]),
    "customers": ("commerce_customer", "company_id", "created_at", "", [("count(*) FILTER (WHERE {w})", False)]),
    "leads": ("growth_lead", "company_id", "created_at", "",
              [("count(*) FILTER (WHERE {w})", False),
               ("count(*) FILTER (WHERE {w} AND converted_at IS NOT NULL)", False),
               ("avg(score) FILTER (WHERE {w})", False)]),
    "ai calls": ("chimera_ai_aicall", "company_id", "created_at", "",
                 [("sum(cost_usd) FILTER (WHERE {w})", False), ("count(*) FILTER (WHERE {w})", False),
                  ("count(*) FILTER (WHERE {w} AND fallback)", False)]),
    "jobs": ("commander_job", "company_id", "finished_at", "AND status IN ('succeeded', 'failed')",
             [("count(*) FILTER (WHERE {w})", False), ("count(*) FILTER (WHERE {w} AND status = 'failed')", False)]),
    "missions": ("commander_mission", "company_id", "created_at",
                 "AND status IN ('running', 'measuring', 'completed', 'failed', 'escalated')",
                 [("count(*) FILTER (WHERE {w})", False),
                  ("count(*) FILTER (WHERE {w} AND decided_by_id IS NULL AND status <> 'escalated')", False)]),
}
TICKETS = [
    ("percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_at - created_at) "
     "FILTER (WHERE {w} AND first_response_at IS NOT NULL)", False),
    ("percentile_cont(0.5) WITHIN GROUP (ORDER BY resolved_at - created_at) "
     "FILTER (WHERE {w} AND resolved_at IS NOT NULL)", False),
    ("count(*) FILTER (WHERE {w} AND resolved_at IS NOT NULL)", False),
    ("count(*) FILTER (WHERE {w} AND resolved_at IS NOT NULL AND auto_resolved)", False),
    ("avg(csat_score) FILTER (WHERE {w} AND csat_score IS NOT NULL)", False),
]
STILL_OPEN = "(resolved_at IS NULL AND status <> 'resolved')"


def hand_written_sql(windows, company_id) -> list[tuple[str, list]]:
    """Every metric family's figures over `windows`, written by hand: (statement, parameters) per family."""
    first, last = min(w[0] for w in windows), max(w[1] for w in windows)
    statements = []
    for table, owner, column, where, aggregates in FAMILIES.values():
        columns, params = _window_filters(column, windows, aggregates)
        statements.append((f"SELECT {', '.join(columns)} FROM {table} WHERE {owner} = %s {where} "
                           f"AND {column} >= %s AND {column} < %s", params + [company_id, first, last]))
    # Tickets: open at each window's end, and the created-in-window figures (medians, resolved, auto, CSAT).
    columns, params = [], []
    for _, end in windows:
        columns.append(f"count(*) FILTER (WHERE created_at < %s AND (resolved_at >= %s OR {STILL_OPEN}))")
        params += [end, end]
    more, more_params = _window_filters("created_at", windows, TICKETS)
    statements.append((f"SELECT {', '.join(columns + more)} FROM support_ticket WHERE company_id = %s "
                       f"AND created_at < %s AND (created_at >= %s OR resolved_at >= %s OR {STILL_OPEN})",
                       params + more_params + [company_id, last, first, first]))
    # Segments: each customer's latest move before the window's end, and the moves into each segment inside it.
    bounds = ", ".join("(%s::int, %s::timestamptz, %s::timestamptz)" for _ in windows)
    flat = [x for i, (start, end) in enumerate(windows) for x in (i, start, end)]
    statements.append((f"SELECT w.i, m.to_segment, count(*) FROM (VALUES {bounds}) w(i, s, e) CROSS JOIN LATERAL "
                       "(SELECT DISTINCT ON (customer_id) to_segment FROM customers_segmentmove WHERE company_id = %s "
                       "AND moved_at < w.e ORDER BY customer_id, moved_at DESC, id DESC) m GROUP BY 1, 2",
                       flat + [company_id]))
    statements.append((f"SELECT w.i, m.to_segment, count(*) FROM (VALUES {bounds}) w(i, s, e) JOIN "
                       "customers_segmentmove m ON m.company_id = %s AND m.moved_at >= w.s AND m.moved_at < w.e "
                       "GROUP BY 1, 2", flat + [company_id]))
    return statements


def timed(func, repeat=REPEAT) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        func()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true", help="reuse the generated company if it exists")
    args = parser.parse_args()

    import django

    django.setup()
    database_ensure(fresh=not args.keep)
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from autonomax.models import Company
    from kpis.models import KPIDefinition, MetricSnapshot
    from kpis.services import kpis_evaluate, kpis_load_config, metrics_ingest
    from kpis.services.ingest import DAILY_REFRESH_DAYS, day_start

    call_command("migrate", verbosity=0)
    company = Company.objects.filter(slug=SLUG).first()
    if company is None:
        company = Company.objects.create(slug=SLUG, name="Bench Store")
        began = time.perf_counter()
        data_generate(company=company, orders=args.orders, leads=args.leads, tickets=args.tickets)
        print(f"generated {args.orders:,} orders, {args.leads:,} leads, {args.tickets:,} tickets "
              f"in {time.perf_counter() - began:.1f}s", flush=True)
    kpis = kpis_load_config(company=company, path=ROOT / "configs" / "kpis.yml")
    now = timezone.now().replace(microsecond=0)

    def cycle(at):
        metrics_ingest(company=company, now=at)
        kpis_evaluate(company=company, now=at, send_alerts=False)

    # Cold: the first cycle backfills 60 daily points per metric.
    MetricSnapshot.objects.filter(company=company).delete()
    with CaptureQueriesContext(connection) as cold_queries:
        began = time.perf_counter()
        cycle(now)
        cold = time.perf_counter() - began

    # Warm: the cycle as it runs every 15 minutes.
    ticks = iter(range(1, 10_000))
    cycle(now + timedelta(minutes=15 * next(ticks)))  # fills the buffer cache like a running system
    warm = timed(lambda: cycle(now + timedelta(minutes=15 * next(ticks))))
    with CaptureQueriesContext(connection) as warm_queries:
        cycle(now + timedelta(minutes=15 * next(ticks)))
    at = now + timedelta(minutes=15 * next(ticks))

    # The same figures over the same windows as one warm cycle, by hand.
    window_days = sorted(set(k.window_days for k in kpis))
    windows = [(at - timedelta(days=d), at) for d in window_days]
    today = day_start(at)
    windows += [(today - timedelta(days=k + 1), today - timedelta(days=k)) for k in range(DAILY_REFRESH_DAYS)]
    statements = hand_written_sql(windows, company.pk)

    def run(statements):
        with connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
                cursor.fetchall()

    def baseline():
        run(statements)

    baseline()
    hand = timed(baseline)

    # Same for the cold cycle's 60 daily windows + rolling windows.
    cold_windows = [(now - timedelta(days=d), now) for d in window_days]
    cold_today = day_start(now)
    cold_windows += [(cold_today - timedelta(days=k + 1), cold_today - timedelta(days=k)) for k in range(60)]
    cold_statements = hand_written_sql(cold_windows, company.pk)

    def cold_baseline():
        run(cold_statements)

    hand_cold = timed(cold_baseline, repeat=3)

    # The query count must not depend on the number of KPIs: double them (one with a new window).
    extra = [KPIDefinition(company=company, key=f"{k.key}-copy", label=k.label, metric=k.metric,
                           direction=k.direction, target=k.target, warning_threshold=k.warning_threshold,
                           critical_threshold=k.critical_threshold,
                           window_days=14 if i == 0 else k.window_days, freshness_minutes=k.freshness_minutes)
             for i, k in enumerate(kpis)]
    KPIDefinition.objects.bulk_create(extra)
    cycle(at)
    with CaptureQueriesContext(connection) as doubled_queries:
        cycle(at + timedelta(minutes=15))
    KPIDefinition.objects.filter(company=company, key__endswith="-copy").delete()

    rows = {name: model.objects.filter(company=company).count() for name, model in _models().items()}
    print()
    print(f"rows: {', '.join(f'{n} {c:,}' for n, c in rows.items())}")
    print(f"KPIs: {len(kpis)} (windows {window_days} days); PostgreSQL {connection.pg_version // 10000}")
    print()
    print(f"{'':44}{'time':>10}{'queries':>10}")
    print(f"{'cold cycle (backfills 60 daily points)':44}{cold * 1000:>8.0f}ms{len(cold_queries):>10}")
    print(f"{'hand-written SQL, every family, same windows':44}{hand_cold * 1000:>8.0f}ms{len(cold_statements):>10}")
    print(f"{'warm cycle: ingest + evaluate, all KPIs':44}{warm * 1000:>8.0f}ms{len(warm_queries):>10}")
    print(f"{'hand-written SQL, every family, same windows':44}{hand * 1000:>8.0f}ms{len(statements):>10}")
    print(f"{'warm cycle with 2x KPIs (one new window)':44}{'':>10}{len(doubled_queries):>10}")
    print()
    print(f"ratio warm cycle / hand-written SQL: {warm / hand:.2f}x (goal < 3x)")
    print(f"ratio cold cycle / hand-written SQL: {cold / hand_cold:.2f}x")
    print(f"query count independent of KPI count: {len(warm_queries) == len(doubled_queries)} "
          f"({len(warm_queries)} vs {len(doubled_queries)})")


def _models():
    from commerce.models import Customer, Order, Refund
    from growth.models import Lead
    from support.models import Ticket

    return {"orders": Order, "refunds": Refund, "customers": Customer, "leads": Lead, "tickets": Ticket}


if __name__ == "__main__":
    main()
