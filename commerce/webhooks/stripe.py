"""POST /webhooks/stripe/ (see webhooks.views and services.webhooks)."""

from .views import stripe_webhook

__all__ = ["stripe_webhook"]
