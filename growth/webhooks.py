"""The email provider's tracking webhook (bounces, complaints, unsubscribes) through django-anymail.

anymail's own view verifies the request (basic auth, ANYMAIL_WEBHOOK_SECRET) and parses the provider's
payload into tracking events; it sends them on anymail's `tracking` signal, which growth's receiver
applies (growth.deliverability). The view is closed (503) until the secret is set, so nobody can
suppress addresses by posting unauthenticated events; bad requests answer with the JSON error shape.
"""

from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from autonomax.anymail_views import ClosedAnymailWebhook


class PostmarkTracking(ClosedAnymailWebhook, PostmarkTrackingWebhookView):
    purpose = "Email tracking"
    payload = "a Postmark tracking event"

    def post(self, request, *args, **kwargs):
        events = self.verified_events(request)
        if isinstance(events, JsonResponse):
            return events
        for event in events:
            self.signal.send(sender=self.__class__, event=event, esp_name=self.esp_name)
        return JsonResponse({"received": len(events)})


postmark_tracking = csrf_exempt(PostmarkTracking.as_view())
