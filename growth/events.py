"""Lead events: a batch from the API, the tracking pixel and tracked links, and purchases from commerce.

Each event carries an idempotency key, unique per company: a repeated
delivery is reported as a duplicate and stored once. The batch is validated
whole before anything is written; the leads it touches are rescored at once.
"""

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from autonomax.models import Company

from .capture import LeadInvalid, email_normalise
from .models import Lead, LeadEvent
from .scoring import leads_rescore

MAX_BATCH = 500
MAX_PROPERTIES_BYTES = 4000
FUTURE_SKEW = timedelta(minutes=10)
TRACK_SALT = "growth.track"
EVENT_TYPES = [t for t in LeadEvent.Type.values]


def _parse_event(raw, index: int, now: datetime, errors: dict) -> dict | None:
    prefix = f"events[{index}]"
    if not isinstance(raw, dict):
        errors[prefix] = "Must be an object."
        return None
    key = raw.get("idempotency_key")
    if not isinstance(key, str) or not key.strip() or len(key) > 128:
        errors[f"{prefix}.idempotency_key"] = "Required: a string of 1-128 characters."
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        errors[f"{prefix}.type"] = f"One of {', '.join(EVENT_TYPES)}."
    lead_id, email = raw.get("lead_id"), raw.get("email")
    if lead_id is None and email is None:
        errors[f"{prefix}.lead_id"] = "Give lead_id or email."
    elif lead_id is not None and (not isinstance(lead_id, int) or isinstance(lead_id, bool)):
        errors[f"{prefix}.lead_id"] = "Must be an integer."
    elif lead_id is None:
        try:
            email = email_normalise(email)
        except ValueError as exc:
            errors[f"{prefix}.email"] = str(exc)
    occurred = raw.get("occurred_at")
    if occurred is None:
        occurred_at = now
    else:
        occurred_at = parse_datetime(occurred) if isinstance(occurred, str) else None
        if occurred_at is None or occurred_at.tzinfo is None:
            errors[f"{prefix}.occurred_at"] = "An ISO 8601 date-time with a time zone."
        elif occurred_at > now + FUTURE_SKEW:
            errors[f"{prefix}.occurred_at"] = "Must not be in the future."
    properties = raw.get("properties") or {}
    if not isinstance(properties, dict):
        errors[f"{prefix}.properties"] = "Must be an object."
    elif len(repr(properties)) > MAX_PROPERTIES_BYTES:
        errors[f"{prefix}.properties"] = f"At most {MAX_PROPERTIES_BYTES} characters."
    if any(k.startswith(prefix) for k in errors):
        return None
    return {"key": key.strip(), "type": kind, "lead_id": lead_id, "email": email, "occurred_at": occurred_at,
            "properties": properties}


def lead_events_record(*, company: Company, events, now=None) -> dict:
    """Store a batch of events once each; returns per-event results and rescoring counts.

    Every event names its lead by `lead_id` or `email` (of this company). Any invalid event
    rejects the whole batch with its index and field named; nothing is stored then.
    """
    now = now or timezone.now()
    if not isinstance(events, list) or not events:
        raise LeadInvalid({"events": "A non-empty list of events."})
    if len(events) > MAX_BATCH:
        raise LeadInvalid({"events": f"At most {MAX_BATCH} events per batch (got {len(events)})."})
    errors: dict[str, str] = {}
    parsed = [_parse_event(raw, i, now, errors) for i, raw in enumerate(events)]
    if errors:
        raise LeadInvalid(errors)
    ids = {p["lead_id"] for p in parsed if p["lead_id"] is not None}
    emails = {p["email"] for p in parsed if p["lead_id"] is None}
    known_ids = set(Lead.objects.filter(company=company, pk__in=ids).values_list("pk", flat=True)) if ids else set()
    by_email = dict(Lead.objects.filter(company=company, email__in=emails).values_list("email", "pk")) \
        if emails else {}
    for i, p in enumerate(parsed):
        if p["lead_id"] is not None and p["lead_id"] not in known_ids:
            errors[f"events[{i}].lead_id"] = f"No lead {p['lead_id']} in this company."
        elif p["lead_id"] is None:
            if p["email"] not in by_email:
                errors[f"events[{i}].email"] = "No lead with this email in this company."
            else:
                p["lead_id"] = by_email[p["email"]]
    if errors:
        raise LeadInvalid(errors)
    keys = [p["key"] for p in parsed]
    with transaction.atomic():
        # Lock the leads before their events are stored: incremental scoring reads each lead's events by
        # growing id, which holds only if one writer at a time adds events to a lead.
        list(Lead.objects.select_for_update().filter(company=company, pk__in={p["lead_id"] for p in parsed})
             .order_by("pk").values_list("pk", flat=True))
        existing = set(LeadEvent.objects.filter(company=company, idempotency_key__in=keys)
                       .values_list("idempotency_key", flat=True))
        new, seen = [], set(existing)
        results = []
        for p in parsed:
            if p["key"] in seen:
                results.append({"idempotency_key": p["key"], "status": "duplicate"})
                continue
            seen.add(p["key"])
            new.append(LeadEvent(company=company, lead_id=p["lead_id"], type=p["type"], idempotency_key=p["key"],
                                 occurred_at=p["occurred_at"], properties=p["properties"]))
            results.append({"idempotency_key": p["key"], "status": "created"})
        LeadEvent.objects.bulk_create(new, ignore_conflicts=True)
        touched = {e.lead_id for e in new}
        if touched:
            _activity_touch(company=company, lead_ids=touched, events=new)
            _conversions_apply(company=company, events=[e for e in new if e.type == LeadEvent.Type.PURCHASE])
        scoring = leads_rescore(company=company, lead_ids=touched, now=now, reason="events")
    return {"received": len(parsed), "created": len(new), "duplicates": len(parsed) - len(new),
            "results": results, "rescored": scoring["rescored"], "handoffs": scoring["handoffs"]}


def _activity_touch(*, company: Company, lead_ids, events) -> None:
    latest: dict[int, datetime] = {}
    for e in events:
        if e.lead_id not in latest or e.occurred_at > latest[e.lead_id]:
            latest[e.lead_id] = e.occurred_at
    leads = list(Lead.objects.filter(company=company, pk__in=lead_ids).only("pk", "last_activity_at"))
    for lead in leads:
        if lead.last_activity_at is None or latest[lead.pk] > lead.last_activity_at:
            lead.last_activity_at = latest[lead.pk]
    Lead.objects.bulk_update(leads, ["last_activity_at"])


def _conversions_apply(*, company: Company, events) -> None:
    """A purchase converts its lead: converted_at is the earliest purchase, status `converted`."""
    first: dict[int, datetime] = {}
    for e in events:
        if e.lead_id not in first or e.occurred_at < first[e.lead_id]:
            first[e.lead_id] = e.occurred_at
    from .experiments import experiments_convert_unit  # noqa: PLC0415

    for lead in Lead.objects.filter(company=company, pk__in=first):
        experiments_convert_unit(company=company, unit="lead", unit_id=lead.pk, at=first[lead.pk])
        fields = []
        if lead.converted_at is None or first[lead.pk] < lead.converted_at:
            lead.converted_at = first[lead.pk]
            fields.append("converted_at")
        if lead.status != Lead.Status.CONVERTED and lead.status != Lead.Status.UNSUBSCRIBED:
            lead.status = Lead.Status.CONVERTED
            fields.append("status")
        if fields:
            lead.save(update_fields=fields)


def lead_purchase_record(*, company: Company, order_id: int, email: str, paid_at: datetime, total: str = "",
                         now=None) -> dict | None:
    """A paid order by this email: a purchase event (key `order:<id>`) for the lead, if there is one."""
    try:
        email = email_normalise(email)
    except ValueError:
        return None
    lead_id = Lead.objects.filter(company=company, email=email).values_list("pk", flat=True).first()
    if lead_id is None:
        return None
    return lead_events_record(company=company, now=now, events=[{
        "idempotency_key": f"order:{order_id}", "type": LeadEvent.Type.PURCHASE, "lead_id": lead_id,
        "occurred_at": paid_at.isoformat(), "properties": {"order_id": order_id, "total": total},
    }])


def leads_convert_from_orders(*, company: Company, since: datetime, now=None) -> int:
    """Catch-up for purchases the order.paid hook could not attribute (customer learned later, lead created
    after buying): every paid order since `since` whose customer email is a lead's. Safe to re-run."""
    from commerce.selectors import paid_orders_with_email  # noqa: PLC0415

    emails = set(Lead.objects.filter(company=company).values_list("email", flat=True))
    count = 0
    for row in paid_orders_with_email(company=company, since=since):
        if row["email"].lower() in emails:
            result = lead_purchase_record(company=company, order_id=row["id"], email=row["email"],
                                          paid_at=row["paid_at"], total=str(row["total"]), now=now)
            count += bool(result and result["created"])
    return count


# --- Tracking pixel and tracked links --------------------------------------------------------


def track_token(*, lead: Lead, message: str = "", url: str = "") -> str:
    """Signed, so a pixel or link can only report for the lead (and message, and target) it was made for."""
    data = {"c": lead.company_id, "l": lead.pk}
    if message:
        data["m"] = message
    if url:
        data["u"] = url
    return signing.dumps(data, salt=TRACK_SALT, compress=True)


def track_read(token: str) -> dict | None:
    try:
        return signing.loads(token, salt=TRACK_SALT)
    except signing.BadSignature:
        return None


def tracked_link(*, lead: Lead, message: str, url: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("growth:track-click", args=[track_token(lead=lead, message=message,
                                                                                             url=url)])


def open_pixel_url(*, lead: Lead, message: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("growth:track-open", args=[track_token(lead=lead, message=message)])


def page_pixel_url(*, lead: Lead) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("growth:track-page", args=[track_token(lead=lead)])


def track_hit(*, token: str, kind: str, path: str = "", key: str = "", now=None) -> dict | None:
    """Record what a pixel or tracked link saw; returns the token's data, or None for a bad token.

    Opens count once per message, clicks once per message and link; page views are keyed by
    the page's own key if it sends one, else by lead, path and minute (a reload storm is one view).
    """
    data = track_read(token)
    if data is None:
        return None
    company = Company.objects.filter(pk=data.get("c"), is_active=True).first()
    if company is None or not Lead.objects.filter(company=company, pk=data.get("l")).exists():
        return None
    now = now or timezone.now()
    message = data.get("m", "")
    if kind == LeadEvent.Type.EMAIL_OPEN:
        idem, props = f"open:{data['l']}:{message}", {"message": message}
    elif kind == LeadEvent.Type.EMAIL_CLICK:
        digest = hashlib.sha256(data.get("u", "").encode()).hexdigest()[:16]
        idem, props = f"click:{data['l']}:{message}:{digest}", {"message": message, "url": data.get("u", "")}
    else:
        path = path[:500]
        idem = f"page:{data['l']}:{key[:100]}" if key else "page:" + hashlib.sha256(
            f"{data['l']}|{path}|{now:%Y%m%d%H%M}".encode()).hexdigest()[:32]
        props = {"path": path}
    lead_events_record(company=company, now=now, events=[{
        "idempotency_key": idem, "type": kind, "lead_id": data["l"], "occurred_at": now.isoformat(),
        "properties": props}])
    return data


def order_paid_handle(*, event) -> None:
    """Subscriber of the core `order.paid` event (registered in GrowthConfig.ready)."""
    from commerce.selectors import paid_orders_with_email  # noqa: PLC0415

    order_id = (event.payload or {}).get("order_id")
    if not order_id:
        return
    from .experiments import experiments_convert_unit  # noqa: PLC0415

    for row in paid_orders_with_email(company=event.company, since=None, order_ids=[order_id]):
        experiments_convert_unit(company=event.company, unit="customer", unit_id=row["customer_id"],
                                 at=row["paid_at"])
        lead_purchase_record(company=event.company, order_id=row["id"], email=row["email"], paid_at=row["paid_at"],
                             total=str(row["total"]))
