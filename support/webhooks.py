"""Inbound-email receivers: thin views over support.inbound. Errors answer with the JSON error shape."""

import logging

from anymail.signals import inbound
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from autonomax.anymail_views import ClosedAnymailWebhook
from autonomax.errors import AppError

from .inbound import InboundRejected, anymail_inbound_receive, email_webhook_receive

logger = logging.getLogger(__name__)


def _read(request: HttpRequest, limit: int) -> bytes:
    """The raw body, up to `limit` bytes (mail with attachments is larger than Django's form limit)."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limit:
        raise InboundRejected("Body too large.", code="body_too_large", status=413)
    data = request.read(limit + 1)
    if len(data) > limit:
        raise InboundRejected("Body too large.", code="body_too_large", status=413)
    return data


def _answer(received) -> JsonResponse:
    return JsonResponse({"received": True, "duplicate": received.duplicate, "ticket": received.ticket.pk,
                         "created": received.created}, status=200 if received.duplicate else 201)


@csrf_exempt
@require_POST
def email_webhook(request: HttpRequest) -> JsonResponse:
    """POST /webhooks/email/: the documented JSON shape, signed with X-AutonomaX-Signature."""
    try:
        received = email_webhook_receive(raw_body=_read(request, settings.SUPPORT_EMAIL_MAX_BYTES),
                                         headers=request.headers)
    except AppError as exc:
        return JsonResponse(exc.as_body(), status=exc.status)
    return _answer(received)


class PostmarkInbound(ClosedAnymailWebhook, PostmarkInboundWebhookView):
    """Postmark's inbound webhook through django-anymail, closed unless ANYMAIL_WEBHOOK_SECRET is set."""

    purpose = "Inbound email"
    payload = "a Postmark inbound message"

    def post(self, request, *args, **kwargs):
        events = self.verified_events(request)
        if isinstance(events, JsonResponse):
            return events
        received = None
        for event in events:
            try:
                received = anymail_inbound_receive(message=event.message, esp_event=event.esp_event)
            except AppError as exc:
                return JsonResponse(exc.as_body(), status=exc.status)
            inbound.send(sender=self.__class__, event=event, esp_name=self.esp_name)
        return _answer(received) if received else JsonResponse({"received": True})


postmark_inbound = csrf_exempt(PostmarkInbound.as_view())
