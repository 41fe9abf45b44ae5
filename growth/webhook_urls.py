from django.urls import path

from . import webhooks

app_name = "growth_webhooks"

urlpatterns = [
    path("email/postmark/tracking/", webhooks.postmark_tracking, name="email-postmark-tracking"),
]
