"""Customers' marketing consent: every decision recorded (source, time, the words shown); the latest counts.

Marketing email goes only to customers whose latest record is `granted`; transactional email (receipts,
downloads) does not look at consent at all.
"""

from django.utils import timezone

from autonomax.errors import AppError

from ..models import Customer, CustomerConsent

CHECKOUT_WORDING = ("Email me about new products and offers. I can unsubscribe at any time with the link in "
                    "every email.")
STRIPE_WORDING = "Stripe Checkout: \"Keep me updated with news and personalized offers\" (promotions opt-in)"
SHOPIFY_WORDING = "Shopify: the customer's email marketing consent (state subscribed)"
UNSUBSCRIBE_WORDING = "Unsubscribed with the link in a marketing email"


def customer_consent_record(*, customer: Customer, granted: bool, source: str, wording: str = "",
                            recorded_at=None) -> CustomerConsent | None:
    """Record a decision. A repeat of the current state records nothing (returns None)."""
    if not source:
        raise AppError("A consent record needs its source.", code="invalid_consent")
    status = CustomerConsent.Status.GRANTED if granted else CustomerConsent.Status.WITHDRAWN
    if granted and not wording.strip():
        raise AppError("Consent is recorded with the wording the person was shown.", code="invalid_consent")
    latest = customer.consents.order_by("-recorded_at", "-pk").first()
    if latest is not None and latest.status == status:
        return None
    return CustomerConsent.objects.create(company_id=customer.company_id, customer=customer, status=status,
                                          source=source[:64], wording=wording,
                                          recorded_at=recorded_at or timezone.now())


def customer_consent_withdraw_email(*, company, email: str, source: str, wording: str = UNSUBSCRIBE_WORDING) -> bool:
    """The address asked for no more marketing (unsubscribe link): withdrawn if it is one of our customers."""
    customer = Customer.objects.filter(company=company, email__iexact=(email or "").strip()).first()
    if customer is None:
        return False
    customer_consent_record(customer=customer, granted=False, source=source, wording=wording)
    return True


def customer_has_marketing_consent(*, customer: Customer) -> bool:
    latest = customer.consents.order_by("-recorded_at", "-pk").first()
    return latest is not None and latest.status == CustomerConsent.Status.GRANTED
