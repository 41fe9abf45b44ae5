"""Liveness and readiness: public, cheap, no auth. A failure names the part only; the exception is logged."""

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from kombu import Connection

logger = logging.getLogger(__name__)


def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not ready"; the reason goes to the log, not the public
        logger.exception("readiness: the database does not answer")
        return "unavailable"
    return None


def _broker_ok() -> str | None:
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2,
                        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        logger.exception("readiness: the broker does not answer")
        return "unavailable"
    return None


def readyz(request):
    failures = {name: reason for name, reason in (("database", _database_ok()), ("broker", _broker_ok())) if reason}
    if failures:
        return JsonResponse({"status": "unavailable", "failing": failures}, status=503)
    return JsonResponse({"status": "ok"})
