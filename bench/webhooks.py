"""Benchmark: POST /webhooks/stripe/ against two bare Django views on the same gunicorn and database.

One gunicorn as the Procfile runs it (2 sync workers, access log on, DEBUG off, PostgreSQL, Redis) serves
three endpoints:

- project: `/webhooks/stripe/` (signature check, store once, wake the worker);
- insert:  a bare view doing the same single `INSERT ... ON CONFLICT DO NOTHING RETURNING id` of the same
           row into a copy of the table (bench/webhooks_server.py);
- json:    a bare view returning JSON only.

Each round sends the same stream of signed `checkout.session.completed` events (30% duplicates, shuffled) to
one endpoint in a closed loop over 8 concurrent connections (each sender sends its next request as soon as
the last one is answered: the server is saturated, so the throughput is its capacity). Each run sends the
stream to every endpoint in slices, interleaved (project, insert, json, the order rotating), so load that
drifts on the shared machine falls on all three; 3 runs, ratios per run. Before the runs, PostgreSQL's own
count of committed transactions (pg_stat_database.xact_commit) is read around 300 requests to each endpoint
and printed per request.

The Celery worker (as the Procfile: prefork, concurrency 2) is not running during the rounds (in
production it runs on its own machine; here it would take CPU from whichever round runs next). It is
started after them on the `webhooks` and `email` queues to drain what the project stored; then the checks:
events stored = unique events sent (0 lost), each processed, one order / one order.paid / one download
grant / one delivery email per unique event (0 doubled), and the insert baseline's rows = unique events.
Last, with the worker running, single payments are sent one at a time and payment -> delivery email is
measured (from the POST to the grant's `emailed_at`, which the worker sets when it sends), p50/p95.

    DATABASE_URL=postgres://... REDIS_URL=redis://.../n .venv/bin/python bench/webhooks.py [--events 3000]

The database is migrated and a `bench` company is (re)created in it; use a database you can spare.
"""

import argparse
import itertools
import json
import os
import random
import secrets
import signal
import socket
import statistics
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
ENDPOINTS = {"project": "/webhooks/stripe/", "insert": "/bench/insert/", "json": "/bench/json/"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_database(run_id: str):
    os.environ.update(ENV)
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.db import connection

    from autonomax.models import Company
    from commerce.models import Product, WebhookEvent

    call_command("migrate", verbosity=0)
    Company.objects.filter(slug="bench").delete()
    WebhookEvent.objects.filter(event_id__startswith="evt_bench").delete()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_webhookevent")
        cursor.execute(f"CREATE TABLE bench_webhookevent (LIKE {WebhookEvent._meta.db_table} INCLUDING ALL)")
    company = Company.objects.create(slug="bench", name="Bench", support_email="help@bench.local")
    product = Product.objects.create(company=company, sku="BENCH-1", slug=f"bench-{run_id}", name="Bench Template",
                                     price="19.00", status=Product.Status.ACTIVE, kind=Product.Kind.DIGITAL)
    product.asset.save("bench.txt", ContentFile(b"bench file"), save=True)
    return company


def event_body(tag: str, n: int, *, event_type: str = "checkout.session.completed") -> bytes:
    return json.dumps({
        "id": f"evt_{tag}_{n}", "object": "event", "api_version": "2020-08-27", "created": int(time.time()),
        "type": event_type, "livemode": False, "pending_webhooks": 1,
        "data": {"object": {
            "id": f"cs_{tag}_{n}", "object": "checkout.session", "mode": "payment", "amount_total": 1900,
            "currency": "usd", "payment_intent": f"pi_{tag}_{n}", "payment_status": "paid", "status": "complete",
            "customer_details": {"email": f"buyer-{tag}-{n}@bench.local", "name": "Bench Buyer"},
            "metadata": {"company": "bench", "product_sku": "BENCH-1"}}},
    }).encode()


def http_request(path: str, body: bytes) -> bytes:
    """The whole request, built before the round (the load generator shares the 2 CPUs with the server)."""
    import stripe

    t = int(time.time())
    signature = f"t={t},v1={stripe.WebhookSignature._compute_signature(f'{t}.{body.decode()}', SECRET)}"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Forwarded-Proto: https\r\nStripe-Signature: {signature}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


def send(port: int, request: bytes) -> int:
    """One request on its own connection (gunicorn's sync workers close after each response); the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    return int(response[9:12]) if response.startswith(b"HTTP/1.") else 0


def closed_loop(port: int, requests: list[bytes], connections: int) -> dict:
    """`connections` senders, each sending its next request as soon as its last one is answered."""
    counter = itertools.count()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def sender():
        mine_statuses: dict[int, int] = {}
        mine_latencies = []
        while (i := next(counter)) < len(requests):
            began = time.perf_counter()
            try:
                status = send(port, requests[i])
            except OSError:
                status = 0
            mine_latencies.append(time.perf_counter() - began)
            mine_statuses[status] = mine_statuses.get(status, 0) + 1
        with lock:
            latencies.extend(mine_latencies)
            for k, v in mine_statuses.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=sender) for _ in range(connections)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    latencies.sort()
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    return {"throughput": ok / wall, "wall": wall, "statuses": statuses, "ok": ok,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000}


def xact_commits() -> int:
    """PostgreSQL's count of committed transactions in this database. A backend that flushed its counts less
    than a second ago flushes the next ones when it has been idle for 10 s (PGSTAT_IDLE_INTERVAL): wait that."""
    from django.db import connection

    time.sleep(11)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def wait_until(predicate, *, stall_seconds: float = 60, interval: float = 1.0):
    """Poll `predicate()` (a number that falls to 0) while it keeps falling; its last value."""
    left, last_progress = predicate(), time.time()
    while left and time.time() - last_progress < stall_seconds:
        time.sleep(interval)
        now_left = predicate()
        if now_left < left:
            last_progress = time.time()
        left = now_left
    return left


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def print_ratios(throughput: dict[str, list[float]], *, runs: int) -> None:
    print(f"throughput min / median / max over {runs} runs (req/s): "
          + ", ".join(f"{name} {spread(values)}" for name, values in throughput.items()))
    vs_insert = [p / b for p, b in zip(throughput["project"], throughput["insert"], strict=True)]
    vs_json = [p / b for p, b in zip(throughput["project"], throughput["json"], strict=True)]
    print(f"ratio project / insert view, per run, min / median / max: {spread(vs_insert)}  (goal >= 0.8)")
    print(f"ratio project / json view,   per run, min / median / max: {spread(vs_json)}  (goal >= 0.4)")


def main():  # noqa: PLR0915 - one scripted scenario, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000, help="deliveries per round")
    parser.add_argument("--duplicates", type=float, default=0.30)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slices", type=int, default=6, help="interleaved slices of each endpoint's run")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=1, help="threads per gunicorn worker (gthread when > 1)")
    parser.add_argument("--latency-events", type=int, default=40)
    parser.add_argument("--transactions-only", action="store_true",
                        help="print the committed transactions per request of each endpoint and stop")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the bench runs on the production stack.")
    run_id = secrets.token_hex(3)
    mail_dir = tempfile.mkdtemp(prefix="bench-mail-")
    log_dir = tempfile.mkdtemp(prefix="bench-logs-")
    ENV["EMAIL_URL"] = f"filemail:///{mail_dir}"
    ENV["DJANGO_MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bench-media-")
    company = setup_database(run_id)
    from django.conf import settings
    from django.db import connection

    from autonomax.celery import app
    from autonomax.models import Event
    from commerce.models import DownloadGrant, Order, WebhookEvent

    with app.connection_for_write() as conn:  # tasks left by an earlier, interrupted run
        for queue in ("webhooks", "ai", "email", "default"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue that does not exist yet has nothing to purge
                pass
    port = free_port()
    web = subprocess.Popen(  # the Procfile's web process
        [sys.executable, "-m", "gunicorn", "--pythonpath", f"{ROOT},{ROOT / 'bench'}", "webhooks_server:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(args.web_workers), "--threads", str(args.web_threads),
         "--access-logfile", "-", "--timeout", "60"], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.time() + 60
        while True:
            try:
                healthz = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
                           b"Connection: close\r\n\r\n")
                if send(port, healthz) == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("gunicorn did not start")
            time.sleep(0.2)

        rng = random.Random(7)
        unique_count = round(args.events * (1 - args.duplicates))
        stream = list(range(unique_count)) + [rng.randrange(unique_count) for _ in range(args.events - unique_count)]
        rng.shuffle(stream)

        # Warm-up: every gunicorn worker imports and opens its database connection before anything is measured
        # (an event type without a handler: stored, then ignored by the worker).
        for name, path in ENDPOINTS.items():
            closed_loop(port, [http_request(path, event_body(f"benchwarm_{run_id}_{name}", n,
                                                             event_type="charge.refund.updated"))
                               for n in range(100)], args.connections)

        # Transactions per request, as PostgreSQL counts them: 300 requests to each endpoint alone.
        commits_per_request = {}
        for name, path in ENDPOINTS.items():
            requests = [http_request(path, event_body(f"benchxact_{run_id}_{name}", n,
                                                      event_type="charge.refund.updated")) for n in range(300)]
            before = xact_commits()
            closed_loop(port, requests, args.connections)
            commits_per_request[name] = (xact_commits() - before - 1) / len(requests)  # less the bench's read

        if args.transactions_only:
            print(f"CONN_HEALTH_CHECKS={settings.DATABASES['default'].get('CONN_HEALTH_CHECKS')}; committed "
                  "transactions per request (pg_stat_database.xact_commit): "
                  + ", ".join(f"{name} {value:.2f}" for name, value in commits_per_request.items()))
            return
        load = os.getloadavg()
        kind = "sync workers" if args.web_threads == 1 else f"gthread workers x {args.web_threads} threads"
        print(f"gunicorn {args.web_workers} {kind}, DEBUG off, PostgreSQL + Redis, "
              f"CONN_HEALTH_CHECKS={settings.DATABASES['default'].get('CONN_HEALTH_CHECKS')}; "
              f"{args.events} signed events per endpoint per run ({args.events - unique_count} duplicates), "
              f"{args.connections} connections, closed loop, in {args.slices} slices per endpoint interleaved; "
              f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) "
              "before the runs")
        print("committed transactions per request (pg_stat_database.xact_commit): "
              + ", ".join(f"{name} {value:.2f}" for name, value in commits_per_request.items()) + "\n")
        print(f"{'run':>3} {'endpoint':>8} | {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} | statuses")
        throughput: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
        names = list(ENDPOINTS)
        project_tags = []
        insert_tags = []
        slice_size = -(-len(stream) // args.slices)
        for run in range(args.runs):
            requests = {}
            for name in names:
                tag = f"bench_{run_id}_{run}_{name}"
                requests[name] = [http_request(ENDPOINTS[name], event_body(tag, n)) for n in stream]
                (project_tags if name == "project" else insert_tags if name == "insert" else []).append(tag)
            # Slices of each endpoint's stream in turn, the order rotating: load that drifts (the machine is
            # shared) falls on all three alike.
            results = {name: [] for name in names}
            for i in range(args.slices):
                shift = (run + i) % 3
                for name in names[shift:] + names[:shift]:
                    results[name].append(closed_loop(port, requests[name][i * slice_size:(i + 1) * slice_size],
                                                     args.connections))
            for name in names:
                parts = results[name]
                ok, wall = sum(r["ok"] for r in parts), sum(r["wall"] for r in parts)
                statuses: dict[int, int] = {}
                for r in parts:
                    for k, v in r["statuses"].items():
                        statuses[k] = statuses.get(k, 0) + v
                throughput[name].append(ok / wall)
                p50 = statistics.median(r["p50_ms"] for r in parts)
                p99 = max(r["p99_ms"] for r in parts)
                print(f"{run + 1:>3} {name:>8} | {ok / wall:>7.1f} {p50:>7.1f} {p99:>7.1f} | {statuses}", flush=True)
        load_after = os.getloadavg()
        if args.runs:
            print_ratios(throughput, runs=args.runs)
        print(f"\nload average {load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f} after the rounds")

        # The worker drains what the rounds stored: the Procfile's (prefork, concurrency 2) on the queues whose
        # effects are checked; each paid order also queues a whole-company segment refresh on `default`
        # (customers app), which would make the drain take many minutes: left out and purged at the end.
        log = open(Path(log_dir) / "worker.log", "w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "autonomax", "worker", "-Q", "webhooks,email",
             "--concurrency", "2", "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while "ready." not in (Path(log_dir) / "worker.log").read_text() and time.time() < deadline:
            time.sleep(0.2)
        started = time.time()
        events = WebhookEvent.objects.filter(event_id__startswith="evt_bench_")
        wait_until(lambda: events.exclude(status="processed").count())
        grants = DownloadGrant.objects.filter(company=company)
        wait_until(lambda: grants.filter(emailed_at=None).count())
        drained = time.time() - started

        def mails_written() -> int:
            # The file backend appends several messages to one file; each ends with a line of 79 dashes.
            return sum(f.read_bytes().count(b"\n" + b"-" * 79 + b"\n") for f in Path(mail_dir).glob("*.log"))

        time.sleep(2)  # the last messages written
        unique = unique_count * len(project_tags)
        stored = events.count()
        processed = events.filter(status="processed").count()
        orders = Order.objects.filter(company=company)
        sessions = list(orders.values_list("external_id", flat=True))
        paid_events = Event.objects.filter(company=company, name="order.paid").count()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_webhookevent WHERE event_id LIKE 'evt\\_bench\\_%%'")
            insert_rows = cursor.fetchone()[0]
        mails = mails_written()
        print(f"\nthe worker processed the project's {unique} unique events and sent their emails "
              f"{drained:.1f}s after it started")
        checks = [
            ("events lost (sent, not stored)", unique - stored, 0),
            ("events stored twice", stored - len(set(events.values_list("event_id", flat=True))), 0),
            ("events not processed", unique - processed, 0),
            ("orders missing", unique - len(set(sessions)), 0),
            ("orders doubled", len(sessions) - len(set(sessions)), 0),
            ("order.paid recorded once per order", paid_events, unique),
            ("download grants, one per order", grants.count(), unique),
            ("delivery emails, one per order", mails, unique),
            ("insert baseline: rows lost or doubled", insert_rows - unique_count * len(insert_tags), 0),
        ]

        # Payment -> delivery email with the worker running: single payments, one at a time.
        tag = f"benchlatency_{run_id}"
        sent_at = {}
        for n in range(args.latency_events):
            request = http_request(ENDPOINTS["project"], event_body(tag, n))
            sent_at[f"cs_{tag}_{n}"] = time.time()
            send(port, request)
            time.sleep(0.25)
        latency_grants = DownloadGrant.objects.filter(order__external_id__startswith=f"cs_{tag}_")
        wait_until(lambda: args.latency_events - latency_grants.exclude(emailed_at=None).count(), stall_seconds=30,
                   interval=0.5)
        latencies = sorted((emailed.timestamp() - sent_at[session]) * 1000 for session, emailed in
                           latency_grants.exclude(emailed_at=None).values_list("order__external_id", "emailed_at"))
        if latencies:
            p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
            print(f"payment -> delivery email (POST to the grant's emailed_at), {len(latencies)} single payments "
                  f"one at a time: p50 {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, "
                  f"max {latencies[-1]:.0f} ms")
        checks.append(("payments without a delivery email", args.latency_events - len(latencies), 0))
        failed = False
        for label, got, want in checks:
            failed |= got != want
            print(f"  [{'ok ' if got == want else 'FAIL'}] {label}: {got} (expected {want})")
        print(f"worker log: {log_dir}/worker.log")
        sys.exit(1 if failed else 0)
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("default")
        for proc in (web, worker):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
        for proc in (web, worker):
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
