"""The one place that builds the Stripe client (base URL configurable so tests talk to a local server)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.conf import settings

from autonomax.errors import AppError

if TYPE_CHECKING:
    import stripe  # the library loads when Stripe is first called, not at start-up


def stripe_client() -> stripe.StripeClient:
    import stripe  # noqa: PLC0415

    if not settings.STRIPE_SECRET_KEY:
        raise AppError("Stripe is not configured: set STRIPE_SECRET_KEY.", code="stripe_not_configured",
                       status=503)
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY, base_addresses={"api": base} if base else None, max_network_retries=2,
    )


def stripe_error(exc: stripe.StripeError, *, doing: str) -> AppError:
    message = getattr(exc, "user_message", None) or str(exc) or exc.__class__.__name__
    return AppError(f"Stripe error while {doing}: {message}", code="stripe_error", status=502,
                    details={"stripe_code": getattr(exc, "code", None)})


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def from_cents(cents) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(Decimal("0.01"))
