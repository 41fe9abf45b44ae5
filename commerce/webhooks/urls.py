from django.urls import path

from .shopify import shopify_webhook
from .stripe import stripe_webhook

app_name = "webhooks"

urlpatterns = [
    path("stripe/", stripe_webhook, name="stripe"),
    path("shopify/", shopify_webhook, name="shopify"),
]
