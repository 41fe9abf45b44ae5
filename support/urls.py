from django.urls import path

from . import webhooks

app_name = "support_webhooks"

urlpatterns = [
    path("email/", webhooks.email_webhook, name="email"),
    path("email/postmark/inbound/", webhooks.postmark_inbound, name="email-postmark"),
]
