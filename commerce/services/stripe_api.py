"""The one place that builds the Stripe client (base URL configurable so tests talk to a local server)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.conf import settings

from autonomax.errors import AppError

if TYPE_CHECKING:
    import stripe  # the library loads when Stripe is first called, not at start-up


def stripe_secret_key(*, company=None) -> str:
    """The company's own key (/settings/connections/), else STRIPE_SECRET_KEY; '' when neither is set."""
    from autonomax.connections import connection_value  # noqa: PLC0415

    return connection_value(company=company, kind="stripe", name="secret_key")


def stripe_client_for_key(key: str, *, max_network_retries: int = 2) -> stripe.StripeClient:
    import stripe  # noqa: PLC0415

    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(key, base_addresses={"api": base} if base else None,
                               max_network_retries=max_network_retries)


def stripe_client(*, company=None) -> stripe.StripeClient:
    key = stripe_secret_key(company=company)
    if not key:
        raise AppError("Stripe is not configured: connect it at /settings/connections/ or set STRIPE_SECRET_KEY.",
                       code="stripe_not_configured", status=503)
    return stripe_client_for_key(key)


def stripe_error(exc: stripe.StripeError, *, doing: str) -> AppError:
    message = getattr(exc, "user_message", None) or str(exc) or exc.__class__.__name__
    return AppError(f"Stripe error while {doing}: {message}", code="stripe_error", status=502,
                    details={"stripe_code": getattr(exc, "code", None)})


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def from_cents(cents) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(Decimal("0.01"))
