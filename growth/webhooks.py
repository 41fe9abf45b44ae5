"""The email provider's tracking webhook (bounces, complaints, unsubscribes) through django-anymail.

anymail's own view verifies the request (basic auth, ANYMAIL_WEBHOOK_SECRET) and parses the provider's
payload into tracking events; it sends them on anymail's `tracking` signal, which growth's receiver
applies (growth.deliverability). The view is closed (503) until the secret is set, so nobody can
suppress addresses by posting unauthenticated events; bad requests answer with the JSON error shape.
"""

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from autonomax.errors import error_body


class PostmarkTracking(PostmarkTrackingWebhookView):
    warn_if_no_basic_auth = False

    def post(self, request, *args, **kwargs):
        if not self.basic_auth:
            return JsonResponse(error_body(code="not_configured",
                                           message="Email tracking is not configured: set ANYMAIL_WEBHOOK_SECRET."),
                                status=503)
        try:
            self.run_validators(request)
            events = self.parse_events(request)
        except RequestDataTooBig:
            return JsonResponse(error_body(code="body_too_large", message="Body too large."), status=413)
        except AnymailWebhookValidationFailure as exc:
            return JsonResponse(error_body(code="bad_signature", message=str(exc)), status=400)
        except (AnymailConfigurationError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return JsonResponse(error_body(code="invalid", message=f"Not a Postmark tracking event: {exc}"),
                                status=400)
        for event in events:
            self.signal.send(sender=self.__class__, event=event, esp_name=self.esp_name)
        return JsonResponse({"received": len(events)})


postmark_tracking = csrf_exempt(PostmarkTracking.as_view())
