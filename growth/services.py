"""Marketing email to segments, with one-click unsubscribe and never twice per send."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from autonomax.errors import AppError
from autonomax.models import Company

from .deliverability import provider_message_id, tracking_tag
from .models import EmailDelivery, Lead, Unsubscribe
from .personal_data import suppressed_address
from .rest import people_resting

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "growth.unsubscribe"
SEGMENTS = ("lapsed_customers", "pending_checkouts", "warm_leads")


def unsubscribe_token(*, company: Company, email: str) -> str:
    return signing.dumps({"c": company.pk, "e": email.lower()}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(*, company: Company, email: str) -> str:
    base = settings.SITE_URL.rstrip("/")
    return base + reverse("unsubscribe", args=[unsubscribe_token(company=company, email=email)])


@transaction.atomic
def lead_unsubscribe(*, token: str) -> tuple[Company, str]:
    """Record an unsubscribe from a link; the lead (if any) is marked unsubscribed. Repeats are harmless."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature as exc:
        raise AppError("This unsubscribe link is not valid.", code="bad_token") from exc
    company = Company.objects.filter(pk=data.get("c")).first()
    if company is None:
        raise AppError("This unsubscribe link is not valid.", code="bad_token")
    email = data["e"]
    address_unsubscribe(company=company, email=email, source="unsubscribe_link")
    return company, email


def address_unsubscribe(*, company: Company, email: str, source: str) -> None:
    """The person asked for no more marketing (our link, or the email provider's): suppressed, the lead marked,
    the customer's consent withdrawn. Repeats are harmless."""
    Unsubscribe.objects.get_or_create(company=company, email=email)
    Lead.objects.filter(company=company, email__iexact=email).update(status=Lead.Status.UNSUBSCRIBED, consent=False)
    from commerce.services.consent import customer_consent_withdraw_email  # noqa: PLC0415

    customer_consent_withdraw_email(company=company, email=email, source=source)


def email_segment_recipients(*, company: Company, segment: str, now=None, except_send_key: str = "") -> list[dict]:
    """[{email, name, lead_id}] for a named segment, minus unsubscribed addresses and the people resting after
    a marketing email (`rest.people_resting`; a send's own emails, `except_send_key`, do not count).

    lapsed_customers: bought 30-180 days ago and not since. pending_checkouts:
    an unpaid order in the last 7 days. warm_leads: consenting leads scoring
    50+ that have not converted.
    """
    # Both customer segments hold only customers whose recorded consent is `granted` (commerce owns it).
    from commerce.selectors import customers_lapsed, customers_with_pending_checkout  # noqa: PLC0415

    now = now or timezone.now()
    if segment == "lapsed_customers":
        rows = customers_lapsed(company=company, since=now - timedelta(days=180), until=now - timedelta(days=30))
        people = [{"email": r["email"], "name": r["name"], "lead_id": None} for r in rows]
    elif segment == "pending_checkouts":
        rows = customers_with_pending_checkout(company=company, since=now - timedelta(days=7))
        people = [{"email": r["email"], "name": r["name"], "lead_id": None} for r in rows]
    elif segment == "warm_leads":
        rows = (Lead.objects.filter(company=company, consent=True, score__gte=50)
                .exclude(status__in=[Lead.Status.CONVERTED, Lead.Status.UNSUBSCRIBED, Lead.Status.LOST])
                .values("id", "email", "name"))
        people = [{"email": r["email"], "name": r["name"], "lead_id": r["id"]} for r in rows]
    else:
        raise AppError(f"unknown segment '{segment}' (one of {', '.join(SEGMENTS)})", code="invalid_segment")
    blocked = {e.lower() for e in Unsubscribe.objects.filter(company=company).values_list("email", flat=True)}
    blocked |= people_resting(company=company, now=now, except_send_key=except_send_key)
    seen, result = set(), []
    for person in sorted(people, key=lambda p: p["email"].lower()):
        email = person["email"].lower()
        if email in blocked or suppressed_address(email) in blocked or email in seen:
            continue
        seen.add(email)
        result.append(person)
    return result


# Recipients handled per round trip: the kill switch, the recipient check, the delivery rows and their sent
# marks cost a constant number of queries per batch, whatever its size.
SEND_BATCH = 200


def email_segment_send(*, company: Company, segment: str, subject: str, body: str, send_key: str,
                       guard=None, limit: int = 500, recipient_check=None, exclude=()) -> dict:
    """Send one email per recipient of the segment, at most once per (send_key, recipient).

    Recipients go in batches of `SEND_BATCH`. A batch's delivery rows are committed before any of its
    messages goes out, so a retried or duplicated send skips everyone already attempted: a crash between
    the rows and the sends loses those emails rather than sending them twice. A mail server error
    (OSError) frees the rows of the messages not sent and propagates, for a retry.
    `guard()` is called before each batch (the kill switch). `recipient_check({email: text})` returns
    {email: reason} for the people who must not get their text (e.g. the code it mentions is not valid for
    them), checked for the whole batch at once; they are skipped and counted under `not_sent`. `exclude`:
    addresses never contacted by this send (a play's held-out group), whatever the segment says.
    """
    held_out = {e.lower() for e in exclude}
    recipients = [p for p in email_segment_recipients(company=company, segment=segment, except_send_key=send_key)
                  if p["email"].lower() not in held_out][:limit]
    sent = skipped = 0
    not_sent: list[dict] = []
    for first in range(0, len(recipients), SEND_BATCH):
        batch = recipients[first:first + SEND_BATCH]
        if guard is not None:
            guard()
        texts = {p["email"]: body.replace("{name}", p["name"] or "there") for p in batch}
        reasons = recipient_check(texts) if recipient_check is not None else {}
        not_sent += [{"email": p["email"], "reason": reasons[p["email"]]} for p in batch if reasons.get(p["email"])]
        wanted = [p for p in batch if not reasons.get(p["email"])]
        claimed = _deliveries_claim(company=company, send_key=send_key, subject=subject, people=wanted)
        skipped += len(wanted) - len(claimed)
        sent += _deliveries_send(company=company, subject=subject, deliveries=claimed, texts=texts)
    return {"segment": segment, "recipients": len(recipients), "sent": sent, "already_sent": skipped,
            "not_sent": not_sent, "held_out": len(held_out)}


def _deliveries_claim(*, company: Company, send_key: str, subject: str, people: list[dict]) -> list[EmailDelivery]:
    """The delivery rows of the people this send has not attempted yet, created (and committed, outside a
    transaction) in one insert; the people already attempted are left out."""
    if not people:
        return []
    attempted = set(EmailDelivery.objects.filter(company=company, send_key=send_key,
                                                 email__in=[p["email"] for p in people])
                    .values_list("email", flat=True))
    rows = [EmailDelivery(company=company, send_key=send_key, email=p["email"], lead_id=p["lead_id"],
                          subject=subject[:200]) for p in people if p["email"] not in attempted]
    try:
        with transaction.atomic():
            return EmailDelivery.objects.bulk_create(rows)
    except IntegrityError:
        pass
    # A duplicate of this send claimed some of them meanwhile: the unique key decides, one by one.
    claimed = []
    for row in rows:
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            continue
        claimed.append(row)
    return claimed


def _deliveries_send(*, company: Company, subject: str, deliveries: list[EmailDelivery], texts: dict[str, str]) -> int:
    """Send the claimed deliveries over one mail connection and mark the sent ones in one update. A mail
    server error frees the rows of the messages that did not go out (a retry sends them) and propagates."""
    if not deliveries:
        return 0
    done: list[EmailDelivery] = []
    sending = None  # the delivery whose message is being handed to the mail server
    try:
        with get_connection() as mail:
            for delivery in deliveries:
                link = unsubscribe_url(company=company, email=delivery.email)
                text = texts[delivery.email] + f"\n--\n{company.name}\nUnsubscribe: {link}\n"
                # RFC 8058 one-click: the mail client POSTs "List-Unsubscribe=One-Click" to the signed link.
                message = EmailMessage(subject=subject, body=text, to=[delivery.email],
                                       from_email=company.support_email or None, connection=mail,
                                       headers={"List-Unsubscribe": f"<{link}>",
                                                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
                tracking_tag(message, kind="delivery", pk=delivery.pk)
                sending = delivery
                message.send()
                sending = None
                delivery.status = EmailDelivery.Status.SENT
                delivery.sent_at = timezone.now()
                delivery.provider_message_id = provider_message_id(message)
                done.append(delivery)
    except OSError:
        # The mail server refused or is down: nothing went out from here on, so free those rows and let
        # the caller retry later; everyone already sent stays recorded and is skipped then.
        EmailDelivery.objects.filter(pk__in=[d.pk for d in deliveries[len(done):]]).delete()
        raise
    except BaseException:
        # Anything else: the message being handed over may have gone out (its row stays), the rest did not.
        EmailDelivery.objects.filter(pk__in=[d.pk for d in deliveries[len(done):] if d is not sending]).delete()
        raise
    finally:
        if done:
            EmailDelivery.objects.bulk_update(done, ["status", "sent_at", "provider_message_id"])
    return len(done)
