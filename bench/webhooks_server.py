"""WSGI entry for bench/webhooks.py only: the production URLconf plus the two baselines.

- `/bench/json/`: read the body, answer JSON. What any Django view costs on this server.
- `/bench/insert/`: read the body, parse it and run the same single `INSERT ... ON CONFLICT DO NOTHING
  RETURNING id` as the Stripe receiver's store, with the same columns and values, into a copy of the webhook
  table (`bench_webhookevent`, made by the bench with `LIKE ... INCLUDING ALL`: same indexes and unique key),
  so its rows are never processed by the worker. No signature check and no hand-off to the worker.

The baselines never reach production URLs: gunicorn loads this module only in the benchmark. They are
resolved through the same URL patterns as `/webhooks/stripe/` (placed right before it).
"""

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")

from django.conf import settings  # noqa: E402

settings.ROOT_URLCONF = __name__

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()  # sets Django up before the URL modules import models

from django.db import connection  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from autonomax.urls import urlpatterns as production_urlpatterns  # noqa: E402
from commerce.models import WebhookEvent  # noqa: E402

BASELINE_TABLE = "bench_webhookevent"
_FIELDS = ["provider", "event_id", "event_type", "payload", "raw_body", "headers", "webhook_id", "match_ref",
           "status", "attempts", "last_error", "received_at"]
_COLUMNS = [WebhookEvent._meta.get_field(name) for name in _FIELDS]
_SQL = (f"INSERT INTO {BASELINE_TABLE} ({', '.join(f.column for f in _COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}) ON CONFLICT (provider, event_id) DO NOTHING RETURNING id")


@csrf_exempt
def bare_json(request):
    """Baseline 1: read the body, answer JSON."""
    return JsonResponse({"received": True, "bytes": len(request.body)})


@csrf_exempt
def bare_insert(request):
    """Baseline 2: read the body, parse it, store it with one INSERT (the receiver's statement), answer JSON."""
    raw_body = request.body
    payload = json.loads(raw_body)
    values = {
        "provider": "stripe", "event_id": payload["id"], "event_type": payload["type"], "payload": payload,
        "raw_body": raw_body.decode("utf-8"), "headers": {"Stripe-Signature": request.headers["Stripe-Signature"]},
        "webhook_id": "", "match_ref": "", "status": "received", "attempts": 0, "last_error": "",
        "received_at": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_SQL, [f.get_db_prep_save(values[f.name], connection) for f in _COLUMNS])
        row = cursor.fetchone()
    return JsonResponse({"received": True, "duplicate": row is None, "id": payload["id"]})


# Routed like the receiver: right before the production `webhooks/` include, so Django's resolver tries the
# same patterns before it reaches either (a baseline at the top of the list would skip that part of the work).
_at = next(i for i, pattern in enumerate(production_urlpatterns) if str(pattern.pattern) == "webhooks/")
urlpatterns = [*production_urlpatterns[:_at], path("bench/json/", bare_json), path("bench/insert/", bare_insert),
               *production_urlpatterns[_at:]]
