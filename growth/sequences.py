"""Nurture sequences: enrol leads, send each due step exactly once, stop when they buy, reply or unsubscribe.

Exactly once per (enrolment, step): the StepSend row is committed before the
provider call, under a unique constraint, so a duplicated task or a second
worker finds the row and skips; a crash between the row and the send loses
that email rather than sending it twice. Each recipient is handled on its
own: a rejected address marks only its row failed and the batch goes on.

Checked at send time, not when scheduled: stop conditions, consent and
unsubscribes, the per-lead marketing frequency cap, and quiet hours / send
days in the lead's time zone (zoneinfo, so a DST change moves nothing).
"""

import logging
import smtplib
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from autonomax.models import Company

from .capture import growth_settings_for
from .deliverability import provider_message_id, tracking_tag
from .events import open_pixel_url
from .models import (
    EmailDelivery,
    Enrolment,
    GrowthSettings,
    Lead,
    LeadEvent,
    Sequence,
    SequenceStep,
    StepSend,
)
from .personal_data import unsubscribed
from .services import unsubscribe_token

logger = logging.getLogger(__name__)

# Errors no retry fixes for this recipient: the server refused the address.
RECIPIENT_ERRORS = (smtplib.SMTPRecipientsRefused,)


def lead_zone(*, lead: Lead) -> ZoneInfo:
    for name in (lead.timezone, lead.company.timezone, "UTC"):
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def send_window_next(*, now: datetime, zone: ZoneInfo, group: GrowthSettings) -> datetime:
    """`now` if marketing may go out now in `zone`, else the next moment it may (an aware UTC datetime).

    Quiet hours run from `quiet_hours_start` to `quiet_hours_end` local time (may wrap midnight);
    with `weekdays_only`, Saturday and Sunday are skipped. Local wall-clock times are built with
    zoneinfo, so "08:00" stays 08:00 across a DST change.
    """
    start, end = group.quiet_hours_start % 24, group.quiet_hours_end % 24
    utc = ZoneInfo("UTC")

    def quiet(hour: int) -> bool:
        if start == end:
            return False
        return start <= hour < end if start < end else (hour >= start or hour < end)

    local = now.astimezone(zone)
    for _ in range(10):
        weekend = group.weekdays_only and local.weekday() >= 5
        if not weekend and not quiet(local.hour):
            return local.astimezone(utc)
        if weekend:
            candidate = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
        else:
            day = local.date() + timedelta(days=1 if start > end and local.hour >= start else 0)
            candidate = datetime.combine(day, time(end), tzinfo=zone)
        # Through UTC: a wall-clock time inside a DST gap is normalised to a real instant.
        local = candidate.astimezone(utc).astimezone(zone)
    return local.astimezone(utc)


@transaction.atomic
def sequence_enrol(*, sequence: Sequence, lead: Lead, now=None) -> tuple[Enrolment, bool]:
    """Enrol once per (sequence, lead); the first step is due after its delay."""
    if sequence.company_id != lead.company_id:
        raise ValueError("lead and sequence belong to different companies")
    now = now or timezone.now()
    first = sequence.steps.order_by("position").first()
    enrolment, created = Enrolment.objects.get_or_create(
        sequence=sequence, lead=lead,
        defaults={"company_id": sequence.company_id, "enrolled_at": now,
                  "next_position": first.position if first else 1,
                  "next_due_at": now + timedelta(hours=first.delay_hours) if first else now},
    )
    if created and lead.status == Lead.Status.NEW and sequence.kind == Sequence.Kind.MARKETING:
        Lead.objects.filter(pk=lead.pk, status=Lead.Status.NEW).update(status=Lead.Status.NURTURING)
    return enrolment, created


def sequences_enrol_on_capture(*, lead: Lead, now=None) -> int:
    count = 0
    for sequence in Sequence.objects.filter(company_id=lead.company_id, is_active=True,
                                            trigger=Sequence.Trigger.CAPTURE):
        count += sequence_enrol(sequence=sequence, lead=lead, now=now)[1]
    return count


SEGMENT_NAMES = ("warm_leads", "new_leads", "customers")


@transaction.atomic
def sequence_create(*, company: Company, data: dict) -> Sequence:
    steps = data.pop("steps")
    sequence = Sequence.objects.create(company=company, **data)
    SequenceStep.objects.bulk_create([SequenceStep(company=company, sequence=sequence, **step) for step in steps])
    return sequence


def segment_leads(*, company: Company, segment: str, now=None):
    now = now or timezone.now()
    leads = Lead.objects.filter(company=company).exclude(status__in=[Lead.Status.UNSUBSCRIBED, Lead.Status.LOST])
    if segment == "warm_leads":
        return leads.filter(score__gte=50, converted_at__isnull=True)
    if segment == "new_leads":
        return leads.filter(created_at__gte=now - timedelta(days=7), converted_at__isnull=True)
    if segment == "customers":
        return leads.filter(converted_at__isnull=False)
    return leads.none()


def sequences_enrol_segments(*, company: Company, now=None) -> int:
    """Enrol the current members of every active segment sequence (members already enrolled are skipped)."""
    count = 0
    for sequence in Sequence.objects.filter(company=company, is_active=True, trigger=Sequence.Trigger.SEGMENT):
        members = segment_leads(company=company, segment=sequence.segment, now=now).exclude(
            enrolments__sequence=sequence)
        for lead in members.select_related("company")[:1000]:
            count += sequence_enrol(sequence=sequence, lead=lead, now=now)[1]
    return count


def _finish(enrolment: Enrolment, *, status: str, reason: str = "", now) -> None:
    assert status in Enrolment.TRANSITIONS[Enrolment.Status.ACTIVE]
    Enrolment.objects.filter(pk=enrolment.pk, status=Enrolment.Status.ACTIVE).update(
        status=status, stop_reason=reason, finished_at=now, next_due_at=None)


def _stop_reason(*, enrolment: Enrolment, lead: Lead, marketing: bool) -> str:
    sequence = enrolment.sequence
    if sequence.stop_on_purchase and lead.converted_at is not None:
        return "purchase"
    if sequence.stop_on_reply and LeadEvent.objects.filter(lead=lead, type=LeadEvent.Type.EMAIL_REPLY,
                                                           occurred_at__gte=enrolment.enrolled_at).exists():
        return "reply"
    if marketing:
        suppressed = unsubscribed(lead.company_id, lead.email).values_list("reason", flat=True).first()
        if suppressed:
            return suppressed  # unsubscribed, bounced or complained
        if not lead.consent:
            return "no_consent"
    return ""


def _marketing_sent_since(*, lead: Lead, since: datetime) -> list[datetime]:
    steps = StepSend.objects.filter(lead=lead, marketing=True, status=StepSend.Status.SENT, sent_at__gte=since)
    broadcasts = EmailDelivery.objects.filter(company_id=lead.company_id, email__iexact=lead.email,
                                              status=EmailDelivery.Status.SENT, sent_at__gte=since)
    return sorted([*steps.values_list("sent_at", flat=True), *broadcasts.values_list("sent_at", flat=True)])


def one_click_unsubscribe_url(*, company: Company, email: str) -> str:
    path = reverse("growth:one-click-unsubscribe", args=[unsubscribe_token(company=company, email=email)])
    return settings.SITE_URL.rstrip("/") + path


def marketing_headers(*, company: Company, email: str) -> tuple[str, dict]:
    """The unsubscribe link and the RFC 8058 one-click headers every marketing email carries."""
    link = one_click_unsubscribe_url(company=company, email=email)
    return link, {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _step_body(*, step: SequenceStep, company: Company) -> str:
    """The step's template; an AI-prompted step is written once by the AI engine and kept."""
    if step.body or not step.ai_prompt:
        return step.body
    from chimera.ai.services import ai_generate  # noqa: PLC0415 - growth calls the engine, never the reverse

    result = ai_generate(company=company, task_type="email", prompt=step.ai_prompt,
                         correlation_id=f"sequence-step:{step.pk}")
    SequenceStep.objects.filter(pk=step.pk, body="").update(body=result.content)
    step.refresh_from_db(fields=["body"])
    return step.body


def _render(text: str, *, lead: Lead, company: Company) -> str:
    return (text.replace("{name}", lead.name or "there").replace("{email}", lead.email)
            .replace("{company}", company.name))


def enrolment_send_due(*, enrolment_id: int, now=None) -> str:
    """Send the enrolment's due step if it may go out now; returns what happened.

    One of: sent, skipped (not due / not active), duplicate (another run has the row), deferred
    (quiet hours, send days, frequency cap: due again later), stopped:<reason>, completed,
    failed (the server rejected this address). A transient mail-server error frees the row and
    propagates, so a retry sends it.
    """
    now = now or timezone.now()
    enrolment = (Enrolment.objects.select_related("sequence", "lead", "lead__company")
                 .filter(pk=enrolment_id).first())
    if enrolment is None or enrolment.status != Enrolment.Status.ACTIVE:
        return "skipped"
    if enrolment.next_due_at is None or enrolment.next_due_at > now:
        return "skipped"
    lead, sequence, company = enrolment.lead, enrolment.sequence, enrolment.lead.company
    step = sequence.steps.filter(position__gte=enrolment.next_position).order_by("position").first()
    if step is None:
        _finish(enrolment, status=Enrolment.Status.COMPLETED, now=now)
        return "completed"
    marketing = sequence.kind == Sequence.Kind.MARKETING
    reason = _stop_reason(enrolment=enrolment, lead=lead, marketing=marketing)
    if reason:
        _finish(enrolment, status=Enrolment.Status.STOPPED, reason=reason, now=now)
        return f"stopped:{reason}"
    if marketing:
        group = growth_settings_for(company=company)
        allowed = send_window_next(now=now, zone=lead_zone(lead=lead), group=group)
        if allowed > now:
            Enrolment.objects.filter(pk=enrolment.pk, next_position=enrolment.next_position).update(
                next_due_at=allowed)
            return "deferred"
        recent = _marketing_sent_since(lead=lead, since=now - timedelta(days=7))
        if group.marketing_cap_per_week and len(recent) >= group.marketing_cap_per_week:
            free_at = recent[len(recent) - group.marketing_cap_per_week] + timedelta(days=7)
            Enrolment.objects.filter(pk=enrolment.pk, next_position=enrolment.next_position).update(
                next_due_at=max(free_at, now + timedelta(minutes=1)))
            return "deferred"
    try:
        with transaction.atomic():
            send = StepSend.objects.create(company=company, enrolment=enrolment, step=step, lead=lead,
                                           marketing=marketing, created_at=now)
    except IntegrityError:
        return "duplicate"
    body = _render(_step_body(step=step, company=company), lead=lead, company=company)
    subject = _render(step.subject, lead=lead, company=company)
    headers = {"X-AutonomaX-Send": f"step-send-{send.pk}"}
    html_extra = f'<img src="{open_pixel_url(lead=lead, message=f"step:{step.pk}")}" width="1" height="1" alt="">'
    if marketing:
        link, unsubscribe = marketing_headers(company=company, email=lead.email)
        headers.update(unsubscribe)
        body += f"\n--\n{company.name}\nUnsubscribe: {link}\n"
    message = EmailMultiAlternatives(subject=subject, body=body, to=[lead.email],
                                     from_email=company.support_email or None, headers=headers)
    message.attach_alternative(f"<div style=\"white-space:pre-wrap\">{escape(body)}</div>{html_extra}", "text/html")
    tracking_tag(message, kind="step", pk=send.pk)
    try:
        message.send()
    except RECIPIENT_ERRORS as exc:
        StepSend.objects.filter(pk=send.pk).update(status=StepSend.Status.FAILED, reason=str(exc)[:200])
        _finish(enrolment, status=Enrolment.Status.STOPPED, reason="rejected", now=now)
        return "failed"
    except OSError:
        # Nothing went out (server down or refused the connection): free the row for a retry.
        StepSend.objects.filter(pk=send.pk).delete()
        raise
    StepSend.objects.filter(pk=send.pk).update(status=StepSend.Status.SENT, sent_at=timezone.now(),
                                               message_id=provider_message_id(message) or headers["X-AutonomaX-Send"])
    following = sequence.steps.filter(position__gt=step.position).order_by("position").first()
    if following is None:
        _finish(enrolment, status=Enrolment.Status.COMPLETED, now=now)
    else:
        Enrolment.objects.filter(pk=enrolment.pk, next_position=enrolment.next_position).update(
            next_position=following.position, next_due_at=now + timedelta(hours=following.delay_hours))
    return "sent"


def sequences_dispatch(*, now=None, limit: int = 500, company: Company | None = None) -> dict:
    """Send every due step (safe to run concurrently and repeatedly); returns counts by outcome."""
    now = now or timezone.now()
    due = Enrolment.objects.filter(status=Enrolment.Status.ACTIVE, next_due_at__lte=now,
                                   company__is_active=True, company__execution_halted=False,
                                   sequence__is_active=True)
    if company is not None:
        due = due.filter(company=company)
    counts: dict[str, int] = {}
    for enrolment_id in due.order_by("next_due_at", "pk").values_list("pk", flat=True)[:limit]:
        outcome = enrolment_send_due(enrolment_id=enrolment_id, now=now).split(":")[0]
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def sequence_performance(*, sequence: Sequence) -> list[dict]:
    """Per step: sent, failed, opens and clicks (from tracked events), for the sequences page."""
    rows = []
    for step in sequence.steps.order_by("position"):
        sends = StepSend.objects.filter(step=step)
        sent = sends.filter(status=StepSend.Status.SENT).count()
        opens = LeadEvent.objects.filter(company_id=sequence.company_id, type=LeadEvent.Type.EMAIL_OPEN,
                                         properties__message=f"step:{step.pk}").count()
        clicks = LeadEvent.objects.filter(company_id=sequence.company_id, type=LeadEvent.Type.EMAIL_CLICK,
                                          properties__message=f"step:{step.pk}").count()
        rows.append({"position": step.position, "subject": step.subject, "sent": sent,
                     "failed": sends.filter(status=StepSend.Status.FAILED).count(),
                     "opens": opens, "clicks": clicks,
                     "open_rate": opens / sent if sent else None, "click_rate": clicks / sent if sent else None})
    return rows
