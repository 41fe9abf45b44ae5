from django.urls import path

from .views import shopify_webhook, stripe_webhook

app_name = "webhooks"

urlpatterns = [
    path("stripe/", stripe_webhook, name="stripe"),
    path("shopify/", shopify_webhook, name="shopify"),
]
