"""The webhook outbox: the stored row is the queue. The receiver's INSERT wakes the worker through PostgreSQL's
NOTIFY (no task published per event); the drain claims `received` rows with SKIP LOCKED; rows whose wake-up
was lost are taken by the next drain; duplicates are processed once; both companies' events are processed."""

import threading

import psycopg
import pytest
from django.db import connection, transaction

from autonomax.celery import app
from autonomax.models import Event
from commerce.models import DownloadGrant, Order, WebhookEvent
from commerce.services.outbox import OUTBOX_CHANNEL, webhook_outbox_drain, webhook_outbox_wake
from tests.conftest import _redis_url_or_skip, wait_for

from .factories import digital_product, post_shopify, post_stripe, shopify_fixture, stripe_event


def _needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the NOTIFY wake-up is PostgreSQL's")


def _checkout(company, n: int) -> dict:
    """A paid checkout of the company's product that creates its order from the metadata."""
    return stripe_event("checkout.session.completed", event_id=f"evt_outbox_{company.slug}_{n}", obj={
        "id": f"cs_outbox_{company.slug}_{n}", "payment_intent": f"pi_outbox_{company.slug}_{n}",
        "payment_status": "paid", "amount_total": 1900, "currency": "usd",
        "customer_details": {"email": f"buyer{n}@{company.slug}.example", "name": "Bea"},
        "metadata": {"company": company.slug, "product_sku": "OUTBOX-1"}})


@pytest.fixture
def non_eager():
    """Tasks go through the broker as in production (the unit tests run them inline otherwise)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = previous


def _queued(queue: str) -> int:
    with app.connection_for_write() as conn:
        try:
            return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
        except Exception:  # noqa: BLE001 - a queue never declared holds nothing
            return 0


def _purge(queue: str) -> None:
    with app.connection_for_write() as conn:
        try:
            conn.default_channel.queue_purge(queue)
        except Exception:  # noqa: BLE001 - a queue never declared holds nothing
            pass


# --- the receiver ----------------------------------------------------------------------------------------------

def test_a_stored_event_notifies_on_commit_with_one_query_and_publishes_no_task(
        transactional_db, client, company, non_eager, django_assert_num_queries):
    # given PostgreSQL, a broker, and a connection listening on the outbox channel
    _needs_postgresql()
    _redis_url_or_skip()
    _purge("webhooks")
    s = connection.settings_dict
    listener = psycopg.connect(dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"] or None,
                               host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, autocommit=True)
    listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
    event = stripe_event("charge.refund.updated", event_id="evt_outbox_notify")
    try:
        # when a new event and then its duplicate are received
        with django_assert_num_queries(1) as stripe_queries:
            assert post_stripe(client, event).json()["duplicate"] is False
        new = list(listener.notifies(timeout=5, stop_after=1))
        with django_assert_num_queries(1):
            assert post_stripe(client, event).json()["duplicate"] is True
        duplicate = list(listener.notifies(timeout=0.5))
        # and Shopify's receiver stores the same way (one mechanism for both)
        with django_assert_num_queries(1) as shopify_queries:
            assert post_shopify(client, shopify_fixture("orders_paid"), topic="orders/paid",
                                shop="acme.myshopify.com", event_id="outbox-1").status_code == 200
        shopify = list(listener.notifies(timeout=5, stop_after=1))
    finally:
        listener.close()

    # then one INSERT each; the new event woke the outbox's listeners once, its duplicate not at all, and the
    # request published no task
    assert [n.channel for n in new] == [OUTBOX_CHANNEL] == [n.channel for n in shopify]
    assert duplicate == []
    assert _queued("webhooks") == 0
    # a Stripe event commits without waiting for its WAL flush (the nightly reconciliation replays Stripe's
    # events); Shopify's reconciliation does not replay every topic, so its events wait for the flush
    assert stripe_queries.captured_queries[0]["sql"].startswith("SET LOCAL synchronous_commit TO OFF; ")
    assert "synchronous_commit" not in shopify_queries.captured_queries[0]["sql"]
    with connection.cursor() as cursor:  # for that one statement only: the connection's next work waits again
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert set(WebhookEvent.objects.values_list("provider", "status")) == {
        ("stripe", WebhookEvent.Status.RECEIVED), ("shopify", WebhookEvent.Status.RECEIVED)}


def test_wake_ups_publish_one_drain_until_a_drain_starts(db, non_eager):
    # given a broker and nothing queued
    _redis_url_or_skip()
    _purge("webhooks")
    try:
        # when three events wake the drain before it runs
        for _ in range(3):
            webhook_outbox_wake()
        # then one drain task is queued, not three
        assert _queued("webhooks") == 1

        # when that drain starts (it clears the mark first) and a later event wakes it again
        assert webhook_outbox_drain() == []
        webhook_outbox_wake()
        # then a second drain is queued for it
        assert _queued("webhooks") == 2
    finally:
        _purge("webhooks")


# --- the drain -------------------------------------------------------------------------------------------------

def _stored(company, n: int) -> WebhookEvent:
    """An event as the receiver leaves it, before any worker saw it."""
    body = _checkout(company, n)
    return WebhookEvent.objects.create(provider="stripe", event_id=body["id"], event_type=body["type"],
                                       payload=body, raw_body="{}")


def test_a_drain_skips_a_row_another_drain_holds_and_takes_it_once_released(transactional_db, company,
                                                                             other_company):
    # given three waiting events of two companies, the oldest held by another drain (its row lock)
    _needs_postgresql()
    for c in (company, other_company):
        digital_product(company=c, sku="OUTBOX-1")
    held, second, third = _stored(company, 1), _stored(other_company, 1), _stored(company, 2)
    locked, release = threading.Event(), threading.Event()

    def other_drain():
        try:
            with transaction.atomic():
                WebhookEvent.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_drain)
    thread.start()
    assert locked.wait(10)
    try:
        # when this drain runs
        done = webhook_outbox_drain()
    finally:
        release.set()
        thread.join()

    # then it processed the two free rows, oldest first, and left the held one waiting
    assert [e.pk for e in done] == [second.pk, third.pk]
    assert WebhookEvent.objects.get(pk=held.pk).status == WebhookEvent.Status.RECEIVED
    # and the next drain takes it, once; a drain after that finds nothing
    assert [e.pk for e in webhook_outbox_drain()] == [held.pk]
    assert webhook_outbox_drain() == []
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED}
    assert Order.objects.filter(company=company).count() == 2
    assert Order.objects.filter(company=other_company).count() == 1
    assert Event.objects.filter(name="order.paid").count() == 3


# --- with the real worker --------------------------------------------------------------------------------------

@pytest.fixture
def lost_event(transactional_db, company, other_company):
    """Stored before the worker starts and never woken up for: as if the worker that was to process it died
    (kill -9) between the store and the processing."""
    for c in (company, other_company):
        digital_product(company=c, sku="OUTBOX-1")
    return _stored(company, 0)


@pytest.mark.integration
def test_the_worker_processes_the_outbox_once_per_event_for_both_companies(lost_event, celery_worker_process,
                                                                          client, company, other_company):
    # given PostgreSQL, the real worker on Redis, and an event stored while no worker was there
    _needs_postgresql()
    events = [_checkout(c, n) for c in (company, other_company) for n in (1, 2, 3)]

    # when both companies' events are received, each delivered twice (Stripe retries)
    for event in events + events:
        assert post_stripe(client, event).status_code == 200

    # then every event, the lost one too, is processed once: one order, one payment record, one grant and
    # one delivery email each, in its own company
    wait_for(lambda: not WebhookEvent.objects.exclude(status=WebhookEvent.Status.PROCESSED).exists(), timeout=60,
             message="the worker to process the outbox")
    assert WebhookEvent.objects.count() == 7
    wait_for(lambda: not DownloadGrant.objects.filter(emailed_at=None).exists(), timeout=60,
             message="the delivery emails")
    for c, orders in ((company, 4), (other_company, 3)):
        sessions = list(Order.objects.filter(company=c).values_list("external_id", flat=True))
        assert len(sessions) == len(set(sessions)) == orders
        assert Event.objects.filter(company=c, name="order.paid").count() == orders
        assert DownloadGrant.objects.filter(company=c).count() == orders
    def mails() -> bytes:  # the file backend creates a file before it writes the message: wait for all 7
        return b"".join(f.read_bytes() for f in celery_worker_process["email_dir"].glob("*.log"))

    wait_for(lambda: mails().count(b"\n" + b"-" * 79 + b"\n") >= 7, timeout=30, message="the 7 messages written")
    mails = mails()
    for c, numbers in ((company, (0, 1, 2, 3)), (other_company, (1, 2, 3))):
        for n in numbers:
            assert mails.count(f"To: buyer{n}@{c.slug}.example".encode()) == 1
    # the lost event was taken by a drain (the listener's wake-up when it started, or a later event's)
    assert "webhook outbox: listening" in celery_worker_process["log"].read_text()


def test_a_parked_payment_is_retried_by_the_drain_like_by_its_task(db, company, non_eager):
    # given a payment for an order that does not exist yet, waiting in the outbox
    _redis_url_or_skip()
    _purge("webhooks")
    body = stripe_event("payment_intent.succeeded", event_id="evt_outbox_pi", obj={"id": "pi_later",
                                                                                   "metadata": {}})
    WebhookEvent.objects.create(provider="stripe", event_id=body["id"], event_type=body["type"], payload=body)
    from commerce.tasks import webhook_outbox_drain_task

    try:
        # when the drain task runs
        assert webhook_outbox_drain_task() == 1
        # then the event is parked with what it waits for, and a retry of it is scheduled on the broker
        event = WebhookEvent.objects.get()
        assert event.status == WebhookEvent.Status.PENDING_MATCH and event.match_ref == "pi_later"
        assert _queued("webhooks") == 1
    finally:
        _purge("webhooks")


def test_a_transient_error_in_the_drain_retries_that_event_alone_and_the_drain_goes_on(db, company, monkeypatch):
    # given two waiting events; the older one's handler loses the database connection once
    from django.db import OperationalError

    from commerce.services import webhooks
    from commerce.tasks import webhook_outbox_drain_task

    digital_product(company=company, sku="OUTBOX-1")
    older, newer = _stored(company, 1), _stored(company, 2)
    real = webhooks.HANDLERS[("stripe", "checkout.session.completed")]
    failed = []

    def flaky(event):
        if event.pk == older.pk and not failed:
            failed.append(event.pk)
            raise OperationalError("server closed the connection unexpectedly")
        return real(event)

    monkeypatch.setitem(webhooks.HANDLERS, ("stripe", "checkout.session.completed"), flaky)

    # when the drain task runs (tasks run inline here: the retry and the fresh drain run at once)
    webhook_outbox_drain_task()

    # then the older event was retried alone and processed on its second attempt, and the newer one too
    older.refresh_from_db()
    newer.refresh_from_db()
    assert failed == [older.pk]
    assert (older.status, older.attempts) == (WebhookEvent.Status.PROCESSED, 2)
    assert (newer.status, newer.attempts) == (WebhookEvent.Status.PROCESSED, 1)
    assert Order.objects.filter(company=company).count() == 2
