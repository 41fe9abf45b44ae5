"""What the engine reads about a company on every call, its routing preference and its own provider keys, held in
process memory with invalidation across processes.

Both change rarely, through services (`ai_routing_preference_set`, saving or removing the company's AI
connection) that call `ai_company_settings_changed` inside their transaction. When that commits, the process
that made the change drops its copy at once, and a new version token is written to the shared cache (Redis
in production). Every process compares its copy's token with the shared one at most once every
`CHECK_EVERY_S` seconds and reads the database again when it differs, so a change reaches every worker
within that time, and a call costs no query and, most of the time, no round trip at all.

Inside a transaction the database answers (it may hold an uncommitted change of this transaction) and
nothing is kept from it.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection, transaction

from .models import AIRoutingPreference

CHECK_EVERY_S = 1.0
# The version token outlives any copy; when the shared cache loses it, a new one is written and every copy is
# read again (the token differs from theirs).
VERSION_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class CompanyAISettings:
    preference: str
    keys: dict[str, str] = field(default_factory=dict)  # key variable name -> the company's own key


@dataclass
class _Copy:
    version: str
    checked_at: float
    settings: CompanyAISettings


_copies: dict[str, _Copy] = {}
_lock = threading.Lock()
_clock = time.monotonic


def _company_key(company) -> str:
    # With the creation time a key never outlives its company, even where ids are reused (test databases).
    return f"{company.pk}:{company.created_at.timestamp() if company.created_at else ''}"


def _version_key(company) -> str:
    return f"ai:company-settings-version:{_company_key(company)}"


def _read(company) -> CompanyAISettings:
    from .connections import ai_keys_for  # noqa: PLC0415  (connections.py imports this module)

    preference = AIRoutingPreference.objects.filter(company_id=company.pk).values_list("preference", flat=True)[:1]
    return CompanyAISettings(preference=next(iter(preference), AIRoutingPreference.Preference.DEFAULT),
                             keys=ai_keys_for(company=company))


def _shared_version(company) -> str:
    key = _version_key(company)
    version = cache.get(key)
    if version is None:
        cache.add(key, uuid.uuid4().hex, VERSION_TTL_S)  # add: a token written meanwhile wins
        version = cache.get(key) or ""
    return version


def ai_company_settings(*, company) -> CompanyAISettings:
    """The company's routing preference and own keys: from this process's copy while it is current."""
    if connection.in_atomic_block:
        return _read(company)
    key = _company_key(company)
    now = _clock()
    copy = _copies.get(key)
    if copy is not None and now - copy.checked_at < CHECK_EVERY_S:
        return copy.settings
    version = _shared_version(company)  # read before the database: a change committed after it shows next time
    if copy is not None and copy.version == version:
        copy.checked_at = now
        return copy.settings
    settings = _read(company)
    with _lock:
        _copies[key] = _Copy(version=version, checked_at=now, settings=settings)
    return settings


def ai_company_settings_changed(*, company) -> None:
    """Call inside the transaction that changes the preference or the keys: once it commits, every process
    reads them again (this one at the next call, the others within CHECK_EVERY_S). A rollback changes nothing."""
    key, version_key = _company_key(company), _version_key(company)

    def publish() -> None:
        cache.set(version_key, uuid.uuid4().hex, VERSION_TTL_S)
        with _lock:
            _copies.pop(key, None)

    transaction.on_commit(publish)


def ai_company_settings_forget() -> None:
    """Drop every copy held by this process (tests; a process that must re-read everything)."""
    with _lock:
        _copies.clear()
