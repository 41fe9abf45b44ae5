"""Lead capture: validate everything first, then store the lead and its touch in one transaction.

One function serves the API and the public form. The same normalised email in
the same company is the same lead: a repeat records a touch and returns it.
Marketing consent is stored with the exact wording the person agreed to; with
double opt-in (the default) it counts only once the emailed link is followed.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from autonomax.errors import AppError
from autonomax.models import Company

from .models import GrowthSettings, Lead, LeadEvent, LeadTouch
from .personal_data import unsubscribed

CONFIRM_SALT = "growth.confirm"
CONFIRM_MAX_AGE = 14 * 24 * 3600
UTM_KEYS = ("source", "medium", "campaign", "term", "content")
LIMITS = {"email": 254, "name": 200, "source": 64, "utm": 100, "consent_text": 2000, "page_url": 500,
          "fields": 20, "field_key": 64, "field_value": 500}


class LeadInvalid(AppError):
    """400 naming the field(s) at fault; nothing is stored."""

    def __init__(self, errors: dict):
        first = next(iter(errors))
        super().__init__(f"{first}: {errors[first]}", code="invalid", details=errors)


@dataclass
class CaptureInput:
    email: str
    name: str = ""
    source: str = ""
    utm: dict = field(default_factory=dict)
    consent_marketing: bool = False
    consent_text: str = ""
    consent_at: object = None
    fields: dict = field(default_factory=dict)
    page_url: str = ""


def growth_settings_for(*, company: Company) -> GrowthSettings:
    """The company's settings row, or the defaults (unsaved) until someone changes them."""
    return GrowthSettings.objects.filter(company=company).first() or GrowthSettings(company=company)


def _disposable_domains() -> set[str]:
    """The disposable-address blocklist (~100k domains, 1.5 MB in memory): loaded with the first capture."""
    from disposable_email_domains import blocklist  # noqa: PLC0415

    return blocklist


def email_normalise(raw) -> str:
    """Lower-cased, IDNA-normalised address; raises ValueError with a reason a person can read."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("This field is required.")
    if len(raw) > LIMITS["email"]:
        raise ValueError(f"At most {LIMITS['email']} characters.")
    # email_validator compiles its grammar at import: loaded with the first address, not by every web worker.
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

    try:
        result = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"Not a valid email address: {exc}") from None
    return result.normalized.lower()


def _check_text(errors: dict, key: str, value, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[key] = "Must be a string."
        return ""
    value = value.strip()
    if len(value) > limit:
        errors[key] = f"At most {limit} characters (got {len(value)})."
    return value


def capture_validate(*, company: Company, data: CaptureInput, group: GrowthSettings) -> CaptureInput:
    """All checks before any write; every failure is reported with its field name."""
    errors: dict[str, str] = {}
    try:
        data.email = email_normalise(data.email)
    except ValueError as exc:
        errors["email"] = str(exc)
    else:
        domain = data.email.rsplit("@", 1)[1]
        extra = {d.strip().lower() for d in group.blocked_domains.splitlines() if d.strip()}
        if domain in _disposable_domains() or domain in extra:
            errors["email"] = f"Addresses at {domain} are not accepted (disposable or blocked domain)."
    data.name = _check_text(errors, "name", data.name, LIMITS["name"])
    data.source = _check_text(errors, "source", data.source, LIMITS["source"])
    data.page_url = _check_text(errors, "page_url", data.page_url, LIMITS["page_url"])
    if not isinstance(data.utm, dict):
        errors["utm"] = "Must be an object."
        data.utm = {}
    unknown = sorted(set(data.utm) - set(UTM_KEYS))
    if unknown:
        errors["utm"] = f"Unknown key(s) {', '.join(unknown)}; allowed: {', '.join(UTM_KEYS)}."
    data.utm = {k: _check_text(errors, f"utm.{k}", data.utm.get(k), LIMITS["utm"]) for k in UTM_KEYS}
    data.consent_text = _check_text(errors, "consent.text", data.consent_text, LIMITS["consent_text"])
    if not isinstance(data.consent_marketing, bool):
        errors["consent.marketing"] = "Must be true or false."
    elif data.consent_marketing and not data.consent_text:
        errors["consent.text"] = "The wording the person agreed to is required with marketing consent."
    if group.require_consent and data.consent_marketing is not True:
        errors["consent"] = "This company requires marketing consent to sign up."
    if not isinstance(data.fields, dict):
        errors["fields"] = "Must be an object."
        data.fields = {}
    elif len(data.fields) > LIMITS["fields"]:
        errors["fields"] = f"At most {LIMITS['fields']} fields (got {len(data.fields)})."
    else:
        for key, value in data.fields.items():
            if len(key) > LIMITS["field_key"]:
                errors["fields"] = f"Field names are at most {LIMITS['field_key']} characters."
            elif value is not None and not isinstance(value, (str, int, float, bool)):
                errors[f"fields.{key}"] = "Must be a string, number or boolean."
            elif isinstance(value, str) and len(value) > LIMITS["field_value"]:
                errors[f"fields.{key}"] = f"At most {LIMITS['field_value']} characters (got {len(value)})."
    if errors:
        raise LeadInvalid(errors)
    return data


def lead_capture(*, company: Company, data: CaptureInput, channel: str = LeadTouch.Channel.API,
                 now=None) -> tuple[Lead, bool]:
    """Create or touch the lead for `data.email`; returns (lead, created). Scored before returning."""
    from .scoring import leads_rescore  # noqa: PLC0415 - scoring reads capture's settings helper

    now = now or timezone.now()
    group = growth_settings_for(company=company)
    data = capture_validate(company=company, data=data, group=group)
    was_unsubscribed = unsubscribed(company.pk, data.email).exists()
    with transaction.atomic():
        try:
            with transaction.atomic():
                lead = Lead.objects.create(
                    company=company, email=data.email, name=data.name, source=data.source,
                    utm_source=data.utm["source"], utm_medium=data.utm["medium"],
                    utm_campaign=data.utm["campaign"], utm_term=data.utm["term"], utm_content=data.utm["content"],
                    fields=data.fields, created_at=now, last_activity_at=now,
                )
            created = True
        except IntegrityError:
            created = False
            lead = Lead.objects.select_for_update().get(company=company, email=data.email)
            _touch_update(lead=lead, data=data, now=now)
        touch = LeadTouch.objects.create(
            company=company, lead=lead, channel=channel, source=data.source,
            utm={k: v for k, v in data.utm.items() if v}, consent_marketing=bool(data.consent_marketing),
            consent_text=data.consent_text, page_url=data.page_url, created_at=now,
        )
        LeadEvent.objects.create(company=company, lead=lead, type=LeadEvent.Type.FORM_SUBMIT,
                                 idempotency_key=f"touch:{touch.pk}", occurred_at=now,
                                 properties={"channel": channel, "source": data.source, "page_url": data.page_url})
        if data.consent_marketing:
            _consent_record(lead=lead, data=data, group=group, now=now, unsubscribed=was_unsubscribed)
        leads_rescore(company=company, lead_ids=[lead.pk], now=now, reason="captured" if created else "touched")
        if created:
            from .sequences import sequences_enrol_on_capture  # noqa: PLC0415

            sequences_enrol_on_capture(lead=lead, now=now)
        lead.refresh_from_db()
    return lead, created


def _touch_update(*, lead: Lead, data: CaptureInput, now) -> None:
    """A repeat capture fills gaps (never overwrites what the first touch said) and counts the touch."""
    fields = {"touches", "last_activity_at"}
    lead.touches += 1
    lead.last_activity_at = now
    if data.name and not lead.name:
        lead.name, _ = data.name, fields.add("name")
    if data.source and not lead.source:
        lead.source, _ = data.source, fields.add("source")
    for key in UTM_KEYS:
        attr = f"utm_{key}"
        if data.utm[key] and not getattr(lead, attr):
            setattr(lead, attr, data.utm[key])
            fields.add(attr)
    if data.fields:
        merged = {**lead.fields, **data.fields}
        if merged != lead.fields:
            lead.fields = merged
            fields.add("fields")
    lead.save(update_fields=sorted(fields))


def _consent_record(*, lead: Lead, data: CaptureInput, group: GrowthSettings, now, unsubscribed: bool) -> None:
    """Consent given now; an address that once unsubscribed can only opt in again through the emailed link."""
    if lead.consent:
        return
    lead.consent_text = data.consent_text
    if group.double_opt_in or unsubscribed:
        if lead.confirmation_sent_at is None or (now - lead.confirmation_sent_at).days >= 1:
            lead.confirmation_sent_at = now
            lead.save(update_fields=["consent_text", "confirmation_sent_at"])
            transaction.on_commit(lambda pk=lead.pk: _confirmation_enqueue(pk))
        else:
            lead.save(update_fields=["consent_text"])
        return
    lead.consent = True
    lead.consent_at = data.consent_at or now
    lead.save(update_fields=["consent", "consent_at", "consent_text"])


def _confirmation_enqueue(lead_id: int) -> None:
    from .tasks import email_lead_confirmation_task  # noqa: PLC0415

    email_lead_confirmation_task.delay(lead_id)


def confirm_token(*, lead: Lead) -> str:
    return signing.dumps({"c": lead.company_id, "l": lead.pk}, salt=CONFIRM_SALT, compress=True)


def confirm_url(*, lead: Lead) -> str:
    path = reverse("growth:lead-confirm", args=[lead.company.slug, confirm_token(lead=lead)])
    return settings.SITE_URL.rstrip("/") + path


def lead_confirmation_send(*, lead_id: int) -> bool:
    """The double opt-in email (transactional: no frequency cap, no unsubscribe needed to send it)."""
    lead = Lead.objects.select_related("company").filter(pk=lead_id).first()
    if lead is None or lead.consent:
        return False
    company = lead.company
    body = (f"Hello {lead.name or 'there'},\n\nplease confirm that you want to hear from {company.name}:\n"
            f"{confirm_url(lead=lead)}\n\nYou agreed to: \"{lead.consent_text}\"\n"
            "If this was not you, ignore this email and you will not hear from us.\n")
    EmailMessage(subject=f"Please confirm your subscription to {company.name}", body=body, to=[lead.email],
                 from_email=company.support_email or None).send()
    return True


@transaction.atomic
def lead_confirm(*, company_slug: str, token: str, now=None) -> Lead:
    """The double opt-in link: marketing consent counts from now. Repeats are harmless."""
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise AppError("This confirmation link has expired; sign up again for a new one.", code="expired") from exc
    except signing.BadSignature as exc:
        raise AppError("This confirmation link is not valid.", code="bad_token") from exc
    lead = (Lead.objects.select_for_update().select_related("company")
            .filter(pk=data.get("l"), company_id=data.get("c"), company__slug=company_slug).first())
    if lead is None:
        raise AppError("This confirmation link is not valid.", code="bad_token")
    if not lead.consent:
        now = now or timezone.now()
        # Following the link is a fresh opt-in, so it lifts an earlier unsubscribe.
        unsubscribed(lead.company_id, lead.email).delete()
        lead.consent, lead.consent_at, lead.confirmed_at = True, now, now
        fields = ["consent", "consent_at", "confirmed_at"]
        if lead.status == Lead.Status.UNSUBSCRIBED:
            lead.status = Lead.Status.CONVERTED if lead.converted_at else Lead.Status.NEW
            fields.append("status")
        lead.save(update_fields=fields)
    return lead
