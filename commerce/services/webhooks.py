"""Inbound webhooks: verify, store first, process later on the `webhooks` queue.

The stored row is the unit of work (a transactional outbox): the receiver's only write is one INSERT, then a
cheap wake-up (services.outbox); the worker's drain claims rows still `received` with SKIP LOCKED and
processes them, so a row is processed whether or not its wake-up arrived (the drain of a later event, or the
recovery sweep, takes it).

Processing is idempotent: an event already processed is skipped, and every handler merges facts into
the order state machine (services.orders), so duplicates and out-of-order deliveries converge.
An event whose order/customer/shop is not known yet is parked as `pending_match` with the reference it
waits for, and re-run when that reference appears.
"""

import base64
import hashlib
import hmac
import logging
import time
import traceback
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from autonomax.connections import connection_value, connection_values_everywhere
from autonomax.errors import AppError
from autonomax.json_input import json_object_loads
from autonomax.models import Company

from ..models import ChannelConnection, Listing, Order, OrderItem, Product, Subscription, WebhookEvent
from .consent import SHOPIFY_WORDING, STRIPE_WORDING, customer_consent_record
from .discounts import discount_redeem_by_code, discount_redemption_record
from .fulfillment import subscription_activate
from .orders import customer_upsert, order_apply, order_lock, order_refunded_total
from .outbox import OUTBOX_CHANNEL, outbox_wakes_by_notify, webhook_outbox_wake
from .refunds import refund_record_reported
from .stripe_api import from_cents

logger = logging.getLogger(__name__)

STRIPE_HEADERS = ("Stripe-Signature", "Content-Type", "User-Agent")
SHOPIFY_HEADERS = ("X-Shopify-Topic", "X-Shopify-Hmac-Sha256", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id",
                   "X-Shopify-Event-Id", "X-Shopify-Triggered-At", "X-Shopify-Api-Version", "Content-Type")


class WebhookRejected(AppError):
    """Bad signature, stale timestamp, oversize or malformed body: answered 400, nothing stored."""

    status = 400


class PendingMatch(Exception):  # noqa: N818 - a state, not a failure
    def __init__(self, ref: str, company=None):
        super().__init__(ref)
        self.ref = str(ref)  # a payload may carry a non-string id; it must not crash the bookkeeping
        self.company = company


class TransientWebhookError(Exception):
    """Processing failed for a reason a retry can fix (database hiccup)."""

    def __init__(self, message: str, *, event_id: int | None = None):
        super().__init__(message)
        self.event_id = event_id


# Connection lost, deadlock, serialization failure, lock timeout: a retry can succeed. Other database errors
# (integrity, bad data) fail the event with its traceback instead: no retry can fix them.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


# --- receive -------------------------------------------------------------------------------------------------

def _check_receivable(raw_body: bytes, *, secret: str, provider: str, setting: str) -> None:
    """Before the signature: the body is not oversize and the receiver is configured at all."""
    if len(raw_body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise WebhookRejected("Body too large.", code="body_too_large")
    if not secret:
        raise AppError(f"{provider} webhooks are not configured: set {setting}.", code="not_configured", status=503)


STRIPE_TOLERANCE_SECONDS = 300


def _stripe_signed_at(header: str) -> int:
    """The `t=` of a Stripe-Signature header the library has already verified."""
    return int(next(part.split("=", 1)[1] for part in header.split(",") if part.strip().startswith("t=")))


def _stripe_verify(raw_body: bytes, *, signature: str) -> None:
    """One endpoint for every account: the environment's signing secret first (no query on that hot path),
    then each company's own (/settings/connections/)."""
    import stripe  # noqa: PLC0415

    def secrets():
        if settings.STRIPE_WEBHOOK_SECRET:
            yield settings.STRIPE_WEBHOOK_SECRET
        for _, value in connection_values_everywhere(kind="stripe", name="webhook_secret"):
            yield value

    failure = None
    for position, secret in enumerate(secrets()):
        if position == 0:
            _check_receivable(raw_body, secret=secret, provider="Stripe", setting="STRIPE_WEBHOOK_SECRET")
        try:
            # The signature only: the library's own parsing crashes on some bodies; ours names what is wrong.
            stripe.WebhookSignature.verify_header(raw_body.decode("utf-8"), signature, secret,
                                                  tolerance=STRIPE_TOLERANCE_SECONDS)
            return
        except stripe.SignatureVerificationError as exc:
            failure = failure or exc
        except UnicodeDecodeError:
            raise WebhookRejected("Body is not valid JSON: the body is not UTF-8 text.", code="invalid_json",
                                  details={"reason": "not_utf8"}) from None
    if failure is None:  # no secret anywhere: the receiver is not configured
        _check_receivable(raw_body, secret="", provider="Stripe", setting="STRIPE_WEBHOOK_SECRET")
    raise WebhookRejected(f"Signature check failed: {failure.user_message or failure}", code="bad_signature")


def stripe_webhook_receive(*, raw_body: bytes, headers: dict) -> tuple[str, bool]:
    """Verify and store a Stripe event; returns (event id, whether it is new)."""
    signature = headers.get("Stripe-Signature", "")
    _stripe_verify(raw_body, signature=signature)
    # The library checks only the past; a timestamp far in the future is as suspect as an old one.
    if _stripe_signed_at(signature) > time.time() + STRIPE_TOLERANCE_SECONDS:
        raise WebhookRejected(f"Signature check failed: the timestamp is more than {STRIPE_TOLERANCE_SECONDS} "
                              "seconds in the future.", code="bad_signature")
    payload = json_object_loads(raw_body)
    if not isinstance(payload.get("id"), str) or not payload["id"] or not isinstance(payload.get("type"), str) \
            or not payload["type"]:
        raise WebhookRejected("Not a Stripe event (id and type are required strings).", code="invalid_event")
    pk = webhook_store(
        provider=WebhookEvent.Provider.STRIPE, event_id=payload["id"][:128], event_type=payload["type"][:100],
        payload=payload, raw_body=raw_body, headers=_pick(headers, STRIPE_HEADERS),
    )
    return payload["id"], pk is not None


def shopify_hmac(*, raw_body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


def _shopify_verify(raw_body: bytes, *, given: str, shop_domain: str) -> None:
    """SHOPIFY_API_SECRET first (no query on that hot path), then the webhook secret the shop's company
    connected (/settings/connections/)."""
    def signed_with(secret: str) -> bool:
        return bool(given) and hmac.compare_digest(shopify_hmac(raw_body=raw_body, secret=secret), given)

    default = settings.SHOPIFY_API_SECRET
    if default:
        _check_receivable(raw_body, secret=default, provider="Shopify", setting="SHOPIFY_API_SECRET")
        if signed_with(default):
            return
    shop = ChannelConnection.objects.filter(channel=ChannelConnection.Channel.SHOPIFY,
                                            shop_domain=shop_domain.lower()).select_related("company").first() \
        if shop_domain else None
    own = connection_value(company=shop.company, kind="shopify", name="webhook_secret", default=False) \
        if shop else ""
    if not default:
        _check_receivable(raw_body, secret=own, provider="Shopify", setting="SHOPIFY_API_SECRET")
    if not own or not signed_with(own):
        raise WebhookRejected("Signature check failed.", code="bad_signature")


def shopify_webhook_receive(*, raw_body: bytes, headers: dict) -> tuple[str, bool]:
    """Verify and store a Shopify webhook; returns (event id, whether it is new)."""
    _shopify_verify(raw_body, given=headers.get("X-Shopify-Hmac-Sha256", ""),
                    shop_domain=headers.get("X-Shopify-Shop-Domain", ""))
    payload = json_object_loads(raw_body)
    topic = headers.get("X-Shopify-Topic", "")
    webhook_id = headers.get("X-Shopify-Webhook-Id", "")
    shopify_event_id = headers.get("X-Shopify-Event-Id", "")
    if not topic or not (webhook_id or shopify_event_id):
        raise WebhookRejected("X-Shopify-Topic and X-Shopify-Webhook-Id/Event-Id are required.",
                              code="invalid_event")
    # One Shopify event can fan out to several topics; the same topic+event is one delivery retried.
    event_id = f"{topic}:{shopify_event_id}" if shopify_event_id else f"{topic}:webhook:{webhook_id}"
    pk = webhook_store(
        provider=WebhookEvent.Provider.SHOPIFY, event_id=event_id[:128], event_type=topic[:100], payload=payload,
        raw_body=raw_body, headers=_pick(headers, SHOPIFY_HEADERS), webhook_id=webhook_id[:128],
    )
    return event_id[:128], pk is not None


_ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF; "


def _pick(headers, names) -> dict:
    return {name: headers.get(name) for name in names if headers.get(name) is not None}


def webhook_store(*, provider: str, event_id: str, event_type: str, payload: dict, raw_body: bytes,
                  headers: dict, webhook_id: str = "") -> int | None:
    """Store the event once per provider event id and wake the outbox's drain on commit.

    Returns the new row's id, or None when the event was already stored (a duplicate delivery).
    One `INSERT ... ON CONFLICT DO NOTHING RETURNING id`: a single round trip that is safe under
    concurrent duplicates, because this is the hot path of every webhook. No task is published per event:
    the row itself is the queue (see services.outbox).
    """
    values = {
        "provider": provider, "event_id": event_id, "event_type": event_type, "payload": payload,
        "raw_body": raw_body.decode("utf-8"), "headers": headers, "webhook_id": webhook_id, "match_ref": "",
        "status": WebhookEvent.Status.RECEIVED, "attempts": 0, "last_error": "", "received_at": timezone.now(),
    }
    meta = WebhookEvent._meta
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in values]
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) "
           f"VALUES ({', '.join(['%s'] * len(columns))}) "
           f"ON CONFLICT ({quote('provider')}, {quote('event_id')}) DO NOTHING RETURNING {quote('id')}")
    by_notify = outbox_wakes_by_notify()
    if by_notify:
        # The wake-up rides in the same statement: PostgreSQL delivers the NOTIFY when it commits.
        sql = f"WITH stored AS ({sql}) SELECT id, pg_notify('{OUTBOX_CHANNEL}', '') FROM stored"
    params = [f.get_db_prep_save(values[f.name], connection) for f in columns]
    async_commit = (provider == WebhookEvent.Provider.STRIPE and connection.vendor == "postgresql"
                    and not connection.in_atomic_block)
    if async_commit:
        # A Stripe event is acknowledged without waiting for its WAL flush (the flush was most of a
        # receiver's time): what a PostgreSQL crash could lose is the last fraction of a second of
        # acknowledged events, and the nightly reconciliation lists the last 48 hours of Stripe's events
        # and stores any it lacks. Shopify's reconciliation does not replay every topic: its events wait.
        sql = _ASYNC_COMMIT + sql
    # One round trip: in autocommit PostgreSQL runs it as one implicit transaction; inside a caller's
    # transaction it joins it.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if async_commit:
            cursor.nextset()
        row = cursor.fetchone()
    if row is None:
        return None
    if not by_notify:
        transaction.on_commit(webhook_outbox_wake)
    return row[0]


# --- process -------------------------------------------------------------------------------------------------

def webhook_process(*, event_id: int, force: bool = False) -> WebhookEvent | None:
    """Run the handler for one stored event. Done events are skipped unless `force` (admin reprocess)."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return None
        if event.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED) and not force:
            return event
        error = _process_locked(event)
    if error is not None:
        raise TransientWebhookError(str(error), event_id=event.pk) from error
    return event


def webhook_process_next() -> WebhookEvent | None:
    """The outbox's claim: lock the oldest event still `received` that no other drain holds (SKIP LOCKED) and
    process it in the same transaction. None when there is none. A crash before the commit leaves the row
    `received` for the next drain or the recovery sweep."""
    with transaction.atomic():
        event = (WebhookEvent.objects.select_for_update(skip_locked=True)
                 .filter(status=WebhookEvent.Status.RECEIVED).order_by("received_at", "pk").first())
        if event is None:
            return None
        error = _process_locked(event)
    if error is not None:
        raise TransientWebhookError(str(error), event_id=event.pk) from error
    return event


def _process_locked(event: WebhookEvent) -> Exception | None:
    """Run the event's handler and save its new state (the caller holds the row lock); the transient database
    error to retry, if one happened."""
    error = None
    handler = HANDLERS.get((event.provider, event.event_type))
    event.attempts += 1
    if handler is None:
        event.status = WebhookEvent.Status.IGNORED
    else:
        try:
            with transaction.atomic():  # a failed handler leaves nothing half-written
                event.company = handler(event) or event.company
            event.status = WebhookEvent.Status.PROCESSED
            event.match_ref = ""
            event.last_error = ""
        except PendingMatch as pending:
            event.status = WebhookEvent.Status.PENDING_MATCH
            event.match_ref = pending.ref[:128]
            event.company = pending.company or event.company
        except TRANSIENT_DB_ERRORS as exc:
            event.status = WebhookEvent.Status.FAILED
            event.last_error = f"transient: {exc}"[:5000]
            error = exc
        except Exception:  # noqa: BLE001 - kept on the row for the admin; not retried blindly
            event.status = WebhookEvent.Status.FAILED
            event.last_error = traceback.format_exc()[-5000:]
            logger.exception("webhook %s (%s) failed", event.pk, event.event_type)
    event.processed_at = timezone.now() if event.status != WebhookEvent.Status.FAILED else None
    event.save(update_fields=["status", "attempts", "last_error", "processed_at", "company", "match_ref"])
    return error


def webhook_reprocess(*, events) -> int:
    """Admin action: run the chosen events again (processed ones are re-applied, which changes nothing)."""
    from ..tasks import webhook_process_task

    ids = [e.pk for e in events]
    for pk in ids:
        webhook_process_task.delay(pk, force=True)
    return len(ids)


def _resolve_pending(*refs: str) -> None:
    """Re-run events that were waiting for one of `refs` (after this transaction commits)."""
    from ..tasks import webhook_process_task

    refs = [r for r in refs if r]
    if not refs:
        return
    ids = list(WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING_MATCH, match_ref__in=refs)
               .values_list("pk", flat=True))
    for pk in ids:
        transaction.on_commit(lambda pk=pk: webhook_process_task.delay(pk))


def _ts(value) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else timezone.now()


# --- Stripe handlers -----------------------------------------------------------------------------------------

def _stripe_object(event) -> dict:
    obj = (event.payload.get("data") or {}).get("object")
    if not isinstance(obj, dict):
        raise AppError("Stripe event has no data.object.", code="invalid_event")
    return obj


def _stripe_order(obj: dict, *, payment_intent: str = "") -> Order | None:
    """Find our order: by the order id we put in metadata, the checkout session id, or the payment intent."""
    metadata = obj.get("metadata") or {}
    order_id = str(metadata.get("order_id") or "")
    base = Order.objects.filter(channel=Order.Channel.STRIPE)
    if order_id.isdigit():
        order = base.filter(pk=int(order_id), company__slug=metadata.get("company", "")).first()
        if order is not None:
            return order
    if obj.get("object") == "checkout.session" and obj.get("id"):
        order = base.filter(external_id=obj["id"]).first()
        if order is not None:
            return order
    if payment_intent:
        return base.filter(payment_intent_id=payment_intent).first()
    return None


def _stripe_company(obj: dict) -> Company | None:
    slug = (obj.get("metadata") or {}).get("company")
    if slug:
        return Company.objects.filter(slug=slug, is_active=True).first()
    customer_id = obj.get("customer")
    if isinstance(customer_id, str) and customer_id:
        from ..models import Customer

        customer = Customer.objects.filter(stripe_customer_id=customer_id).select_related("company").first()
        return customer.company if customer else None
    return None


def _order_from_session(session: dict) -> Order | None:
    """A completed session we did not start (payment link, other checkout) carrying company + product_sku."""
    metadata = session.get("metadata") or {}
    company = _stripe_company(session)
    product = company and Product.objects.filter(company=company, sku=metadata.get("product_sku", "")).first()
    if not product:
        return None
    order, created = Order.objects.get_or_create(
        company=company, channel=Order.Channel.STRIPE, external_id=session["id"],
        defaults={"status": Order.Status.PENDING, "currency": (session.get("currency") or product.currency).upper(),
                  "total": from_cents(session.get("amount_total")) if session.get("amount_total") is not None
                  else product.price,
                  "created_at": _ts(session.get("created")), "income_stream": product.income_stream},
    )
    if created:
        OrderItem.objects.create(order=order, product=product, title=product.name, quantity=1,
                                 unit_price=order.total)
    return order


def stripe_checkout_session_completed(event) -> Company:
    session = _stripe_object(event)
    payment_intent = session.get("payment_intent") or ""
    order = _stripe_order(session, payment_intent=payment_intent) or _order_from_session(session)
    if order is None:
        raise PendingMatch(session.get("id") or "", company=_stripe_company(session))
    order = order_lock(order_id=order.pk)
    details = session.get("customer_details") or {}
    customer = customer_upsert(company=order.company, email=details.get("email") or session.get("customer_email"),
                               name=details.get("name") or "", stripe_customer_id=session.get("customer") or "")
    subscription_id = session.get("subscription") or ""
    if subscription_id:
        item = order.items.select_related("product").exclude(product=None).first()
        if item is not None:
            subscription_activate(order=order, product=item.product, external_id=subscription_id)
    paid = session.get("payment_status") in ("paid", "no_payment_required")
    order_apply(order=order, customer=customer, payment_intent_id=payment_intent,
                paid_at=_ts(event.payload.get("created")) if paid else None)
    if customer is not None and (session.get("consent") or {}).get("promotions") == "opt_in":
        customer_consent_record(customer=customer, granted=True, source="stripe_checkout", wording=STRIPE_WORDING,
                                recorded_at=_ts(event.payload.get("created")))
    if paid and order.discount_id:
        discount_amount = from_cents((session.get("total_details") or {}).get("amount_discount"))
        discount_redemption_record(order=order, discount=order.discount, amount=discount_amount, channel="stripe",
                                   redeemed_at=_ts(event.payload.get("created")))
    _resolve_pending(payment_intent, session.get("id"), subscription_id)
    return order.company


def stripe_payment_intent_succeeded(event) -> Company:
    intent = _stripe_object(event)
    order = _stripe_order(intent, payment_intent=intent.get("id", ""))
    if order is None:
        raise PendingMatch(intent.get("id") or "", company=_stripe_company(intent))
    order = order_lock(order_id=order.pk)
    order_apply(order=order, paid_at=_ts(event.payload.get("created")), payment_intent_id=intent.get("id", ""))
    _resolve_pending(intent.get("id", ""))
    return order.company


def stripe_charge_refunded(event) -> Company:
    charge = _stripe_object(event)
    payment_intent = charge.get("payment_intent") or ""
    order = _stripe_order(charge, payment_intent=payment_intent)
    if order is None:
        raise PendingMatch(payment_intent or charge.get("id") or "", company=_stripe_company(charge))
    order = order_lock(order_id=order.pk)
    for data in ((charge.get("refunds") or {}).get("data") or []):
        if not data.get("id") or data.get("status") not in ("succeeded", "pending", None):
            continue
        refund_record_reported(order=order, external_id=data["id"], amount=from_cents(data.get("amount")),
                               reason=data.get("reason") or "", created_at=_ts(data.get("created")))
    refunded = max(from_cents(charge.get("amount_refunded")), order_refunded_total(order=order))
    order_apply(order=order, amount_refunded=refunded, payment_intent_id=payment_intent)
    return order.company


def _subscription_upsert(event, *, cancelled: bool) -> Company:
    sub = _stripe_object(event)
    existing = Subscription.objects.filter(external_id=sub.get("id", "")).select_related("company").first()
    company = existing.company if existing else _stripe_company(sub)
    if company is None:
        raise PendingMatch(sub.get("customer") or sub.get("id") or "")
    subscription, _ = Subscription.objects.select_for_update().get_or_create(
        company=company, external_id=sub["id"],
        defaults={"status": Subscription.Status.ACTIVE, "started_at": _ts(sub.get("start_date"))},
    )
    fields = set()
    if subscription.customer_id is None and sub.get("customer"):
        from ..models import Customer

        subscription.customer = Customer.objects.filter(company=company, stripe_customer_id=sub["customer"]).first()
        fields.add("customer")
    ended = sub.get("ended_at") or sub.get("canceled_at")
    if (cancelled or ended) and subscription.ended_at is None:
        # Cancellation is final: a late "created" never reopens it.
        subscription.ended_at = _ts(ended)
        subscription.status = Subscription.Status.CANCELLED
        fields |= {"ended_at", "status"}
    if fields:
        subscription.save(update_fields=sorted(fields))
    return company


def stripe_subscription_created(event) -> Company:
    return _subscription_upsert(event, cancelled=False)


def stripe_subscription_deleted(event) -> Company:
    return _subscription_upsert(event, cancelled=True)


def stripe_invoice_paid(event) -> Company:
    invoice = _stripe_object(event)
    company = _stripe_company(invoice)
    subscription = None
    if invoice.get("subscription"):
        subscription = Subscription.objects.filter(external_id=invoice["subscription"]).first()
        company = company or (subscription.company if subscription else None)
    if company is None:
        raise PendingMatch(invoice.get("customer") or invoice.get("id") or "")
    if invoice.get("billing_reason") == "subscription_create" and subscription and subscription.order_id:
        return company  # the first invoice is the checkout order, already counted
    customer = None
    if invoice.get("customer_email"):
        customer = customer_upsert(company=company, email=invoice["customer_email"],
                                   stripe_customer_id=invoice.get("customer") or "")
    product = subscription.product if subscription else None
    order, created = Order.objects.get_or_create(
        company=company, channel=Order.Channel.STRIPE, external_id=invoice["id"],
        defaults={"status": Order.Status.PENDING, "currency": (invoice.get("currency") or "usd").upper(),
                  "total": from_cents(invoice.get("amount_paid")), "created_at": _ts(invoice.get("created")),
                  "income_stream": product.income_stream if product else None},
    )
    if created:
        lines = (invoice.get("lines") or {}).get("data") or [{}]
        OrderItem.objects.create(order=order, product=product, title=(lines[0].get("description") or
                                 "Subscription renewal")[:200], unit_price=order.total)
    order = order_lock(order_id=order.pk)
    # A renewal pays for access that is already active: nothing to deliver again.
    order_apply(order=order, customer=customer, paid_at=_ts(event.payload.get("created")))
    return company


# --- Shopify handlers ----------------------------------------------------------------------------------------

def _shopify_company(event) -> Company:
    domain = (event.headers.get("X-Shopify-Shop-Domain") or "").lower()
    connection = ChannelConnection.objects.filter(
        channel=ChannelConnection.Channel.SHOPIFY, shop_domain__iexact=domain).select_related("company").first()
    if connection is None:
        raise PendingMatch(f"shop:{domain}")
    return connection.company


def shopify_order_ref(order_id) -> str:
    return f"shopify-order:{order_id}"


def shopify_order_upsert(*, company: Company, data: dict, paid: bool) -> Order:
    """Create or update a Shopify order from its REST-shaped payload (webhook or reconciliation)."""
    external_id = str(data["id"])
    order, created = Order.objects.get_or_create(
        company=company, channel=Order.Channel.SHOPIFY, external_id=external_id,
        defaults={"status": Order.Status.PENDING, "currency": data.get("currency") or company.currency,
                  "total": Decimal(str(data.get("total_price") or "0")), "created_at": timezone.now()},
    )
    order = order_lock(order_id=order.pk)
    if created:
        for line in data.get("line_items") or []:
            product = Product.objects.filter(company=company, sku=line.get("sku") or "").first() \
                if line.get("sku") else None
            OrderItem.objects.create(order=order, product=product, title=(line.get("title") or "")[:200],
                                     quantity=int(line.get("quantity") or 1),
                                     unit_price=Decimal(str(line.get("price") or "0")))
    email = data.get("email") or data.get("contact_email") or (data.get("customer") or {}).get("email")
    customer = customer_upsert(company=company, email=email,
                               shopify_customer_id=str((data.get("customer") or {}).get("id") or ""))
    financial = data.get("financial_status")
    is_paid = paid or financial in ("paid", "partially_refunded", "refunded")
    paid_at = None
    if is_paid:
        paid_at = _parse_iso(data.get("processed_at")) or timezone.now()
    cancelled_at = _parse_iso(data.get("cancelled_at"))
    order_apply(order=order, customer=customer, paid_at=paid_at, cancelled_at=cancelled_at)
    if customer is not None:
        _shopify_consent(customer=customer, data=data.get("customer") or {})
    if is_paid:
        for used in data.get("discount_codes") or []:
            if isinstance(used, dict) and used.get("code"):
                discount_redeem_by_code(order=order, code=used["code"], channel="shopify", redeemed_at=paid_at,
                                        amount=Decimal(str(used.get("amount") or "0")))
    _resolve_pending(shopify_order_ref(external_id))
    return order


def _shopify_consent(*, customer, data: dict) -> None:
    """The customer's email marketing consent as Shopify reports it (subscribed / unsubscribed)."""
    consent = data.get("email_marketing_consent") or {}
    state = str(consent.get("state") or "").lower()
    if state not in ("subscribed", "unsubscribed"):
        return
    customer_consent_record(customer=customer, granted=state == "subscribed", source="shopify",
                            wording=SHOPIFY_WORDING if state == "subscribed" else "Shopify: unsubscribed",
                            recorded_at=_parse_iso(consent.get("consent_updated_at")) or timezone.now())


def _parse_iso(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def shopify_orders_create(event) -> Company:
    company = _shopify_company(event)
    shopify_order_upsert(company=company, data=event.payload, paid=False)
    return company


def shopify_orders_paid(event) -> Company:
    company = _shopify_company(event)
    shopify_order_upsert(company=company, data=event.payload, paid=True)
    return company


def shopify_refunds_create(event) -> Company:
    company = _shopify_company(event)
    data = event.payload
    order = Order.objects.filter(company=company, channel=Order.Channel.SHOPIFY,
                                 external_id=str(data.get("order_id"))).first()
    if order is None:
        raise PendingMatch(shopify_order_ref(data.get("order_id")), company=company)
    order = order_lock(order_id=order.pk)
    amount = sum((Decimal(str(t.get("amount") or "0")) for t in data.get("transactions") or []
                  if t.get("kind") == "refund" and t.get("status") in ("success", None)), Decimal("0"))
    if not amount:
        amount = sum((Decimal(str(li.get("subtotal") or "0")) for li in data.get("refund_line_items") or []),
                     Decimal("0"))
    refund_record_reported(order=order, external_id=f"shopify:{data.get('id')}", amount=amount,
                           reason=data.get("note") or "",
                           created_at=_parse_iso(data.get("created_at")) or timezone.now())
    order_apply(order=order, amount_refunded=order_refunded_total(order=order))
    return company


def shopify_products_update(event) -> Company:
    company = _shopify_company(event)
    data = event.payload
    gid = data.get("admin_graphql_api_id") or f"gid://shopify/Product/{data.get('id')}"
    status = str(data.get("status") or "").lower()
    if status:
        Listing.objects.filter(company=company, channel="shopify", external_id=gid).update(status=status)
    return company


def shopify_app_uninstalled(event) -> Company:
    company = _shopify_company(event)
    ChannelConnection.objects.filter(company=company, channel=ChannelConnection.Channel.SHOPIFY).update(
        is_active=False)
    return company


HANDLERS = {
    ("stripe", "checkout.session.completed"): stripe_checkout_session_completed,
    ("stripe", "payment_intent.succeeded"): stripe_payment_intent_succeeded,
    ("stripe", "charge.refunded"): stripe_charge_refunded,
    ("stripe", "customer.subscription.created"): stripe_subscription_created,
    ("stripe", "customer.subscription.deleted"): stripe_subscription_deleted,
    ("stripe", "invoice.paid"): stripe_invoice_paid,
    ("shopify", "orders/create"): shopify_orders_create,
    ("shopify", "orders/paid"): shopify_orders_paid,
    ("shopify", "refunds/create"): shopify_refunds_create,
    ("shopify", "products/update"): shopify_products_update,
    ("shopify", "app/uninstalled"): shopify_app_uninstalled,
}
