"""The webhook outbox: a stored `WebhookEvent` still `received` is work waiting to be done.

The receivers (Stripe and Shopify alike) write the row with one INSERT and nothing else: no task is published
per event. What wakes the worker:

- On PostgreSQL the INSERT statement itself calls `pg_notify('webhook_outbox')` for a new row (not for a
  duplicate); PostgreSQL delivers it when the row commits, at no extra round trip for the request. Each
  worker that consumes the `webhooks` queue keeps a listener thread (`webhook_outbox_listen`, started when
  the worker is ready) on its own connection, which wakes the drain.
- Elsewhere (the embedded SQLite default), and when tasks run eagerly without a worker (the unit tests), the
  request wakes the drain itself after the commit (`webhook_outbox_wake`).

Waking the drain is one Redis `SET NX` on a shared mark (the cache): only the caller that sets the mark
publishes a drain task, so under load there is about one publish per drain run instead of one per event.
The drain clears the mark *before* it claims rows, then claims the oldest `received` row that no other
drain holds (`SELECT ... FOR UPDATE SKIP LOCKED`), processes it in the same transaction, and goes on until
none is left. So a row committed before a wake-up that found the mark set is seen by the drain queued then,
and several drains (one per free worker slot) share the rows without taking the same one.

At least once: a drain killed in the middle rolls back its row (it stays `received`); the mark expires after
WAKE_TTL_SECONDS, so a lost drain task only delays the next one; a listener starting up wakes the drain
once (rows stored while nobody listened), and the recovery sweep (every 2 minutes) takes rows nobody woke up
for. Processing is idempotent (row lock and state), so a row taken twice is applied once.
"""

import logging
import threading

from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

OUTBOX_CHANNEL = "webhook_outbox"
WAKE_KEY = "commerce:webhook-outbox:wake"
# A drain task queued longer than this (or lost with a killed worker) no longer stops the next wake-up.
WAKE_TTL_SECONDS = 5
# Events one drain task processes before it hands over to a fresh task (time limits, fairness with the
# other queues); it queues that task itself when more are waiting.
DRAIN_BATCH = 200


def outbox_wakes_by_notify() -> bool:
    """Whether a stored event wakes the worker through PostgreSQL's NOTIFY (a listener is there to hear it)."""
    from autonomax.celery import app

    return connection.vendor == "postgresql" and not app.conf.task_always_eager


def webhook_outbox_wake() -> None:
    """Make sure a drain will look at the events stored so far. The events are stored whatever happens here:
    a broker or cache failure is logged and left to the next wake-up or the recovery sweep."""
    from ..tasks import webhook_outbox_drain_task

    try:
        if cache.add(WAKE_KEY, 1, timeout=WAKE_TTL_SECONDS):
            webhook_outbox_drain_task.delay()
    except Exception:  # noqa: BLE001 - the row is committed; answering 500 would only bring a duplicate
        logger.exception("webhook outbox: the wake-up failed; the next one or the recovery sweep takes the event")


def webhook_outbox_drain(*, limit: int = DRAIN_BATCH, done: list | None = None) -> list:
    """Process waiting events, oldest first, until none is left or `limit` are done; the events processed
    (appended to `done` as they are, so a caller keeps them when a transient database error stops the drain
    with TransientWebhookError; that event is marked failed)."""
    from .webhooks import webhook_process_next

    cache.delete(WAKE_KEY)  # first: a wake-up after this point queues another drain
    done = [] if done is None else done
    while len(done) < limit:
        event = webhook_process_next()
        if event is None:
            break
        done.append(event)
    return done


def _listener_conninfo() -> str:
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    s = connection.settings_dict
    params = {"dbname": s["NAME"], "user": s.get("USER"), "password": s.get("PASSWORD"), "host": s.get("HOST"),
              "port": s.get("PORT")}
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if v})


def webhook_outbox_listen(*, stop: threading.Event, poll_seconds: float = 1.0) -> None:
    """LISTEN on the outbox channel with a connection of its own and wake the drain for each notification,
    until `stop` is set; reconnects after a lost connection. Runs in a thread of the worker."""
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    while not stop.is_set():
        try:
            with psycopg.connect(_listener_conninfo(), autocommit=True) as conn:
                conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                webhook_outbox_wake()  # what was stored while nobody listened
                while not stop.is_set():
                    if any(True for _ in conn.notifies(timeout=poll_seconds, stop_after=1)):
                        webhook_outbox_wake()
        except psycopg.Error:
            logger.exception("webhook outbox listener: connection lost; listening again in a second")
            stop.wait(1)


def webhook_outbox_listener_start() -> threading.Event:
    """Start the listener thread (daemon: it ends with the worker); set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=webhook_outbox_listen, kwargs={"stop": stop}, name="webhook-outbox-listener",
                     daemon=True).start()
    return stop
