"""Per-company connections to outside services, set up by an owner at `/settings/connections/`.

Apps declare the kinds they use in their own `connections.py` (found at start-up the way the admin finds
`admin.py`): the fields, which of them are secret, the setting (environment variable) that is the default
for each, and a live check. The core stores the values, secrets Fernet-encrypted, and answers
`connection_value`: the company's value, else the environment's default. A secret is never shown again;
the page shows its last characters only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .errors import AppError, NotFoundError
from .models import Company, Connection
from .services import config_change_record

logger = logging.getLogger(__name__)

MAX_VALUE_CHARS = 500


@dataclass(frozen=True)
class ConnectionField:
    name: str
    label: str
    secret: bool = True
    # The Django setting (or, failing that, environment variable) used when the company has not set the field.
    default_setting: str = ""
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class ConnectionKind:
    key: str
    label: str
    fields: tuple[ConnectionField, ...]
    # check(*, company, values) -> what answered (one line); raises ConnectionCheckFailed. A live call.
    check: Callable[..., str]
    # What stops working without it, e.g. "checkout": the Command Center warns when it is not configured.
    needed_for: str = ""
    # Called inside the save/remove transaction, e.g. commerce keeps its Shopify channel row in step.
    saved: Callable[..., None] | None = None
    removed: Callable[..., None] | None = None
    order: int = 50  # place on the page


class ConnectionCheckFailed(AppError):
    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "connection_check_failed")
        super().__init__(message, **kwargs)


KINDS: dict[str, ConnectionKind] = {}


def connection_kind_register(kind: ConnectionKind) -> ConnectionKind:
    KINDS[kind.key] = kind
    return kind


def _kind(key: str) -> ConnectionKind:
    if key not in KINDS:
        raise NotFoundError(f"Unknown connection {key!r}.", code="unknown_connection")
    return KINDS[key]


# --- encryption ------------------------------------------------------------------------------------------------

def _fernet():
    from cryptography.fernet import Fernet, MultiFernet  # noqa: PLC0415  (loaded when a secret is used)

    keys = list(settings.CONNECTIONS_ENCRYPTION_KEYS)
    if not keys and settings.DEBUG:
        # Development only: a key derived from SECRET_KEY, so `make run` works with nothing set.
        digest = hashlib.sha256(f"connections:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    if not keys:
        raise AppError("Connections cannot keep secrets: set CONNECTIONS_ENCRYPTION_KEYS (a Fernet key).",
                       code="encryption_not_configured", status=503)
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise AppError("CONNECTIONS_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe "
                       "base64-encoded bytes).", code="encryption_not_configured", status=503) from None


def _encrypt(secrets: dict) -> str:
    return _fernet().encrypt(json.dumps(secrets, sort_keys=True).encode()).decode() if secrets else ""


def _decrypt(token: str) -> dict:
    if not token:
        return {}
    from cryptography.fernet import InvalidToken  # noqa: PLC0415  (7 MB: only where a secret is stored)

    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise AppError("A stored connection cannot be decrypted with CONNECTIONS_ENCRYPTION_KEYS (was the key "
                       "changed without keeping the old one?).", code="connection_undecryptable", status=503) from None


def _hint(value: str) -> str:
    """What an owner may see of a stored secret: its last characters when it is long enough not to leak."""
    return f"…{value[-4:]}" if len(value) >= 12 else "set"


# --- reads -----------------------------------------------------------------------------------------------------

def field_default(field: ConnectionField) -> str:
    if not field.default_setting:
        return ""
    value = getattr(settings, field.default_setting, None)
    return str(value if value is not None else os.environ.get(field.default_setting, "") or "")


def connection_for(*, company: Company, kind: str) -> Connection | None:
    return Connection.objects.filter(company=company, kind=kind).first()


def connection_stored(*, company: Company, kind: str, connection: Connection | None = None) -> dict:
    """Only what the company itself set (plain settings and decrypted secrets)."""
    connection = connection or connection_for(company=company, kind=kind)
    if connection is None:
        return {}
    return {**connection.options, **_decrypt(connection.secrets_encrypted)}


def connection_value(*, company: Company | None, kind: str, name: str, default: bool = True) -> str:
    """The company's value for one field, else (with `default`) the environment's."""
    stored = connection_stored(company=company, kind=kind) if company is not None else {}
    if stored.get(name):
        return stored[name]
    if not default:
        return ""
    field = next((f for f in _kind(kind).fields if f.name == name), None)
    return field_default(field) if field else ""


def connection_values_everywhere(*, kind: str, name: str) -> list[tuple[int, str]]:
    """(company id, value) of every company that set `name`: e.g. the webhook secrets one shared endpoint
    must try. A row that cannot be decrypted is logged and left out, so one bad row cannot stop the rest."""
    found = []
    for connection in Connection.objects.filter(kind=kind).exclude(secrets_encrypted=""):
        try:
            value = {**connection.options, **_decrypt(connection.secrets_encrypted)}.get(name)
        except AppError as exc:
            logger.error("connection %s of company %s: %s", kind, connection.company_id, exc.message)
            continue
        if value:
            found.append((connection.company_id, value))
    return found


def connections_overview(*, company: Company) -> list[dict]:
    """Each kind with its connection and, per field, where its value comes from (never a secret itself)."""
    rows = {c.kind: c for c in Connection.objects.filter(company=company).select_related("updated_by")}
    overview = []
    for kind in sorted(KINDS.values(), key=lambda k: k.order):
        connection = rows.get(kind.key)
        fields = []
        for field in kind.fields:
            own = bool(connection and (field.name in connection.secret_hints or connection.options.get(field.name)))
            fields.append({
                "field": field, "source": "company" if own else ("environment" if field_default(field) else ""),
                "shown": (connection.secret_hints.get(field.name) if field.secret else connection.options.get(
                    field.name, "")) if own else "",
            })
        overview.append({"kind": kind, "connection": connection, "fields": fields,
                         "from_environment": connection is None and all(
                             field_default(f) for f in kind.fields if f.required)})
    return overview


def connection_configured(*, company: Company, kind: str) -> bool:
    """Every required field has a value, the company's or the environment's."""
    return all(connection_value(company=company, kind=kind, name=f.name) for f in _kind(kind).fields if f.required)


def connection_warnings(*, company: Company) -> list[str]:
    """What the Command Center warns about: a connection that failed its check, something needed but unset."""
    warnings = []
    rows = {c.kind: c for c in Connection.objects.filter(company=company)}
    for kind in KINDS.values():
        connection = rows.get(kind.key)
        if connection is not None and connection.status == Connection.Status.FAILING:
            warnings.append(f"{kind.label} connection is failing: {connection.status_message}")
        elif kind.needed_for and connection is None and not all(
                field_default(f) for f in kind.fields if f.required):
            warnings.append(f"{kind.needed_for.capitalize()} is off: {kind.label} is not connected.")
    return warnings


# --- writes ----------------------------------------------------------------------------------------------------

def _clean(kind: ConnectionKind, values: dict) -> dict:
    cleaned = {}
    for field in kind.fields:
        value = str(values.get(field.name) or "").strip()
        if len(value) > MAX_VALUE_CHARS or any(ord(ch) < 32 for ch in value):
            raise AppError(f"{field.label}: at most {MAX_VALUE_CHARS} printable characters.",
                           code="invalid", details={"field": field.name})
        cleaned[field.name] = value
    return cleaned


def _effective(kind: ConnectionKind, merged: dict) -> dict:
    return {f.name: merged.get(f.name) or field_default(f) for f in kind.fields}


def _run_check(kind: ConnectionKind, *, company: Company, values: dict) -> str:
    missing = [f.label for f in kind.fields if f.required and not values.get(f.name)]
    if missing:
        raise AppError(f"{kind.label} needs: {', '.join(missing)}.", code="invalid", details={"missing": missing})
    return kind.check(company=company, values=values)[:MAX_VALUE_CHARS]


def connection_save(*, company: Company, kind: str, values: dict, actor) -> Connection:
    """Check the new values with a live call and store them; a failed check stores nothing.

    A blank secret keeps the stored one (it is never sent back to the browser); a blank plain field clears it.
    """
    spec = _kind(kind)
    submitted = _clean(spec, values)
    existing = connection_for(company=company, kind=kind)
    stored = connection_stored(company=company, kind=kind, connection=existing)
    merged = {f.name: submitted[f.name] or (stored.get(f.name, "") if f.secret else "") for f in spec.fields}
    message = _run_check(spec, company=company, values=_effective(spec, merged))
    secrets = {f.name: merged[f.name] for f in spec.fields if f.secret and merged[f.name]}
    with transaction.atomic():
        connection = existing or Connection(company=company, kind=kind)
        changed = sorted(f.name for f in spec.fields if merged[f.name] != stored.get(f.name, ""))
        connection.options = {f.name: merged[f.name] for f in spec.fields if not f.secret and merged[f.name]}
        connection.secrets_encrypted = _encrypt(secrets)
        connection.secret_hints = {name: _hint(value) for name, value in secrets.items()}
        connection.status, connection.status_message = Connection.Status.OK, message
        connection.checked_at = timezone.now()
        connection.updated_by = actor if getattr(actor, "is_authenticated", False) else None
        connection.save()
        # The change log names the fields that changed, never their values.
        config_change_record(company=company, actor=actor, object_type="connection", object_id=kind,
                             changes={name: ["…", "changed"] for name in changed},
                             reason="connection saved and checked", expected_effect=message)
        if spec.saved:
            spec.saved(company=company, values=merged)
    return connection


def connection_check(*, company: Company, kind: str) -> Connection:
    """Check a stored connection again and record whether it works (the Command Center warns when not)."""
    spec = _kind(kind)
    connection = connection_for(company=company, kind=kind)
    if connection is None:
        raise NotFoundError(f"{spec.label} is not connected for this company.", code="not_connected")
    try:
        values = _effective(spec, connection_stored(company=company, kind=kind, connection=connection))
        status, message = Connection.Status.OK, _run_check(spec, company=company, values=values)
    except AppError as exc:
        status, message = Connection.Status.FAILING, exc.message[:MAX_VALUE_CHARS]
    Connection.objects.filter(pk=connection.pk).update(status=status, status_message=message,
                                                       checked_at=timezone.now())
    connection.refresh_from_db()
    return connection


@transaction.atomic
def connection_remove(*, company: Company, kind: str, actor) -> None:
    """Forget the company's values: the environment's defaults apply again."""
    spec = _kind(kind)
    deleted, _ = Connection.objects.filter(company=company, kind=kind).delete()
    if deleted:
        config_change_record(company=company, actor=actor, object_type="connection", object_id=kind,
                             changes={"connection": ["set", None]}, reason="connection removed",
                             expected_effect="the environment's defaults apply")
        if spec.removed:
            spec.removed(company=company)


# --- the platform's own: the email provider ---------------------------------------------------------------------

def _smtp_backend(url: str):
    """Django's SMTP backend for an email URL (smtp://, smtp+tls://, smtp+ssl://)."""
    import environ  # noqa: PLC0415
    from django.core.mail.backends.smtp import EmailBackend  # noqa: PLC0415

    try:
        config = environ.Env.email_url_config(url)
    except (KeyError, ValueError) as exc:
        raise ConnectionCheckFailed(f"Not an email URL ({exc}); e.g. smtp+tls://user:password@host:587.") from None
    if not config.get("EMAIL_BACKEND", "").endswith("smtp.EmailBackend"):
        raise ConnectionCheckFailed("Only SMTP servers can be connected here (smtp://, smtp+tls://, smtp+ssl://).")
    return EmailBackend(host=config.get("EMAIL_HOST"), port=config.get("EMAIL_PORT"),
                        username=config.get("EMAIL_HOST_USER") or None,
                        password=config.get("EMAIL_HOST_PASSWORD") or None,
                        use_tls=config.get("EMAIL_USE_TLS", False), use_ssl=config.get("EMAIL_USE_SSL", False),
                        timeout=10, fail_silently=False)


def _email_check(*, company: Company, values: dict) -> str:
    """Open a session with the SMTP server and log in, as sending would."""
    import smtplib  # noqa: PLC0415

    backend = _smtp_backend(values["email_url"])
    try:
        backend.open()
    except (smtplib.SMTPException, OSError) as exc:
        raise ConnectionCheckFailed(f"The mail server did not accept the connection: {exc}") from None
    backend.close()
    return f"Mail server {backend.host}:{backend.port} accepted the session."


def company_mail(*, company: Company) -> dict:
    """EmailMessage keyword arguments for mail sent on the company's behalf: its own SMTP server and From
    address when it connected them, else nothing (the platform's EMAIL_URL and DEFAULT_FROM_EMAIL)."""
    try:
        stored = connection_stored(company=company, kind="email")
    except AppError as exc:
        logger.error("email connection of company %s: %s", company.pk, exc.message)
        return {}
    mail = {"from_email": stored["from_email"]} if stored.get("from_email") else {}
    if stored.get("email_url"):
        mail["connection"] = _smtp_backend(stored["email_url"])
    return mail


connection_kind_register(ConnectionKind(
    key="email", label="Email provider", check=_email_check, order=30,
    fields=(ConnectionField("email_url", "SMTP URL", default_setting="EMAIL_URL", required=True,
                            help="e.g. smtp+tls://user:password@smtp.example.com:587"),
            ConnectionField("from_email", "From address", secret=False, default_setting="DEFAULT_FROM_EMAIL")),
))
