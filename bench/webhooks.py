"""Benchmark: POST /webhooks/stripe/ vs a bare Django JSON view, same gunicorn, production settings.

Starts gunicorn (DEBUG off, PostgreSQL, Redis) and a Celery worker, sends a bounded load of signed
`checkout.session.completed` events (30% duplicates) at rising rates to both endpoints, prints
throughput and p99 side by side with the ratio, then checks: events stored = unique events sent and
orders created = unique orders (each fulfilled once).

    DATABASE_URL=postgres://... REDIS_URL=redis://.../n .venv/bin/python bench/webhooks.py [--rates 25,50,100,200]

The database is migrated and a `bench` company is (re)created in it; use a database you can spare.
"""

import argparse
import http.client
import json
import os
import queue
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "whsec_bench_" + secrets.token_hex(8)
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "autonomax.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "STRIPE_WEBHOOK_SECRET": SECRET,
    "CELERY_TASK_ALWAYS_EAGER": "0",
    "LOG_LEVEL": "WARNING",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_database(run_id: str):
    os.environ.update(ENV)
    import django

    django.setup()
    from django.core.management import call_command

    from autonomax.models import Company
    from commerce.models import Order, Product, WebhookEvent

    call_command("migrate", verbosity=0)
    Company.objects.filter(slug="bench").delete()
    WebhookEvent.objects.filter(event_id__startswith="evt_bench_").delete()
    company = Company.objects.create(slug="bench", name="Bench", support_email="help@bench.local")
    product = Product.objects.create(company=company, sku="BENCH-1", slug=f"bench-{run_id}", name="Bench Template",
                                     price="19.00", status=Product.Status.ACTIVE, kind=Product.Kind.DIGITAL)
    from django.core.files.base import ContentFile

    product.asset.save("bench.txt", ContentFile(b"bench file"), save=True)
    return company, product, Order, WebhookEvent


def event_body(run_id: str, n: int) -> bytes:
    session = f"cs_bench_{run_id}_{n}"
    return json.dumps({
        "id": f"evt_bench_{run_id}_{n}", "object": "event", "api_version": "2020-08-27", "created": int(time.time()),
        "type": "checkout.session.completed", "livemode": False, "pending_webhooks": 1,
        "data": {"object": {
            "id": session, "object": "checkout.session", "mode": "payment", "amount_total": 1900, "currency": "usd",
            "payment_intent": f"pi_bench_{run_id}_{n}", "payment_status": "paid", "status": "complete",
            "customer_details": {"email": f"buyer{n}@bench.local", "name": "Bench Buyer"},
            "metadata": {"company": "bench", "product_sku": "BENCH-1"}}},
    }).encode()


def sign(body: bytes) -> str:
    import stripe

    t = int(time.time())
    return f"t={t},v1={stripe.WebhookSignature._compute_signature(f'{t}.{body.decode()}', SECRET)}"


def run_step(port: int, path: str, rate: int, seconds: float, make_request) -> dict:
    """Open-loop load: `rate` requests/s for `seconds`, spread over sender threads with keep-alive."""
    jobs: queue.Queue = queue.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def sender():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            job = jobs.get()
            if job is None:
                return
            body, headers = make_request()
            start = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(min(64, max(8, rate // 4)))]
    for t in threads:
        t.start()
    total = int(rate * seconds)
    began = time.perf_counter()
    for i in range(total):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        jobs.put(i)
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    return {"sent": total, "ok": ok, "throughput": ok / wall, "p99_ms": p99 * 1000, "statuses": statuses}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="25,50,100,200")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--duplicates", type=float, default=0.30)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the bench runs on the production stack.")
    run_id = secrets.token_hex(3)
    mail_dir = tempfile.mkdtemp(prefix="bench-mail-")
    ENV["EMAIL_URL"] = f"filemail:///{mail_dir}"
    ENV["DJANGO_MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bench-media-")
    company, product, Order, WebhookEvent = setup_database(run_id)
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--pythonpath", f"{ROOT},{ROOT / 'bench'}", "webhooks_server:application",
         "-b", f"127.0.0.1:{port}", "-w", str(args.web_workers), "-k", "gthread", "--threads", "8",
         "--log-level", "warning"], cwd=ROOT, env=ENV)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "autonomax", "worker", "-Q", "webhooks,email,default", "--pool",
         "threads", "--concurrency", "4", "--without-gossip", "--without-mingle", "-l", "WARNING"],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz", headers={"X-Forwarded-Proto": "https"})
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("gunicorn did not start")
            time.sleep(0.2)

        counter = iter(range(10**9))
        sent_unique: list[int] = []
        rng = random.Random(7)
        lock = threading.Lock()
        base_headers = {"Content-Type": "application/json", "X-Forwarded-Proto": "https"}

        def webhook_request():
            with lock:
                if sent_unique and rng.random() < args.duplicates:
                    n = rng.choice(sent_unique)
                else:
                    n = next(counter)
                    sent_unique.append(n)
            body = event_body(run_id, n)
            return body, {**base_headers, "Stripe-Signature": sign(body)}

        def bare_request():
            body = event_body(run_id, 0)
            return body, {**base_headers, "Stripe-Signature": sign(body)}

        # Warm-up: every gunicorn thread opens its database connection and imports before we measure.
        run_step(port, "/bench/bare/", 20, 1, bare_request)
        run_step(port, "/webhooks/stripe/", 20, 1, bare_request)

        print(f"gunicorn {args.web_workers} workers x 8 threads, production settings, PostgreSQL + Redis; "
              f"{args.seconds:.0f}s per step, {args.duplicates:.0%} duplicates; {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} before the run (the machine is shared)\n")
        print(f"{'rate/s':>7} | {'bare req/s':>10} {'bare p99':>9} | {'webhook req/s':>13} {'webhook p99':>11} | "
              f"{'ratio tput':>10} {'ratio p99':>9}")
        total_sent = 0
        load_started = time.time()
        for rate in [int(r) for r in args.rates.split(",")]:
            bare = run_step(port, "/bench/bare/", rate, args.seconds, bare_request)
            hook = run_step(port, "/webhooks/stripe/", rate, args.seconds, webhook_request)
            total_sent += hook["sent"]
            print(f"{rate:>7} | {bare['throughput']:>10.1f} {bare['p99_ms']:>7.1f}ms | {hook['throughput']:>13.1f} "
                  f"{hook['p99_ms']:>9.1f}ms | {hook['throughput'] / bare['throughput']:>10.2f} "
                  f"{bare['p99_ms'] / hook['p99_ms']:>9.2f}"
                  + ("" if set(hook["statuses"]) == {200} else f"  statuses {hook['statuses']}"))

        unique = len(sent_unique)
        events = WebhookEvent.objects.filter(event_id__startswith=f"evt_bench_{run_id}_")
        started = last_progress = time.time()
        left = events.exclude(status="processed").count()
        while left and time.time() - last_progress < 60:  # wait as long as the worker makes progress
            time.sleep(1)
            now_left = events.exclude(status="processed").count()
            if now_left < left:
                last_progress = time.time()
            left = now_left
        drained = time.time() - started
        end_to_end = unique / (time.time() - load_started)
        from autonomax.models import Event
        from commerce.models import DownloadGrant

        stored = events.count()
        processed = events.filter(status="processed").count()
        orders = Order.objects.filter(company=company).count()
        paid_events = Event.objects.filter(company=company, name="order.paid").count()
        grants = DownloadGrant.objects.filter(company=company).count()

        def mails_written() -> int:
            # The file backend appends several messages to one file; each ends with a line of 79 dashes.
            return sum(f.read_bytes().count(b"\n" + b"-" * 79 + b"\n") for f in Path(mail_dir).glob("*.log"))

        started = last_progress = time.time()
        mails = mails_written()
        while mails < grants and time.time() - last_progress < 60:  # the email queue drains after the webhooks
            time.sleep(1)
            now_mails = mails_written()
            if now_mails > mails:
                last_progress = time.time()
            mails = now_mails
        print(f"\nsent {total_sent} webhook requests, {unique} unique events "
              f"({total_sent - unique} duplicates); the worker finished processing {drained:.1f}s after the load ended "
              f"({end_to_end:.1f} unique events/s processed end to end)")
        checks = [
            ("events stored = unique events sent", stored, unique),
            ("events processed", processed, unique),
            ("orders created = unique orders", orders, unique),
            ("order.paid recorded once per order", paid_events, unique),
            ("download grants once per order", grants, unique),
            ("delivery emails once per order", mails, unique),
        ]
        failed = False
        for label, got, want in checks:
            mark = "ok " if got == want else "FAIL"
            failed |= got != want
            print(f"  [{mark}] {label}: {got} (expected {want})")
        sys.exit(1 if failed else 0)
    finally:
        for proc in (web, worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (web, worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
