"""POST /webhooks/shopify/ (see webhooks.views and services.webhooks)."""

from .views import shopify_webhook

__all__ = ["shopify_webhook"]
