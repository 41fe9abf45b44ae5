"""Benchmark: API lists of 50 rows (missions, orders, KPIs) against a bare view returning `.values()` of the
same rows, in the same process, database and middleware stack.

    python bench/api_lists.py [--requests 200] [--runs 3]

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/autonomax_bench_api), created, migrated and seeded with the demo shop
(`seed_demo --slug bench-api`, one cycle run, missions copied up to 60) on first use. Requests go through
Django's test client (the full middleware, token authentication, throttling and pagination for the API;
none of those for the bare view). Project and baseline alternate request by request, so load on the
machine hits both alike. Prints per list: ms per request for each, the ratio, and queries per request.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("API_THROTTLE_USER", "100000000/minute")  # throttled as usual, never refused
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")  # the cache throttling uses, as deployed
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL",
                                            "postgres://postgres@127.0.0.1:5432/autonomax_bench_api")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

LISTS = [("missions", "/api/v1/missions/?limit=50", "/bench/missions/"),
         ("orders", "/api/v1/orders/?limit=50", "/bench/orders/"),
         ("kpis", "/api/v1/kpis/", "/bench/kpis/")]


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare():
    from django.core.management import call_command
    from django.db import connection

    from autonomax.authentication import api_token_create
    from autonomax.models import Company, Membership
    from bench.api_lists_urls import SLUG
    from chimera.commander.models import Job, Mission
    from chimera.commander.services.cycle import cycle_run_company

    call_command("migrate", verbosity=0)
    company = Company.objects.filter(slug=SLUG).first()
    if company is None:
        with open(os.devnull, "w") as devnull:
            call_command("seed_demo", slug=SLUG, stdout=devnull)
        company = Company.objects.get(slug=SLUG)
        cycle_run_company(company=company)
        missions = list(Mission.objects.filter(company=company))
        jobs = {m.pk: list(Job.objects.filter(mission=m)) for m in missions}
        for n in range(60 - len(missions)):
            source = missions[n % len(missions)]
            copy = Mission.objects.get(pk=source.pk)
            copy.pk, copy.correlation_id = None, uuid.uuid4()
            copy.save()
            for job in jobs[source.pk]:
                job.pk, job.mission, job.idempotency_key = None, copy, uuid.uuid4()
                job.save()
        with connection.cursor() as cursor:  # planner statistics, as autovacuum keeps them on a live database
            cursor.execute("ANALYZE")
    membership = Membership.objects.filter(company=company, role="owner").select_related("user").first()
    _, key = api_token_create(user=membership.user, company=company)
    return key


def count_queries(connection, client, url) -> int:
    seen = []

    def counter(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        client.get(url)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])

    import django
    from django.conf import settings

    settings.ROOT_URLCONF = "bench.api_lists_urls"
    django.setup()
    from django.db import connection
    from django.test import Client

    key = prepare()
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.requests} requests each, "
          f"alternating, {args.runs} runs")
    for name, api, bare in LISTS:
        for url in (api, bare):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
        api_queries, bare_queries = count_queries(connection, client, api), count_queries(connection, client, bare)
        ratios, api_ms, bare_ms = [], [], []
        for _ in range(args.runs):
            spent = {api: 0.0, bare: 0.0}
            for _ in range(args.requests):
                for url in (api, bare):
                    started = time.perf_counter()
                    client.get(url)
                    spent[url] += time.perf_counter() - started
            api_ms.append(1000 * spent[api] / args.requests)
            bare_ms.append(1000 * spent[bare] / args.requests)
            ratios.append(spent[api] / spent[bare])
        print(f"{name:9} api {statistics.median(api_ms):6.2f} ms  bare {statistics.median(bare_ms):6.2f} ms  "
              f"ratio min/median/max {min(ratios):.2f}/{statistics.median(ratios):.2f}/{max(ratios):.2f}  "
              f"queries {api_queries} vs {bare_queries}")


if __name__ == "__main__":
    main()
