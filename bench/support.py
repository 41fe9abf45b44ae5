"""Benchmark: inbound email -> bot auto-reply, p50/p95, with a real Celery worker, against the AI calls alone.

Posts N signed emails (order-status questions the bot answers from the order data) to POST /webhooks/email/
in-process, while a real worker consumes the `ai` and `email` queues from Redis. For each ticket it reads the
time from the ticket's creation to the bot's first response (both written by the platform), and the summed
latency of that ticket's AI calls (AICall.latency_ms, correlation id `ticket:<id>`), then prints p50/p95 of
both and the overhead of everything that is not the AI call (queueing, retrieval, order facts, writes).

    DATABASE_URL=postgres://... REDIS_URL=redis://.../n .venv/bin/python bench/support.py [--tickets 50]

The database is migrated and a `bench-support` company is (re)created in it; use a database you can spare.
"""

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "whsec_bench_" + secrets.token_hex(8)
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "autonomax.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1",
    "SUPPORT_EMAIL_WEBHOOK_SECRET": SECRET,
    "CELERY_TASK_ALWAYS_EAGER": "0",
    "LOG_LEVEL": "WARNING",
}


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=50)
    args = parser.parse_args()
    os.environ.update(ENV)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from autonomax.models import Company
    from chimera.ai.models import AICall
    from commerce.models import Customer, DownloadGrant, Order, OrderItem, Product
    from support.inbound import email_signature
    from support.models import Ticket

    call_command("migrate", verbosity=0)
    Company.objects.filter(slug="bench-support").delete()
    company = Company.objects.create(slug="bench-support", name="Bench Support", support_email="help@bench.local")
    product = Product.objects.create(company=company, sku="B-1", slug=f"bench-support-{secrets.token_hex(4)}",
                                     name="Budget Planner", price="19.00", status=Product.Status.ACTIVE)
    run = secrets.token_hex(4)
    for n in range(args.tickets):
        customer = Customer.objects.create(company=company, email=f"c{n}.{run}@bench.local", created_at=timezone.now())
        order = Order.objects.create(company=company, customer=customer, status=Order.Status.FULFILLED,
                                     total=Decimal("19.00"), created_at=timezone.now(), paid_at=timezone.now())
        OrderItem.objects.create(order=order, product=product, title=product.name, unit_price=product.price)
        DownloadGrant.objects.create(company=company, order=order, product=product,
                                     expires_at=timezone.now() + timedelta(days=20))

    mail_dir = tempfile.mkdtemp(prefix="bench-support-mail-")
    worker_env = {**os.environ, "EMAIL_URL": f"filemail:///{mail_dir}"}
    log = open(Path(mail_dir) / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "autonomax", "worker", "-Q", "ai,email",
                               "--pool", "threads", "--concurrency", "4", "--without-gossip", "--without-mingle",
                               "-l", "INFO"], cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        ready_by = time.monotonic() + 90
        while "ready." not in (Path(mail_dir) / "worker.log").read_text():
            if worker.poll() is not None or time.monotonic() > ready_by:
                sys.exit("the worker did not start")
            time.sleep(0.2)
        client = Client()
        ids = []
        for n in range(args.tickets):
            raw = json.dumps({"message_id": f"<bench-{run}-{n}@bench.local>", "to": ["help@bench.local"],
                              "from": {"email": f"c{n}.{run}@bench.local"}, "subject": "Where is my download?",
                              "text": "I paid yesterday but cannot find my download link."}).encode()
            response = client.post("/webhooks/email/", raw, content_type="application/json",
                                   HTTP_X_AUTONOMAX_SIGNATURE=email_signature(raw_body=raw, secret=SECRET),
                                   secure=True)
            ids.append(response.json()["ticket"])
            time.sleep(0.05)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and Ticket.objects.filter(pk__in=ids, first_response_at=None).exists():
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    rows = list(Ticket.objects.filter(pk__in=ids).exclude(first_response_at=None)
                .values_list("pk", "created_at", "first_response_at"))
    reply_ms = [(f - c).total_seconds() * 1000 for _, c, f in rows]
    ai_ms = []
    for pk, _, _ in rows:
        ai_ms.append(sum(AICall.objects.filter(company=company, correlation_id=f"ticket:{pk}")
                         .values_list("latency_ms", flat=True)))
    print(f"tickets sent {len(ids)}, auto-answered {len(rows)}")
    if not rows:
        return
    print(f"inbound -> auto-reply   p50 {statistics.median(reply_ms):8.1f} ms   p95 {pct(reply_ms, 0.95):8.1f} ms")
    print(f"AI calls alone          p50 {statistics.median(ai_ms):8.1f} ms   p95 {pct(ai_ms, 0.95):8.1f} ms")
    print(f"first-response SLA 120 s met by {sum(ms < 120_000 for ms in reply_ms)}/{len(rows)}")


if __name__ == "__main__":
    main()
