"""django-anymail webhook views, closed until configured and answering with the JSON error shape."""

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from autonomax.errors import error_body


class ClosedAnymailWebhook:
    """Mixin for an anymail webhook view: 503 until ANYMAIL_WEBHOOK_SECRET is set (so nobody can post
    unauthenticated events), 400/413 with the error shape for a bad request instead of anymail's HTML."""

    warn_if_no_basic_auth = False
    purpose = "Email webhooks"  # names the view in the "not configured" message
    payload = "a provider event"  # names what a malformed body is not

    def verified_events(self, request):
        """The request's parsed events, or the JsonResponse to answer instead."""
        if not self.basic_auth:
            return JsonResponse(error_body(code="not_configured",
                                           message=f"{self.purpose} is not configured: set ANYMAIL_WEBHOOK_SECRET."),
                                status=503)
        try:
            self.run_validators(request)
            return self.parse_events(request)
        except RequestDataTooBig:
            return JsonResponse(error_body(code="body_too_large", message="Body too large."), status=413)
        except AnymailWebhookValidationFailure as exc:
            return JsonResponse(error_body(code="bad_signature", message=str(exc)), status=400)
        except (AnymailConfigurationError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return JsonResponse(error_body(code="invalid", message=f"Not {self.payload}: {exc}"), status=400)
