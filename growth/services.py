"""Marketing email to segments, with one-click unsubscribe and never twice per send."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from autonomax.errors import AppError
from autonomax.models import Company

from .deliverability import provider_message_id, tracking_tag
from .models import EmailDelivery, Lead, Unsubscribe
from .personal_data import suppressed_address

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


def email_segment_recipients(*, company: Company, segment: str, now=None) -> list[dict]:
    """[{email, name, lead_id}] for a named segment, minus unsubscribed addresses.

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
    seen, result = set(), []
    for person in sorted(people, key=lambda p: p["email"].lower()):
        email = person["email"].lower()
        if email in blocked or suppressed_address(email) in blocked or email in seen:
            continue
        seen.add(email)
        result.append(person)
    return result


def email_segment_send(*, company: Company, segment: str, subject: str, body: str, send_key: str,
                       guard=None, limit: int = 500, recipient_check=None, exclude=()) -> dict:
    """Send one email per recipient of the segment, at most once per (send_key, recipient).

    The delivery row is committed before the message goes out, so a retried
    or duplicated send skips everyone already attempted: a crash between the
    row and the send loses that email rather than sending it twice. A mail
    server error (OSError) frees that row and propagates, for a retry.
    `guard()` is called before each send (the kill switch). `recipient_check(email, text)` may return a
    reason not to send this text to this person (e.g. the code it mentions is not valid for them); they are
    skipped and counted under `not_sent`. `exclude`: addresses never contacted by this send (a play's
    held-out group), whatever the segment says.
    """
    held_out = {e.lower() for e in exclude}
    recipients = [p for p in email_segment_recipients(company=company, segment=segment)
                  if p["email"].lower() not in held_out][:limit]
    sent = skipped = 0
    not_sent: list[dict] = []
    for person in recipients:
        if guard is not None:
            guard()
        text = body.replace("{name}", person["name"] or "there")
        if recipient_check is not None:
            reason = recipient_check(person["email"], text)
            if reason:
                not_sent.append({"email": person["email"], "reason": reason})
                continue
        try:
            with transaction.atomic():
                delivery = EmailDelivery.objects.create(company=company, send_key=send_key, email=person["email"],
                                                        lead_id=person["lead_id"], subject=subject[:200])
        except IntegrityError:
            skipped += 1
            continue
        link = unsubscribe_url(company=company, email=person["email"])
        text += f"\n--\n{company.name}\nUnsubscribe: {link}\n"
        # RFC 8058 one-click: the mail client POSTs "List-Unsubscribe=One-Click" to the signed link.
        message = EmailMessage(subject=subject, body=text, to=[person["email"]],
                               from_email=company.support_email or None,
                               headers={"List-Unsubscribe": f"<{link}>",
                                        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
        tracking_tag(message, kind="delivery", pk=delivery.pk)
        try:
            message.send()
        except OSError:
            # The mail server refused or is down: nothing went out, so free the row and let the
            # caller retry later; everyone already sent stays recorded and is skipped then.
            EmailDelivery.objects.filter(pk=delivery.pk).delete()
            raise
        EmailDelivery.objects.filter(pk=delivery.pk).update(status=EmailDelivery.Status.SENT, sent_at=timezone.now(),
                                                            provider_message_id=provider_message_id(message))
        sent += 1
    return {"segment": segment, "recipients": len(recipients), "sent": sent, "already_sent": skipped,
            "not_sent": not_sent, "held_out": len(held_out)}

