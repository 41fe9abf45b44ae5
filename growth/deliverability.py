"""Bounces and complaints: the email provider's tracking webhook (django-anymail) suppresses the address
and pauses a campaign whose bounce or complaint rate passes the company's threshold.

Every marketing email carries anymail `metadata` naming its row (`delivery:<pk>` for broadcasts and
campaigns, `step:<pk>` for sequence steps), and the provider's message id is stored after the send, so
a tracking event finds its company, its campaign and its recipient without guessing. An event that
matches no row is answered and logged, never applied to a company by its address alone.

A hard bounce, a spam complaint or an unsubscribe at the provider becomes an `Unsubscribe` row with its
reason: every marketing send path (segments, sequences, campaigns) already skips those addresses;
transactional email (receipts, downloads, support replies) does not read them. Each event is stored
once (unique per provider and event id), so a redelivered webhook changes nothing.
"""

import hashlib
import logging

from anymail.signals import EventType, RejectReason
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from autonomax.services import config_change_record

from .capture import growth_settings_for
from .models import Campaign, EmailDelivery, EmailEvent, StepSend, Unsubscribe

logger = logging.getLogger(__name__)

METADATA_KEY = "autonomax_send"
# Postmark's soft bounce (mailbox full, try later) reaches anymail as "bounced": it suppresses nothing.
SOFT_BOUNCES = {("Postmark", "SoftBounce")}
# Rejections before sending that say the address cannot take mail.
REJECTED_AS_BOUNCE = {RejectReason.INVALID, RejectReason.BOUNCED}


def tracking_tag(message, *, kind: str, pk: int) -> None:
    """Name the row a message belongs to in anymail's metadata (the provider echoes it in its webhooks)."""
    message.metadata = {METADATA_KEY: f"{kind}:{pk}"}


def provider_message_id(message) -> str:
    """The provider's message id after an anymail send ('' with SMTP or the console backend)."""
    status = getattr(message, "anymail_status", None)
    message_id = getattr(status, "message_id", None)
    return message_id if isinstance(message_id, str) else ""


def _event_kind(*, esp_name: str, event) -> str | None:
    if event.event_type == EventType.BOUNCED:
        if (esp_name, (event.esp_event or {}).get("Type")) in SOFT_BOUNCES:
            return None
        return EmailEvent.Type.BOUNCED
    if event.event_type == EventType.REJECTED and event.reject_reason in REJECTED_AS_BOUNCE:
        return EmailEvent.Type.BOUNCED
    if event.event_type == EventType.COMPLAINED:
        return EmailEvent.Type.COMPLAINED
    if event.event_type == EventType.UNSUBSCRIBED:
        return EmailEvent.Type.UNSUBSCRIBED
    return None


def _sent_row(event) -> tuple[EmailDelivery | None, StepSend | None]:
    """The delivery or step send the event is about: by our metadata, else by the provider's message id."""
    tag = str((event.metadata or {}).get(METADATA_KEY, ""))
    kind, _, pk = tag.partition(":")
    if kind == "delivery" and pk.isdigit():
        return EmailDelivery.objects.filter(pk=int(pk)).first(), None
    if kind == "step" and pk.isdigit():
        return None, StepSend.objects.select_related("lead").filter(pk=int(pk)).first()
    if event.message_id:
        delivery = EmailDelivery.objects.filter(provider_message_id=event.message_id).first()
        if delivery is not None:
            return delivery, None
        return None, StepSend.objects.select_related("lead").filter(message_id=event.message_id).first()
    return None, None


def _event_key(event) -> str:
    if event.event_id:
        return str(event.event_id)[:128]
    stamp = event.timestamp.isoformat() if event.timestamp else ""
    raw = f"{event.event_type}|{event.message_id}|{event.recipient}|{stamp}"
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def email_tracking_record(*, esp_name: str, event, now=None) -> str:
    """Apply one anymail tracking event; returns `applied`, `duplicate`, `ignored` or `unmatched`."""
    kind = _event_kind(esp_name=esp_name, event=event)
    if kind is None:
        return "ignored"
    delivery, step_send = _sent_row(event)
    row = delivery or step_send
    recipient = (event.recipient or "").strip().lower()
    sent_to = (delivery.email if delivery else step_send.lead.email if step_send else "").lower()
    if row is None or not recipient or recipient != sent_to:
        logger.info("%s %s event for %s matches no email we sent", esp_name, kind, event.message_id)
        return "unmatched"
    now = now or timezone.now()
    occurred_at = event.timestamp or now
    with transaction.atomic():
        try:
            with transaction.atomic():
                EmailEvent.objects.create(
                    company_id=row.company_id, esp=esp_name[:32], event_key=_event_key(event), type=kind,
                    recipient=recipient, delivery=delivery, step_send=step_send, occurred_at=occurred_at,
                    detail=str(event.description or event.mta_response or "")[:300])
        except IntegrityError:
            return "duplicate"
        address_suppress(company=row.company, email=recipient, reason=kind)
        if delivery is not None and kind != EmailEvent.Type.UNSUBSCRIBED:
            field = "bounced_at" if kind == EmailEvent.Type.BOUNCED else "complained_at"
            EmailDelivery.objects.filter(pk=delivery.pk, **{f"{field}__isnull": True}).update(**{field: occurred_at})
            campaign_id = _campaign_of(delivery.send_key)
            if campaign_id is not None:
                campaign_pause_check(campaign_id=campaign_id, now=now)
    return "applied"


def address_suppress(*, company, email: str, reason: str) -> None:
    """No more marketing to this address in this company (an earlier unsubscribe keeps its reason)."""
    if reason == EmailEvent.Type.UNSUBSCRIBED:
        from .services import address_unsubscribe  # noqa: PLC0415 - services send mail and import this module

        address_unsubscribe(company=company, email=email, source="email_provider")
        return
    Unsubscribe.objects.get_or_create(company=company, email=email, defaults={"reason": reason})


def _campaign_of(send_key: str) -> int | None:
    prefix, _, pk = send_key.partition(":")
    return int(pk) if prefix == "campaign" and pk.isdigit() else None


def campaign_delivery_rates(*, campaign: Campaign) -> dict:
    counts = EmailDelivery.objects.filter(
        company_id=campaign.company_id, send_key=f"campaign:{campaign.pk}", status=EmailDelivery.Status.SENT,
    ).aggregate(sent=Count("id"), bounced=Count("id", filter=Q(bounced_at__isnull=False)),
                complained=Count("id", filter=Q(complained_at__isnull=False)))
    sent = counts["sent"]
    return {**counts, "bounce_rate": counts["bounced"] / sent if sent else None,
            "complaint_rate": counts["complained"] / sent if sent else None}


def campaign_pause_check(*, campaign_id: int, now=None) -> bool:
    """Pause the campaign when its bounce or complaint rate passes the company's threshold (once judged on
    at least `campaign_pause_min_sent` sent emails); returns whether this call paused it."""
    campaign = Campaign.objects.select_related("company").get(pk=campaign_id)
    if campaign.paused_at is not None:
        return False
    group = growth_settings_for(company=campaign.company)
    rates = campaign_delivery_rates(campaign=campaign)
    if rates["sent"] < max(group.campaign_pause_min_sent, 1):
        return False
    reasons = []
    for name, limit in (("bounce", group.campaign_bounce_rate_max), ("complaint", group.campaign_complaint_rate_max)):
        rate, count = rates[f"{name}_rate"], rates["bounced" if name == "bounce" else "complained"]
        if rate > limit:
            reasons.append(f"{name} rate {rate:.1%} ({count} of {rates['sent']}) above {limit:.1%}")
    if not reasons:
        return False
    reason = "; ".join(reasons)[:200]
    paused = Campaign.objects.filter(pk=campaign.pk, paused_at__isnull=True).update(
        paused_at=now or timezone.now(), pause_reason=reason)
    if paused:
        config_change_record(company=campaign.company, actor_label="email provider webhook",
                             object_type="growth.campaign", object_id=campaign.utm_campaign,
                             changes={"paused": [False, True]}, reason=reason,
                             expected_effect="no more sends until a person resumes the campaign")
    return bool(paused)


@transaction.atomic
def campaign_resume(*, campaign: Campaign, actor=None, reason: str = "") -> Campaign:
    """A person lifts the pause; the next distribution sends to whoever has not been sent to yet."""
    from autonomax.errors import ConflictError  # noqa: PLC0415

    updated = Campaign.objects.filter(pk=campaign.pk, paused_at__isnull=False).update(paused_at=None,
                                                                                      pause_reason="")
    if not updated:
        raise ConflictError("This campaign is not paused.", code="not_paused")
    config_change_record(company=campaign.company, actor=actor, object_type="growth.campaign",
                         object_id=campaign.utm_campaign, changes={"paused": [True, False]},
                         reason=reason or f"resumed after: {campaign.pause_reason}",
                         expected_effect="sending continues")
    campaign.refresh_from_db()
    return campaign


def tracking_receive(sender, event, esp_name, **kwargs) -> None:
    """Receiver of django-anymail's `tracking` signal (connected in GrowthConfig.ready)."""
    email_tracking_record(esp_name=esp_name, event=event)
