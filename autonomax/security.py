"""Who is knocking: the client's address, and the throttle on failed API token checks.

Login lockout is django-axes (settings: AXES_*); it asks `client_ip` for the address, so the login
lockout and the token throttle agree on who the client is.
"""

import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions

from .throttling import window_count


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or behind DJANGO_TRUSTED_PROXY_COUNT proxies the address the outermost one saw."""
    meta = getattr(request, "META", {})
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return meta.get("REMOTE_ADDR") or None


def _keys(request=None, *, ip: str | None = None) -> tuple[str, str]:
    ip = ip or client_ip(request) or "unknown"
    return f"autonomax:token-failures:{ip}", f"autonomax:token-failures-since:{ip}"


def token_failures_forget(ip: str) -> None:
    """Lift the token throttle for one address."""
    cache.delete_many(list(_keys(ip=ip)))


def token_failures_check(request) -> None:
    """Refuse (429) every token check from a client that failed too often in the window."""
    count_key, since_key = _keys(request)
    if (cache.get(count_key) or 0) >= settings.API_TOKEN_FAILURE_LIMIT:
        since = cache.get(since_key) or time.time()
        wait = math.ceil(since + settings.API_TOKEN_FAILURE_WINDOW - time.time())
        if wait <= 0:  # the window is over even if the cache has not expired the keys yet
            cache.delete_many([count_key, since_key])
            return
        raise exceptions.Throttled(wait=wait, detail=(
            f"Too many failed API token checks from this address: try again in {wait} seconds."))


def token_failure_record(request) -> None:
    """Count a failed token check against the client's address for API_TOKEN_FAILURE_WINDOW seconds
    from the first failure (an atomic increment on Redis)."""
    count_key, since_key = _keys(request)
    window = settings.API_TOKEN_FAILURE_WINDOW
    cache.add(since_key, time.time(), timeout=window)
    window_count(count_key, window)
