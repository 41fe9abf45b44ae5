"""Inbound email: the signed JSON webhook (POST /webhooks/email/) and one provider's inbound-parse format
(Postmark, through django-anymail). Both end in `ticket_receive`, which threads replies into their ticket.

The JSON shape (documented in the README and the schema docs)::

    {"company": "acme",                              # optional when `to` names the company's support address
     "message_id": "<abc@mail.example>",             # the email's Message-ID; a repeat is stored once
     "in_reply_to": "<...>", "references": ["<...>"],
     "from": {"email": "ada@example.com", "name": "Ada"},   # or "Ada <ada@example.com>"
     "to": ["support@acme.example"],
     "subject": "Where is my download?",
     "text": "plain-text body", "html": "<p>used when there is no text</p>",
     "attachments": [{"filename": "x.pdf", "content_type": "application/pdf", "content_base64": "..."}]}

signed with the shared secret: ``X-AutonomaX-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import uuid
from email.utils import getaddresses, parseaddr

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.html import strip_tags
from django.utils.text import get_valid_filename

from autonomax.errors import AppError
from autonomax.models import Company

from .tickets import Inbound, Received, ticket_receive

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-AutonomaX-Signature"


class InboundRejected(AppError):
    """Bad signature, malformed or oversize message: answered 4xx, nothing stored."""

    status = 400


def email_signature(*, raw_body: bytes, secret: str) -> str:
    """The header value a sender puts in X-AutonomaX-Signature."""
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def _signature_check(raw_body: bytes, given: str) -> None:
    secret = settings.SUPPORT_EMAIL_WEBHOOK_SECRET
    if not secret:
        raise AppError("The email webhook is not configured: set SUPPORT_EMAIL_WEBHOOK_SECRET.",
                       code="not_configured", status=503)
    if not given or not hmac.compare_digest(email_signature(raw_body=raw_body, secret=secret), given.strip()):
        raise InboundRejected("Signature check failed.", code="bad_signature")


def _address_list(value) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("email") or ""
        out += [addr.lower() for _, addr in getaddresses([str(item)]) if addr]
    return out


def company_for_recipients(*, slug: str = "", recipients: list[str]) -> Company:
    """The company an email is for: by explicit slug, else a recipient equal to its support address, else a
    plus-address naming its slug (support+acme@…)."""
    companies = Company.objects.filter(is_active=True)
    if slug:
        company = companies.filter(slug=slug).first()
        if company is None:
            raise AppError(f"Unknown company {slug!r}.", code="unknown_company", status=404)
        return company
    for address in recipients:
        company = companies.filter(support_email__iexact=address).first()
        if company is not None:
            return company
        local = address.split("@", 1)[0]
        if "+" in local:
            company = companies.filter(slug=local.split("+", 1)[1]).first()
            if company is not None:
                return company
    raise AppError("No company receives mail at these addresses.", code="unknown_company", status=404,
                   details={"to": recipients})


def attachments_store(*, company: Company, files: list[tuple[str, str, bytes]]) -> tuple[list[dict], list[str]]:
    """Store attachments within the limits; over a limit they are listed, flagged and not stored (the
    message itself is kept). Returns (attachment rows, flags)."""
    rows, flags = [], []
    for i, (filename, content_type, data) in enumerate(files):
        name = get_valid_filename(filename or f"attachment-{i + 1}") or f"attachment-{i + 1}"
        row = {"filename": name[:200], "content_type": (content_type or "application/octet-stream")[:100],
               "size": len(data), "stored": False}
        if i >= settings.SUPPORT_MAX_ATTACHMENTS:
            row["flag"] = "too_many_attachments"
        elif len(data) > settings.SUPPORT_MAX_ATTACHMENT_BYTES:
            row["flag"] = "attachment_over_limit"
        else:
            row["path"] = default_storage.save(f"support/{company.pk}/{uuid.uuid4().hex}/{name}", ContentFile(data))
            row["stored"] = True
        if row.get("flag"):
            flags.append(row["flag"])
        rows.append(row)
    return rows, sorted(set(flags))


def _text_of(text, html) -> str:
    if isinstance(text, str) and text.strip():
        return text
    if isinstance(html, str) and html.strip():
        return re.sub(r"\n{3,}", "\n\n", strip_tags(re.sub(r"(?i)<br\s*/?>|</p>", "\n", html))).strip()
    return ""


def _parse_json(raw_body: bytes) -> dict:
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise InboundRejected("Body is not valid JSON.", code="invalid_json") from None
    if not isinstance(payload, dict):
        raise InboundRejected("Body must be a JSON object.", code="invalid_json")
    return payload


def _field_errors(payload: dict) -> dict:
    errors = {}
    for key in ("subject", "text", "html", "message_id", "in_reply_to", "company"):
        if key in payload and payload[key] is not None and not isinstance(payload[key], str):
            errors[key] = ["must be a string"]
    if not isinstance(payload.get("references", []), list):
        errors["references"] = ["must be a list of message ids"]
    if not isinstance(payload.get("attachments", []), list):
        errors["attachments"] = ["must be a list"]
    sender = payload.get("from")
    email = sender.get("email") if isinstance(sender, dict) else parseaddr(str(sender or ""))[1]
    if not email or "@" not in str(email):
        errors["from"] = ["a sender email is required"]
    return errors


def email_webhook_receive(*, raw_body: bytes, headers) -> Received:
    """Verify the signature, validate the JSON, route it to its company and store it (or thread it)."""
    if len(raw_body) > settings.SUPPORT_EMAIL_MAX_BYTES:
        raise InboundRejected("Body too large.", code="body_too_large", status=413)
    _signature_check(raw_body, headers.get(SIGNATURE_HEADER, ""))
    payload = _parse_json(raw_body)
    errors = _field_errors(payload)
    if errors:
        raise InboundRejected("Invalid email payload.", code="invalid", details=errors)
    sender = payload["from"]
    if isinstance(sender, dict):
        name, email = str(sender.get("name") or ""), str(sender["email"])
    else:
        name, email = parseaddr(str(sender))
    company = company_for_recipients(slug=payload.get("company") or "",
                                     recipients=_address_list(payload.get("to", [])))
    files = []
    for i, item in enumerate(payload.get("attachments") or []):
        if not isinstance(item, dict):
            raise InboundRejected("Invalid email payload.", code="invalid",
                                  details={"attachments": [f"item {i} must be an object"]})
        try:
            data = base64.b64decode(item.get("content_base64") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise InboundRejected("Invalid email payload.", code="invalid",
                                  details={"attachments": [f"item {i}: content_base64 is not base64"]}) from None
        files.append((str(item.get("filename") or ""), str(item.get("content_type") or ""), data))
    attachments, flags = attachments_store(company=company, files=files)
    return ticket_receive(company=company, inbound=Inbound(
        email=email, name=name, subject=payload.get("subject") or "", channel="email",
        body=_text_of(payload.get("text"), payload.get("html")), message_id=payload.get("message_id") or "",
        in_reply_to=payload.get("in_reply_to") or "",
        references=[str(r) for r in payload.get("references") or []], attachments=attachments, flags=flags))


def anymail_inbound_receive(*, message, esp_event: dict | None = None) -> Received:
    """An inbound message parsed by django-anymail (an AnymailInboundMessage), e.g. from Postmark."""
    recipients = [a.addr_spec.lower() for a in (message.to or []) + (message.cc or [])]
    original = (esp_event or {}).get("OriginalRecipient")
    if original:
        recipients.insert(0, str(original).lower())
    company = company_for_recipients(recipients=recipients)
    sender = message.from_email
    if sender is None or not sender.addr_spec:
        raise InboundRejected("The message has no sender.", code="invalid", details={"from": ["required"]})
    files = [(part.get_filename() or "", part.get_content_type(), part.get_content_bytes() or b"")
             for part in message.attachments]
    attachments, flags = attachments_store(company=company, files=files)
    references = (message.get("References") or "").split()
    return ticket_receive(company=company, inbound=Inbound(
        email=sender.addr_spec, name=sender.display_name or "", subject=message.subject or "", channel="email",
        body=_text_of(message.text, message.html), message_id=(message.get("Message-ID") or "").strip(),
        in_reply_to=(message.get("In-Reply-To") or "").strip(), references=references, attachments=attachments,
        flags=flags))
