"""Delivering what was paid for, by product kind, and taking it back on refund."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from autonomax.connections import company_mail
from autonomax.errors import AppError

from ..models import DownloadGrant, Order, Product, ServiceTask, Subscription

logger = logging.getLogger(__name__)

GRANT_TTL = timedelta(hours=24)
GRANT_MAX_DOWNLOADS = 5
# How long a sender holds a grant's email before another may send it (the recovery sweep's staleness, three
# minutes by default): longer than any send can take with EMAIL_TIMEOUT (30 s).
DELIVERY_EMAIL_LEASE = timedelta(seconds=settings.RECOVERY_STALE_SECONDS)
DOWNLOAD_SALT = "commerce.download"


class DownloadUnavailable(AppError):
    """The download link is expired, used up, revoked or not a link we issued."""

    status = 410

    def __init__(self, message: str, *, code: str):
        super().__init__(message, code=code)


def order_fulfill(*, order: Order) -> Order:
    """Deliver each item of a paid, locked order. A repeat is a no-op."""
    if order.fulfilled_at is not None:
        return order
    from ..tasks import email_digital_delivery_task, email_order_confirmation_task

    now = timezone.now()
    confirm = False
    delivered = False
    for item in order.items.select_related("product"):
        product = item.product
        if product is None:
            continue  # not ours to deliver (e.g. a Shopify line item we do not sell here)
        delivered = True
        if product.kind == Product.Kind.DIGITAL:
            grant, created = DownloadGrant.objects.get_or_create(
                order=order, product=product,
                defaults={"company": order.company, "expires_at": now + GRANT_TTL,
                          "max_downloads": GRANT_MAX_DOWNLOADS},
            )
            if created:
                transaction.on_commit(lambda pk=grant.pk: email_digital_delivery_task.delay(pk))
        elif product.kind == Product.Kind.SERVICE:
            ServiceTask.objects.get_or_create(order=order, product=product, defaults={"company": order.company})
            confirm = True
        elif product.kind == Product.Kind.SUBSCRIPTION:
            subscription_activate(order=order, product=product)
            confirm = True
    if confirm:
        transaction.on_commit(lambda: email_order_confirmation_task.delay(order.pk))
    if not delivered:
        return order
    order.fulfilled_at = now
    order.status = Order.Status.FULFILLED
    if confirm:
        order.confirmation_due_at = now  # the sweep sends it if this task is lost
    order.save(update_fields=["fulfilled_at", "status", "confirmation_due_at"])
    return order


def order_deliveries_resend_pending(*, order: Order) -> None:
    """The order just learned its buyer: send the emails that were waiting for an address (download links, the
    order confirmation)."""
    from ..tasks import email_digital_delivery_task, email_order_confirmation_task

    for pk in DownloadGrant.objects.filter(order=order, emailed_at=None, revoked_at=None).values_list("pk", flat=True):
        transaction.on_commit(lambda pk=pk: email_digital_delivery_task.delay(pk))
    if order.confirmation_due_at and not order.confirmation_emailed_at:
        transaction.on_commit(lambda: email_order_confirmation_task.delay(order.pk))


def order_fulfillment_revoke(*, order: Order) -> None:
    """A fully refunded order: downloads stop, open service work and subscriptions end."""
    now = timezone.now()
    DownloadGrant.objects.filter(order=order, revoked_at=None).update(revoked_at=now)
    ServiceTask.objects.filter(order=order, status=ServiceTask.Status.TO_SCHEDULE).update(
        status=ServiceTask.Status.CANCELLED)
    Subscription.objects.filter(order=order, status=Subscription.Status.ACTIVE).update(
        status=Subscription.Status.CANCELLED, ended_at=now)


def subscription_activate(*, order: Order, product: Product, external_id: str = "") -> Subscription:
    """Activate the subscription bought in `order` (keyed by Stripe's id when known). Never reopens a
    cancelled one: a cancellation that arrived first still wins."""
    existing = Subscription.objects.filter(company=order.company, order=order).first()
    if existing is None and external_id:
        existing = Subscription.objects.filter(company=order.company, external_id=external_id).first()
    if existing is None and order.customer_id and not external_id:
        # A renewal order: the customer's subscription to this product is already running.
        renewed = Subscription.objects.filter(company=order.company, customer_id=order.customer_id, product=product,
                                              status=Subscription.Status.ACTIVE).first()
        if renewed is not None:
            return renewed
    if existing is not None:
        fields = []
        if existing.order_id is None:
            existing.order = order
            fields.append("order")
        if existing.product_id is None:
            existing.product = product
            fields.append("product")
        if existing.customer_id is None and order.customer_id:
            existing.customer_id = order.customer_id
            fields.append("customer")
        if fields:
            existing.save(update_fields=fields)
        return existing
    return Subscription.objects.create(
        company=order.company, external_id=external_id or f"order:{order.pk}", customer_id=order.customer_id,
        product=product, order=order, status=Subscription.Status.ACTIVE, started_at=timezone.now(),
    )


def download_token_make(*, grant: DownloadGrant) -> str:
    return signing.dumps({"g": grant.pk}, salt=DOWNLOAD_SALT, compress=True)


def download_url(*, grant: DownloadGrant) -> str:
    path = reverse("commerce:download", kwargs={"token": download_token_make(grant=grant)})
    return settings.SITE_URL.rstrip("/") + path


@transaction.atomic
def download_consume(*, token: str) -> DownloadGrant:
    """Count one download against the grant behind `token`, or say why it is not available."""
    try:
        data = signing.loads(token, salt=DOWNLOAD_SALT, max_age=GRANT_TTL)
    except signing.SignatureExpired:
        raise DownloadUnavailable("This download link has expired.", code="expired") from None
    except signing.BadSignature:
        raise DownloadUnavailable("This download link is not valid.", code="invalid") from None
    grant_id = data.get("g") if isinstance(data, dict) else None
    now = timezone.now()
    # One conditional UPDATE: two clicks at once can never both take the last download.
    taken = DownloadGrant.objects.filter(
        pk=grant_id, revoked_at=None, expires_at__gt=now, download_count__lt=F("max_downloads"),
    ).update(download_count=F("download_count") + 1)
    grant = DownloadGrant.objects.select_related("product", "order", "company").filter(pk=grant_id).first()
    if grant is None:
        raise DownloadUnavailable("This download link is not valid.", code="invalid")
    if not taken:
        if grant.revoked_at:
            raise DownloadUnavailable("This download was cancelled (the order was refunded).", code="revoked")
        if grant.expires_at <= now:
            raise DownloadUnavailable("This download link has expired.", code="expired")
        raise DownloadUnavailable("This download link has been used the maximum number of times.",
                                  code="limit_reached")
    if not grant.product.asset:
        raise AppError(_asset_missing_escalate(grant=grant), code="asset_missing", status=404)
    return grant


def _asset_missing_escalate(*, grant: DownloadGrant) -> str:
    """Tell the owners (once a day per order and product) that a buyer cannot get their file; return what the
    buyer is told, which says someone was told only when someone was."""
    from autonomax.alerts import owners_alert  # noqa: PLC0415

    order, product = grant.order, grant.product
    told = owners_alert(
        company=grant.company, subject=f"A buyer cannot download '{product.name}': the file is missing",
        body=(f"Order {order.pk} ({order.total} {order.currency}, buyer "
              f"{order.customer.email if order.customer_id else 'unknown'}) paid for '{product.name}' "
              f"(product {product.pk}), which has no file to deliver.\n\nUpload the file to the product, "
              f"then send the buyer their download link from the order page.\n"),
        once_key=f"asset-missing:{order.pk}:{product.pk}")
    if told:
        return "The file for this product is missing. The shop owners have been told and will send it to you."
    contact = support_address(grant.company)
    return f"The file for this product is missing. Please write to {contact} with your order number {order.pk}."


def support_address(company) -> str:
    return company.support_email or settings.DEFAULT_FROM_EMAIL


def digital_delivery_send(*, grant_id: int) -> bool:
    """Send the `digital_delivery` email for a grant until it is recorded as sent. Returns False when there is
    nothing to send (already sent, revoked, being sent by another worker, or no buyer email yet: then it is
    sent when the order learns its customer).

    At least once: the sender takes a lease on the grant, sends, then records `emailed_at`. A worker killed
    while sending leaves the lease to expire and the recovery sweep sends again; a worker killed in the
    instant between the send and the record is the one case where the buyer gets the email twice. Claiming
    the grant as sent before sending would lose that email instead, which is worse for someone who paid."""
    if not DownloadGrant.objects.filter(pk=grant_id, order__customer__isnull=False).exists():
        return False
    unsent = DownloadGrant.objects.filter(pk=grant_id, emailed_at=None, revoked_at=None)
    if not _lease_take(unsent, claimed="email_claimed_at"):
        return False
    grant = DownloadGrant.objects.select_related("product", "order__customer", "company").get(pk=grant_id)
    customer = grant.order.customer
    context = {
        "product_name": grant.product.name, "link": download_url(grant=grant), "grant": grant,
        "support_email": support_address(grant.company), "company": grant.company,
        "order_status_url": settings.SITE_URL.rstrip("/") + reverse(
            "commerce:order-status", kwargs={"token": grant.order.access_token}),
    }
    _send_leased(EmailMessage(
        subject=f"Your download: {grant.product.name}",
        body=render_to_string("commerce/email/digital_delivery.txt", context),
        to=[customer.email], reply_to=[context["support_email"]], **company_mail(company=grant.company),
    ), DownloadGrant.objects.filter(pk=grant_id), claimed="email_claimed_at", sent="emailed_at")
    return True


def _lease_take(unsent, *, claimed: str) -> bool:
    """Take the lease to send an email for the one row of `unsent` (free, or left by a sender dead for longer
    than DELIVERY_EMAIL_LEASE). A single-table conditional UPDATE: of two concurrent senders one wins."""
    now = timezone.now()
    free = Q(**{claimed: None}) | Q(**{f"{claimed}__lt": now - DELIVERY_EMAIL_LEASE})
    return bool(unsent.filter(free).update(**{claimed: now}))


def _send_leased(message: EmailMessage, row, *, claimed: str, sent: str) -> None:
    """Send under the lease, then record it as sent; a failed send releases the lease for the task's retry."""
    try:
        message.send()
    except Exception:
        row.update(**{claimed: None})
        raise
    row.update(**{sent: timezone.now()})


def order_confirmation_send(*, order_id: int) -> bool:
    """Send an order's confirmation once it is owed and not yet sent; False when there is nothing to send
    (not owed, already sent, being sent, or no buyer email yet: the recovery sweep sends it once there is).
    At least once, with a lease, as `digital_delivery_send`."""
    if not Order.objects.filter(pk=order_id, customer__isnull=False).exists():
        return False
    owed = Order.objects.filter(pk=order_id, confirmation_due_at__isnull=False, confirmation_emailed_at=None)
    if not _lease_take(owed, claimed="confirmation_claimed_at"):
        return False
    order = Order.objects.select_related("customer", "company").get(pk=order_id)
    tasks = list(ServiceTask.objects.filter(order=order).select_related("product"))
    subscriptions = list(Subscription.objects.filter(order=order).select_related("product"))
    context = {
        "order": order, "company": order.company, "service_tasks": tasks, "subscriptions": subscriptions,
        "support_email": support_address(order.company),
        "order_status_url": settings.SITE_URL.rstrip("/") + reverse(
            "commerce:order-status", kwargs={"token": order.access_token}),
    }
    _send_leased(EmailMessage(
        subject=f"Order confirmed: {order.company.name}",
        body=render_to_string("commerce/email/order_confirmation.txt", context),
        to=[order.customer.email], reply_to=[context["support_email"]], **company_mail(company=order.company),
    ), Order.objects.filter(pk=order_id), claimed="confirmation_claimed_at", sent="confirmation_emailed_at")
    ServiceTask.objects.filter(order=order, confirmed_at=None).update(confirmed_at=timezone.now())
    return True
