"""Ticket writes: intake from every channel with threading, a person's reply, assignment, resolution,
and the one table of status transitions. The bot's reply path (`ticket_bot_reply`) re-checks the hand-off
under a row lock at the moment it sends, so a person's reply always wins the race."""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from autonomax.errors import AppError, ConflictError
from autonomax.models import Company

from .models import SupportSettings, Ticket, TicketEvent, TicketMessage
from .sla import business_add, business_seconds
from .sla_watch import sla_record_late

logger = logging.getLogger(__name__)

S = Ticket.Status
CUSTOMER, BOT, PERSON, SYSTEM = "customer", "bot", "person", "system"

# from -> to -> who may make the move. Everything else is refused.
TRANSITIONS: dict[str, dict[str, set[str]]] = {
    S.OPEN: {S.AUTO_ANSWERED: {BOT}, S.ESCALATED: {SYSTEM, BOT, PERSON}, S.WAITING_ON_CUSTOMER: {PERSON},
             S.RESOLVED: {PERSON, SYSTEM}},
    S.AUTO_ANSWERED: {S.OPEN: {CUSTOMER}, S.ESCALATED: {SYSTEM, PERSON, CUSTOMER}, S.WAITING_ON_CUSTOMER: {PERSON},
                      S.RESOLVED: {PERSON, CUSTOMER, SYSTEM}},
    S.ESCALATED: {S.WAITING_ON_CUSTOMER: {PERSON}, S.RESOLVED: {PERSON}},
    S.WAITING_ON_CUSTOMER: {S.OPEN: {CUSTOMER}, S.ESCALATED: {CUSTOMER, SYSTEM, PERSON}, S.RESOLVED: {PERSON, SYSTEM}},
    S.RESOLVED: {S.ESCALATED: {CUSTOMER, PERSON}},
}

TOKEN_RE = re.compile(r"\[#T-([0-9a-f]{6,16})\]", re.IGNORECASE)
MAX_SUBJECT = 200


def support_settings_for(company: Company) -> SupportSettings:
    """The company's support settings, created with the defaults on first use."""
    found = SupportSettings.objects.filter(company=company).first()
    if found is not None:
        return found
    found, _ = SupportSettings.objects.get_or_create(company=company)
    return found


def _sla_kwargs(company: Company, policy: SupportSettings) -> dict:
    return {"business_hours": policy.business_hours, "holidays": policy.holidays, "tz": company.timezone}


def ticket_transition(*, ticket: Ticket, to: str, by: str, user=None, at: datetime | None = None,
                      data: dict | None = None) -> Ticket:
    """Move `ticket` (a row the caller holds locked) to status `to`, as `by`; record the move.

    Also keeps the SLA timers: entering waiting_on_customer pauses the resolution timer, leaving it pushes the
    due time by the business time spent waiting; resolving stamps resolved_at.
    """
    at = at or timezone.now()
    frm = ticket.status
    if to == frm:
        return ticket
    allowed = TRANSITIONS.get(frm, {}).get(to, set())
    if by not in allowed:
        raise ConflictError(f"A ticket that is {frm} cannot become {to} ({by}).", code="invalid_transition",
                            details={"from": frm, "to": to})
    fields = ["status", "updated_at"]
    if frm == S.WAITING_ON_CUSTOMER and ticket.waiting_since and ticket.resolution_due:
        policy = support_settings_for(ticket.company)
        paused = business_seconds(ticket.waiting_since, at, **_sla_kwargs(ticket.company, policy))
        remaining = business_seconds(ticket.waiting_since, ticket.resolution_due,
                                     **_sla_kwargs(ticket.company, policy))
        if not ticket.resolution_breached_at:
            ticket.resolution_due = business_add(at, remaining, **_sla_kwargs(ticket.company, policy))
        ticket.waiting_since = None
        fields += ["resolution_due", "waiting_since"]
        data = {**(data or {}), "paused_seconds": round(paused)}
    if to == S.WAITING_ON_CUSTOMER:
        ticket.waiting_since = at
        fields.append("waiting_since")
    if to == S.RESOLVED:
        ticket.resolved_at = at
        ticket.auto_resolved = ticket.handed_off_at is None and ticket.messages.filter(
            author=TicketMessage.Author.BOT).exists()
        fields += ["resolved_at", "auto_resolved"]
    elif frm == S.RESOLVED:
        ticket.resolved_at = None
        ticket.auto_resolved = False
        fields += ["resolved_at", "auto_resolved"]
    if to == S.ESCALATED:
        ticket.escalated = True
        fields.append("escalated")
    ticket.status = to
    ticket.updated_at = at
    ticket.save(update_fields=sorted(set(fields)))
    TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.STATUS, actor=by, user=_user(user),
                               from_status=frm, to_status=to, data=data or {}, created_at=at)
    if to == S.RESOLVED:
        sla_record_late(ticket=ticket, at=at)
        ticket_id = ticket.pk
        transaction.on_commit(lambda: _csat_enqueue(ticket_id))
    return ticket


def _csat_enqueue(ticket_id: int) -> None:
    from . import tasks  # noqa: PLC0415

    tasks.csat_survey_enqueue(ticket_id)


def _user(user):
    return user if getattr(user, "is_authenticated", False) else None


def _hand_off(ticket: Ticket, *, reason: str, by: str, user=None, at: datetime) -> None:
    """From now on only people answer this ticket."""
    if ticket.handed_off_at is not None:
        return
    ticket.handed_off_at = at
    ticket.handoff_reason = reason
    ticket.save(update_fields=["handed_off_at", "handoff_reason"])
    TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.HANDOFF, actor=by, user=_user(user),
                               data={"reason": reason}, created_at=at)


def _lock(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().select_related("company").get(pk=ticket.pk)


@dataclass
class Inbound:
    """One customer message from any channel, normalised."""

    email: str
    subject: str
    body: str
    name: str = ""
    channel: str = Ticket.Channel.EMAIL
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    at: datetime | None = None


@dataclass
class Received:
    ticket: Ticket
    message: TicketMessage | None
    created: bool  # a new ticket
    duplicate: bool = False  # this message id was stored before: nothing changed


def _body_checked(body: str, flags: list[str]) -> str:
    limit = settings.SUPPORT_MAX_BODY_CHARS
    if len(body) > limit:
        flags.append("body_truncated")
        return body[:limit]
    return body


def _thread_find(company: Company, inbound: Inbound) -> Ticket | None:
    """The ticket this message replies to: by the Message-ID it answers, else by the ticket token quoted in
    the subject from the same customer."""
    ids = [i for i in [inbound.in_reply_to, *inbound.references] if i]
    if ids:
        message = (TicketMessage.objects.filter(ticket__company=company, message_id__in=ids)
                   .select_related("ticket").order_by("-created_at").first())
        if message is not None:
            return message.ticket
    match = TOKEN_RE.search(inbound.subject or "")
    if match:
        return Ticket.objects.filter(company=company, token=match.group(1).lower(),
                                     customer_email__iexact=inbound.email).first()
    return None


def ticket_receive(*, company: Company, inbound: Inbound) -> Received:
    """Store a customer's message: a reply threads into its ticket, anything else opens a ticket.

    A message id seen before is a duplicate (webhook retries): nothing changes. Returns what happened; the
    copilot pipeline is enqueued after commit for open tickets the bot may still answer.
    """
    email = (inbound.email or "").strip().lower()
    subject = (inbound.subject or "").strip() or "(no subject)"
    if not email:
        raise AppError("The sender's email is missing.", code="invalid", details={"email": ["required"]})
    flags = list(inbound.flags)
    if len(subject) > MAX_SUBJECT:
        subject = subject[:MAX_SUBJECT]
        flags.append("subject_truncated")
    body = _body_checked((inbound.body or "").strip(), flags)
    if not body and not inbound.attachments:
        raise AppError("The message has no text.", code="invalid", details={"body": ["required"]})
    at = inbound.at or timezone.now()
    with transaction.atomic():
        if inbound.message_id:
            seen = (TicketMessage.objects.filter(ticket__company=company, message_id=inbound.message_id)
                    .select_related("ticket").first())
            if seen is not None:
                return Received(ticket=seen.ticket, message=seen, created=False, duplicate=True)
        thread = _thread_find(company, inbound)
        if thread is None:
            ticket = _ticket_open(company=company, email=email, name=inbound.name, subject=subject,
                                  channel=inbound.channel, at=at, flags=flags)
            created = True
        else:
            ticket = _lock(thread)
            created = False
        try:
            with transaction.atomic():
                message = TicketMessage.objects.create(
                    ticket=ticket, author=TicketMessage.Author.CUSTOMER, body=body, created_at=at,
                    message_id=inbound.message_id[:255], in_reply_to=inbound.in_reply_to[:255],
                    attachments=inbound.attachments, flags=flags)
        except IntegrityError:  # the same message id, stored by a concurrent delivery
            seen = TicketMessage.objects.get(ticket=ticket, message_id=inbound.message_id[:255])
            return Received(ticket=ticket, message=seen, created=False, duplicate=True)
        if not created:
            _customer_replied(ticket, at=at, flags=flags)
        transaction.on_commit(lambda: _pipeline_enqueue(ticket.pk))
    return Received(ticket=ticket, message=message, created=created)


def _ticket_open(*, company, email, name, subject, channel, at, flags) -> Ticket:
    policy = support_settings_for(company)
    kwargs = _sla_kwargs(company, policy)
    return Ticket.objects.create(
        company=company, subject=subject, customer_email=email, customer_name=(name or "")[:200],
        channel=channel if channel in Ticket.Channel.values else Ticket.Channel.EMAIL, created_at=at, updated_at=at,
        flags=sorted(set(flags)),
        first_response_due=business_add(at, policy.first_response_seconds, **kwargs),
        resolution_due=business_add(at, policy.resolution_seconds, **kwargs),
    )


def _customer_replied(ticket: Ticket, *, at: datetime, flags: list[str]) -> None:
    """A customer wrote again on an existing ticket. A resolved ticket reopens to a person, never to the bot
    (the bot does not restart on an old thread); a ticket a person holds goes back to that person's queue."""
    if flags:
        ticket.flags = sorted(set(ticket.flags) | set(flags))
        ticket.save(update_fields=["flags"])
    if ticket.status == S.RESOLVED:
        _hand_off(ticket, reason="reopened", by=CUSTOMER, at=at)
        ticket_transition(ticket=ticket, to=S.ESCALATED, by=CUSTOMER, at=at, data={"reopened": True})
    elif ticket.status in (S.WAITING_ON_CUSTOMER, S.AUTO_ANSWERED):
        to = S.ESCALATED if ticket.handed_off_at else S.OPEN
        ticket_transition(ticket=ticket, to=to, by=CUSTOMER, at=at)
    else:
        ticket.updated_at = at
        ticket.save(update_fields=["updated_at"])


def _pipeline_enqueue(ticket_id: int) -> None:
    """Hand the ticket to the copilot (support.tasks), when the tasks module is installed."""
    from . import tasks  # noqa: PLC0415 - services enqueue through one small function; tasks import services

    tasks.ticket_pipeline_enqueue(ticket_id)


def _first_response(ticket: Ticket, at: datetime) -> None:
    if ticket.first_response_at is None:
        ticket.first_response_at = at
        ticket.save(update_fields=["first_response_at"])
        sla_record_late(ticket=ticket, at=at)


def ticket_reply(*, ticket: Ticket, user, body: str, resolve: bool = False) -> TicketMessage:
    """A person's reply. From now on the bot never replies on this ticket; the ticket waits on the customer
    (or is resolved with `resolve`); the reply is emailed to the customer for email tickets."""
    body = (body or "").strip()
    if not body:
        raise AppError("The reply is empty.", code="invalid", details={"body": ["This field may not be blank."]})
    if len(body) > settings.SUPPORT_MAX_BODY_CHARS:
        raise AppError(f"The reply is longer than {settings.SUPPORT_MAX_BODY_CHARS} characters.", code="too_long",
                       details={"body": ["too long"]})
    at = timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        _hand_off(ticket, reason="person_replied", by=PERSON, user=user, at=at)
        message = TicketMessage.objects.create(ticket=ticket, author=TicketMessage.Author.PERSON,
                                               author_user=_user(user), body=body, created_at=at)
        _first_response(ticket, at)
        if ticket.assignee_id is None and _user(user) is not None:
            ticket.assignee = user
            ticket.save(update_fields=["assignee"])
        to = S.RESOLVED if resolve else S.WAITING_ON_CUSTOMER
        if ticket.status == S.RESOLVED and not resolve:
            ticket_transition(ticket=ticket, to=S.ESCALATED, by=PERSON, user=user, at=at)
        ticket_transition(ticket=ticket, to=to, by=PERSON, user=user, at=at)
        transaction.on_commit(lambda: _deliver_enqueue(message.pk))
    return message


def _deliver_enqueue(message_id: int) -> None:
    from . import tasks  # noqa: PLC0415

    tasks.message_deliver_enqueue(message_id)


def ticket_assign(*, ticket: Ticket, assignee, actor=None) -> Ticket:
    """Assign a person; a ticket a person has taken is no longer the bot's."""
    at = timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        ticket.assignee = assignee
        ticket.updated_at = at
        ticket.save(update_fields=["assignee", "updated_at"])
        TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.ASSIGNED, actor=PERSON, user=_user(actor),
                                   data={"assignee": getattr(assignee, "pk", None)}, created_at=at)
        if assignee is not None:
            _hand_off(ticket, reason="assigned", by=PERSON, user=actor, at=at)
    return ticket


def ticket_resolve(*, ticket: Ticket, actor=None, by: str = PERSON) -> Ticket:
    with transaction.atomic():
        ticket = _lock(ticket)
        return ticket_transition(ticket=ticket, to=S.RESOLVED, by=by, user=actor)


def ticket_escalate(*, ticket: Ticket, reason: str, context: dict | None = None, draft: str = "",
                    by: str = SYSTEM) -> Ticket:
    """Hand the ticket to a person with the full context (intent, passages, the draft answer, order history)."""
    at = timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.status == S.RESOLVED:
            return ticket
        _hand_off(ticket, reason=reason, by=by, at=at)
        ticket.escalation_context = {**(context or {}), "reason": reason}
        fields = ["escalation_context"]
        if draft:
            ticket.draft_answer = draft
            fields.append("draft_answer")
        ticket.save(update_fields=fields)
        if ticket.status != S.ESCALATED:
            ticket_transition(ticket=ticket, to=S.ESCALATED, by=SYSTEM if by == BOT else by, at=at,
                              data={"reason": reason})
    return ticket


def ticket_bot_reply(*, ticket: Ticket, body: str, confidence: float, data: dict | None = None) -> TicketMessage | None:
    """The bot's answer, sent only if no person has replied or taken the ticket — checked here, under the row
    lock, at the moment of sending (not when the work was queued). Returns None when the bot must stay quiet."""
    at = timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.handed_off_at is not None or ticket.status not in (S.OPEN,):
            logger.info("ticket %s: bot reply dropped (status %s, handed off %s)", ticket.pk, ticket.status,
                        ticket.handed_off_at)
            return None
        if ticket.messages.filter(author=TicketMessage.Author.PERSON).exists():
            return None
        message = TicketMessage.objects.create(ticket=ticket, author=TicketMessage.Author.BOT, body=body,
                                               created_at=at, confidence=confidence)
        _first_response(ticket, at)
        ticket_transition(ticket=ticket, to=S.AUTO_ANSWERED, by=BOT, at=at, data=data or {})
        transaction.on_commit(lambda: _deliver_enqueue(message.pk))
    return message


def _message_id_for(message: TicketMessage) -> str:
    domain = (message.ticket.company.support_email or settings.DEFAULT_FROM_EMAIL).rsplit("@", 1)[-1].strip("> ")
    return f"<t{message.ticket.token}.m{message.pk}@{domain or 'autonomax.local'}>"


def message_deliver(*, message_id: int) -> bool:
    """Email a bot's or person's reply to the customer, threaded (Message-ID, In-Reply-To, References, the
    ticket reference in the subject). Once per message: a repeat returns False."""
    from django.core.mail import EmailMessage  # noqa: PLC0415

    message = (TicketMessage.objects.select_related("ticket__company").filter(pk=message_id)
               .exclude(author=TicketMessage.Author.CUSTOMER).first())
    if message is None or message.delivered_at is not None:
        return False
    ticket = message.ticket
    if ticket.channel not in (Ticket.Channel.EMAIL, Ticket.Channel.WEB, Ticket.Channel.API):
        return False
    # Claim with a conditional UPDATE so two concurrent runs send once.
    own_id = message.message_id or _message_id_for(message)
    if not TicketMessage.objects.filter(pk=message.pk, delivered_at=None).update(delivered_at=timezone.now(),
                                                                                 message_id=own_id):
        return False
    thread = list(ticket.messages.exclude(message_id="").exclude(pk=message.pk)
                  .values_list("message_id", flat=True))
    headers = {"Message-ID": own_id}
    if thread:
        headers["In-Reply-To"] = thread[-1]
        headers["References"] = " ".join(thread[-10:])
    subject = ticket.subject if ticket.subject.lower().startswith("re:") else f"Re: {ticket.subject}"
    sender = ticket.company.support_email or settings.DEFAULT_FROM_EMAIL
    try:
        EmailMessage(subject=f"{subject} {ticket.reference}", body=message.body, from_email=sender,
                     to=[ticket.customer_email], reply_to=[sender], headers=headers).send()
    except Exception:
        TicketMessage.objects.filter(pk=message.pk).update(delivered_at=None)  # let the task retry
        raise
    return True
