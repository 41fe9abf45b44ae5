"""Benchmark: lead events through POST /api/v1/leads/events/ (validation, idempotency, rescoring, hand-offs)
against a bare bulk insert of the same rows.

    python bench/leads.py [--events 100000 --leads 2000 --batch 500]

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/autonomax_bench_leads), dropped and migrated each run.
The API is driven in-process through Django's test client with a real token (no network).
Prints events per second for both, the share of the API time spent rescoring, scoring cost
per event, and what a full redelivery of the same batches costs (all duplicates).
"""

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/autonomax_bench_leads")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("API_THROTTLE_USER", "1000000/minute")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")

PATHS = ["/", "/pricing", "/blog/a", "/blog/b", "/product/x", "/about"]
TYPES = ["page_view"] * 6 + ["email_open"] * 2 + ["email_click", "form_submit"]


def database_fresh() -> None:
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    admin = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                            password=db["PASSWORD"] or None, dbname="postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{db["NAME"]}"')
    admin.close()


def batches_make(*, lead_ids: list[int], events: int, batch: int, start: datetime) -> list[list[dict]]:
    rng = random.Random(42)
    out, current = [], []
    for i in range(events):
        current.append({"idempotency_key": f"ev-{i}", "type": rng.choice(TYPES), "lead_id": rng.choice(lead_ids),
                        "occurred_at": (start + timedelta(seconds=i * 5)).isoformat(),
                        "properties": {"path": rng.choice(PATHS)}})
        if len(current) == batch:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    import django

    database_fresh()
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    import growth.events as growth_events
    from growth.models import HandoffTask, Lead, LeadEvent
    from tests.factories import CompanyFactory, member_with_token

    company = CompanyFactory(slug="bench-leads")
    _, key = member_with_token(company=company)
    now = datetime.now(UTC)
    start = now - timedelta(seconds=5 * args.events + 3600)
    Lead.objects.bulk_create([Lead(company=company, email=f"l{i}@bench.example", created_at=start,
                                   last_activity_at=start) for i in range(args.leads)])
    lead_ids = list(Lead.objects.filter(company=company).values_list("pk", flat=True))
    batches = batches_make(lead_ids=lead_ids, events=args.events, batch=args.batch, start=start)

    # Time spent rescoring, measured around the scoring call the events service makes.
    scoring = {"seconds": 0.0}
    original = growth_events.leads_rescore

    def timed_rescore(**kwargs):
        t0 = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            scoring["seconds"] += time.perf_counter() - t0

    growth_events.leads_rescore = timed_rescore
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")

    t0 = time.perf_counter()
    for batch in batches:
        response = client.post("/api/v1/leads/events/", {"events": batch}, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
    api_seconds = time.perf_counter() - t0
    stored = LeadEvent.objects.filter(company=company).count()
    assert stored == args.events, stored

    scoring_after_first = scoring["seconds"]
    t0 = time.perf_counter()
    for batch in batches:
        response = client.post("/api/v1/leads/events/", {"events": batch}, content_type="application/json")
        assert response.json()["duplicates"] == len(batch)
    redelivery_seconds = time.perf_counter() - t0
    assert LeadEvent.objects.filter(company=company).count() == args.events

    # The baseline: the same rows, bulk inserted with no validation, idempotency or scoring.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM growth_leadevent")
    rows = [[LeadEvent(company=company, lead_id=e["lead_id"], type=e["type"], idempotency_key=e["idempotency_key"],
                       occurred_at=datetime.fromisoformat(e["occurred_at"]), properties=e["properties"])
             for e in batch] for batch in batches]
    t0 = time.perf_counter()
    for batch in rows:
        LeadEvent.objects.bulk_create(batch)
    bare_seconds = time.perf_counter() - t0

    n = args.events
    print(f"lead events bench: {n} events, {args.leads} leads, batches of {args.batch}")
    print(f"  API (validate + store once + rescore): {api_seconds:8.2f} s  {n / api_seconds:9.0f} events/s")
    print(f"  bare bulk insert of the same rows:     {bare_seconds:8.2f} s  {n / bare_seconds:9.0f} events/s")
    print(f"  ratio API / bare: {api_seconds / bare_seconds:.1f}x")
    print(f"  rescoring: {scoring_after_first:.2f} s = {100 * scoring_after_first / api_seconds:.0f}% of API time, "
          f"{1000 * scoring_after_first / n:.3f} ms per event")
    print(f"  redelivery of all batches (all duplicates): {redelivery_seconds:.2f} s "
          f"({n / redelivery_seconds:.0f} events/s), nothing stored twice")
    print(f"  hand-offs created: {HandoffTask.objects.filter(company=company).count()}")


if __name__ == "__main__":
    main()
