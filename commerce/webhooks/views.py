"""Webhook receivers: verify, store, answer 2xx at once; the `webhooks` queue does the work."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.http.request import RawPostDataException
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from autonomax.errors import AppError

from ..services.webhooks import shopify_webhook_receive, stripe_webhook_receive


def _raw_body(request: HttpRequest) -> bytes:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise AppError("Body too large.", code="body_too_large")
    try:
        return request.body
    except RequestDataTooBig:
        raise AppError("Body too large.", code="body_too_large") from None
    except RawPostDataException:
        raise AppError("Body could not be read.", code="bad_body") from None


def _receive(request: HttpRequest, receive) -> JsonResponse:
    try:
        event_id, created = receive(raw_body=_raw_body(request), headers=request.headers)
    except AppError as exc:
        return JsonResponse(exc.as_body(), status=exc.status)
    return JsonResponse({"received": True, "duplicate": not created, "id": event_id})


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    return _receive(request, stripe_webhook_receive)


@csrf_exempt
@require_POST
def shopify_webhook(request: HttpRequest) -> JsonResponse:
    return _receive(request, shopify_webhook_receive)
