"""Inbound-email receivers: thin views over support.inbound. Errors answer with the JSON error shape."""

import logging

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.signals import inbound
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from autonomax.errors import AppError, error_body

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


class PostmarkInbound(PostmarkInboundWebhookView):
    """Postmark's inbound webhook through django-anymail, closed unless ANYMAIL_WEBHOOK_SECRET is set."""

    warn_if_no_basic_auth = False

    def post(self, request, *args, **kwargs):
        if not self.basic_auth:
            return JsonResponse(error_body(code="not_configured",
                                           message="Inbound email is not configured: set ANYMAIL_WEBHOOK_SECRET."),
                                status=503)
        try:
            self.run_validators(request)
            events = self.parse_events(request)
        except RequestDataTooBig:
            return JsonResponse(error_body(code="body_too_large", message="Body too large."), status=413)
        except AnymailWebhookValidationFailure as exc:
            return JsonResponse(error_body(code="bad_signature", message=str(exc)), status=400)
        except (ValueError, KeyError, TypeError) as exc:
            return JsonResponse(error_body(code="invalid", message=f"Not a Postmark inbound message: {exc}"),
                                status=400)
        received = None
        for event in events:
            try:
                received = anymail_inbound_receive(message=event.message, esp_event=event.esp_event)
            except AppError as exc:
                return JsonResponse(exc.as_body(), status=exc.status)
            inbound.send(sender=self.__class__, event=event, esp_name=self.esp_name)
        return _answer(received) if received else JsonResponse({"received": True})


postmark_inbound = csrf_exempt(PostmarkInbound.as_view())
