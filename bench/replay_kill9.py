"""Replay: many signed Stripe events (duplicates, shuffled) against the REAL worker, which is killed with
`kill -9` while it works and restarted; then the recovery sweep runs, and every order is checked.

For each of N orders two events are sent: `checkout.session.completed` (creates the order from its
metadata) and `payment_intent.succeeded` (parks as pending_match when it runs before its order exists).
A share of the deliveries are duplicates; all are shuffled. Each delivery goes through the real receiver
(signature check with the stripe library, store-first INSERT; the worker drains the stored rows). The Celery worker
(threads pool) is killed with SIGKILL twice during the replay and started again; tasks it held die with it
(Redis keeps them `unacked` for the 2-hour visibility timeout). The sweep (`recovery_sweep`, what beat runs
every 2 minutes) then re-enqueues what was lost, with RECOVERY_STALE_SECONDS shortened for the run.

    DATABASE_URL=postgres://... REDIS_URL=redis://.../n .venv/bin/python bench/replay_kill9.py [--orders 3500]

Prints: deliveries sent, unique events, what was stuck before the sweep, and after it: lost (sent but never
stored), stuck (not processed), orders doubled, paid orders, download grants and emails per order
(0 = lost, 2+ = doubled). Exit status 1 when anything is lost, doubled or stuck; the one exception is a
download email sent twice, at most once per kill: delivery is at least once, and a worker killed in the
instant between sending an email and recording it sends it again after its lease. Uses a `replay` company in
the database it is given (removed first); use a database you can spare.
"""

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "whsec_replay_" + secrets.token_hex(8)
STALE_SECONDS = 20
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "autonomax.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "STRIPE_WEBHOOK_SECRET": SECRET,
    "CELERY_TASK_ALWAYS_EAGER": "0",
    "LOG_LEVEL": "WARNING",
    "RECOVERY_STALE_SECONDS": str(STALE_SECONDS),
}


def sign(body: bytes) -> str:
    import stripe

    t = int(time.time())
    return f"t={t},v1={stripe.WebhookSignature._compute_signature(f'{t}.{body.decode()}', SECRET)}"


def events_for(run: str, n: int) -> list[bytes]:
    session, intent = f"cs_replay_{run}_{n}", f"pi_replay_{run}_{n}"
    created = int(time.time())
    checkout = {
        "id": f"evt_replay_{run}_cs_{n}", "object": "event", "api_version": "2020-08-27", "created": created,
        "type": "checkout.session.completed", "livemode": False, "pending_webhooks": 1,
        "data": {"object": {
            "id": session, "object": "checkout.session", "mode": "payment", "amount_total": 1900, "currency": "usd",
            "payment_intent": intent, "payment_status": "unpaid", "status": "complete",
            "customer_details": {"email": f"buyer{n}@replay.local", "name": "Replay Buyer"},
            "metadata": {"company": "replay", "product_sku": "REPLAY-1"}}},
    }
    payment = {
        "id": f"evt_replay_{run}_pi_{n}", "object": "event", "api_version": "2020-08-27", "created": created,
        "type": "payment_intent.succeeded", "livemode": False, "pending_webhooks": 1,
        "data": {"object": {"id": intent, "object": "payment_intent", "amount": 1900, "currency": "usd",
                            "status": "succeeded", "metadata": {}}},
    }
    return [json.dumps(checkout).encode(), json.dumps(payment).encode()]


class Worker:
    def __init__(self, log_dir: str):
        self.proc = None
        self.log_dir = log_dir
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.log = Path(self.log_dir) / f"worker-{self.starts}.log"
        log = open(self.log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "autonomax", "worker", "-Q", "webhooks,email,default", "--pool",
             "threads", "--concurrency", "4", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-l", "INFO"], cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT)

    def wait_busy(self, tasks: int, timeout: float = 120) -> int:
        """Until the worker is consuming and has run some tasks: a kill then lands in the middle of work."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log.read_text(errors="replace")
            done = text.count(" succeeded in ")
            if "ready." in text and done >= tasks:
                return done
            time.sleep(0.1)
        return -1

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def mails_by_recipient(mail_dir: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in Path(mail_dir).glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("To: buyer"):
                address = line[4:].strip()
                counts[address] = counts.get(address, 0) + 1
    return counts


def main() -> None:  # noqa: PLR0915 - one scripted scenario, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=3500, help="orders (2 events each)")
    parser.add_argument("--duplicates", type=float, default=0.30, help="share of deliveries that are repeats")
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders (the worker falls behind)")
    parser.add_argument("--busy-tasks", type=int, default=20, help="tasks a worker runs before it is killed")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the replay runs on the production stack.")
    mail_dir = tempfile.mkdtemp(prefix="replay-mail-")
    log_dir = tempfile.mkdtemp(prefix="replay-logs-")
    ENV["EMAIL_URL"] = f"filemail:///{mail_dir}"
    ENV["DJANGO_MEDIA_ROOT"] = tempfile.mkdtemp(prefix="replay-media-")
    os.environ.update(ENV)
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    from autonomax.celery import app
    from autonomax.models import Company, Event
    from commerce.models import DownloadGrant, Order, Product, WebhookEvent
    from commerce.services.recovery import recovery_sweep
    from commerce.services.webhooks import stripe_webhook_receive

    call_command("migrate", verbosity=0)
    Company.objects.filter(slug="replay").delete()
    WebhookEvent.objects.filter(event_id__startswith="evt_replay_").delete()
    run = secrets.token_hex(3)
    company = Company.objects.create(slug="replay", name="Replay", support_email="help@replay.local")
    product = Product.objects.create(company=company, sku="REPLAY-1", slug=f"replay-{run}", name="Replay Template",
                                     price="19.00", status=Product.Status.ACTIVE, kind=Product.Kind.DIGITAL)
    product.asset.save("replay.txt", ContentFile(b"replay file"), save=True)
    with app.connection_for_write() as conn:
        for queue in ("webhooks", "email", "default"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue that does not exist yet has nothing to purge
                pass

    rng = random.Random(args.seed)
    unique = [body for n in range(args.orders) for body in events_for(run, n)]
    repeats = int(len(unique) * args.duplicates / (1 - args.duplicates))
    deliveries = unique + [rng.choice(unique) for _ in range(repeats)]
    rng.shuffle(deliveries)
    kill_at = sorted(rng.sample(range(len(deliveries) // 5, len(deliveries) * 3 // 4), args.kills))

    worker = Worker(log_dir)
    worker.start()
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    started = time.time()
    chunks = [deliveries[i::args.senders] for i in range(args.senders)]
    progress = iter(range(len(deliveries)))
    sent: list[int] = []

    def send(chunk):
        from django.db import connection

        try:
            for body in chunk:
                try:
                    _, new = stripe_webhook_receive(raw_body=body, headers={"Stripe-Signature": sign(body)})
                    key = "stored" if new else "duplicate"
                except Exception as exc:  # noqa: BLE001 - counted and shown: a delivery the receiver refused
                    key = f"refused {type(exc).__name__}"
                with lock:
                    statuses[key] = statuses.get(key, 0) + 1
                    sent.append(next(progress))
        finally:
            connection.close()

    def killer():
        # In the middle of work: the worker is consuming and holds tasks it has started or prefetched.
        for point in kill_at:
            while len(sent) < point:
                time.sleep(0.05)
            done = worker.wait_busy(args.busy_tasks)
            worker.kill9()
            print(f"  kill -9 of the worker after {len(sent)} deliveries ({done} tasks run by it); restarting it",
                  flush=True)
            worker.start()

    try:
        threads = [threading.Thread(target=send, args=(chunk,)) for chunk in chunks]
        threads.append(threading.Thread(target=killer))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sent_s = time.time() - started
        events = WebhookEvent.objects.filter(event_id__startswith=f"evt_replay_{run}_")

        def not_done():
            return events.exclude(status="processed").count()

        # The worker drains what it still has; wait while it makes progress.
        left, last_progress = not_done(), time.time()
        while left and time.time() - last_progress < 90:  # a restarted worker needs a while to start
            time.sleep(2)
            now_left = not_done()
            if now_left < left:
                last_progress = time.time()
            left = now_left
        stuck_before = {s: events.filter(status=s).count() for s in ("received", "pending_match", "failed")}
        unsent_before = DownloadGrant.objects.filter(company=company, emailed_at=None).count()
        print(f"sent {len(deliveries)} deliveries ({len(unique)} unique events, {repeats} duplicates, shuffled) "
              f"in {sent_s:.0f}s: {statuses}; worker killed with -9 {args.kills}x")
        print(f"before the sweep: stuck {stuck_before}, download emails unsent {unsent_before}")

        # The sweep, as beat runs it (every 2 minutes; here every few seconds, the staleness shortened).
        # It goes on while the worker makes progress (a loaded machine is slow, not stuck).
        sweeps, recovered = 0, {"webhook_events": 0, "delivery_emails": 0, "order_confirmations": 0}
        last_progress, last_state = time.time(), None
        while time.time() - last_progress < 120:
            time.sleep(5)
            report = recovery_sweep()
            sweeps += 1
            for name, ids in report.items():
                recovered[name] += len(ids)
            grants = DownloadGrant.objects.filter(company=company)
            mailed = sum(mails_by_recipient(mail_dir).values())
            state = (not_done(), grants.filter(emailed_at=None).count(), mailed)
            if state != last_state:
                last_progress, last_state = time.time(), state
            if not state[0] and not state[1] and mailed >= grants.count():
                break
        time.sleep(3)  # the last emails written

        stored = events.count()
        stuck = not_done()
        orders = Order.objects.filter(company=company)
        paid = orders.filter(paid_at__isnull=False).count()
        order_sessions = list(orders.values_list("external_id", flat=True))  # one read: counted consistently
        sessions = set(order_sessions)
        grants = DownloadGrant.objects.filter(company=company).count()
        paid_events = Event.objects.filter(company=company, name="order.paid").count()
        mails = mails_by_recipient(mail_dir)
        buyers = [f"buyer{n}@replay.local" for n in range(args.orders)]
        mails_lost = sum(1 for b in buyers if mails.get(b, 0) == 0)
        mails_doubled = sum(1 for b in buyers if mails.get(b, 0) > 1)
        print(f"the sweep ran {sweeps}x and re-enqueued {recovered['webhook_events']} event(s) and "
              f"{recovered['delivery_emails']} download email(s)")
        checks = [
            ("events lost (sent, never stored)", len(unique) - stored, 0),
            ("events stuck (not processed)", stuck, 0),
            ("orders doubled", len(order_sessions) - len(sessions), 0),
            ("orders missing", args.orders - len(sessions), 0),
            ("orders paid", paid, args.orders),
            ("order.paid recorded once per order", paid_events, args.orders),
            ("download grants (one per order)", grants, args.orders),
            ("download emails lost", mails_lost, 0),
        ]
        failed = False
        for label, got, want in checks:
            failed |= got != want
            print(f"  [{'ok ' if got == want else 'FAIL'}] {label}: {got} (expected {want})")
        # At least once: only a kill between an email's send and its record can send it twice.
        failed |= mails_doubled > args.kills
        print(f"  [{'ok ' if mails_doubled <= args.kills else 'FAIL'}] download emails doubled: {mails_doubled} "
              f"(expected at most {args.kills}, one per kill)")
        print(f"worker logs: {log_dir}")
        sys.exit(1 if failed else 0)
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
