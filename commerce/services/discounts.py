"""Discount codes that checkout honours: created here, pushed to Stripe (coupon + promotion code) and to
Shopify (a basic code discount) when the shop is connected, checked for each buyer, and redeemed only when a
channel's webhook reports the paid order."""

import hashlib
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.db.models.functions import Lower
from django.utils import timezone

from autonomax.errors import AppError, ConflictError

from ..models import ChannelConnection, Discount, DiscountRedemption, Order, Product
from .stripe_api import stripe_client, stripe_error, stripe_secret_key, to_cents

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,39}$")
# "code WELCOMEBACK-1A2B3C" / "code: X" in an email: every such code must exist and be valid for the reader.
MENTION_RE = re.compile(r"\b[Cc]ode\b[:\s]+([A-Z0-9][A-Z0-9-]{2,39})\b")
CENT = Decimal("0.01")


def discount_code_normalise(code) -> str:
    return str(code or "").strip().upper()


def _decimal(value, *, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(CENT)
    except (InvalidOperation, TypeError, ValueError):
        raise AppError(f"{field} must be a decimal number.", code="invalid_discount", status=422,
                       details={"field": field}) from None


def _invalid(message: str, field: str) -> AppError:
    return AppError(message, code="invalid_discount", status=422, details={"field": field})


def discount_validate(*, company, code: str, kind: str = Discount.Kind.PERCENT, percent_off=None,
                      amount_off=None, currency: str = "", valid_from=None, valid_until=None,
                      max_redemptions: int | None = None, per_customer_limit: int = 1, products=()) -> dict:
    """The discount's fields, normalised, or a 422 naming the field that is wrong (409 for a taken code)."""
    code = discount_code_normalise(code)
    if not CODE_RE.match(code):
        raise _invalid("code must be 3-40 upper-case letters, digits or dashes.", "code")
    if kind not in Discount.Kind.values:
        raise _invalid(f"kind must be one of {', '.join(Discount.Kind.values)}.", "kind")
    percent = _decimal(percent_off, field="percent_off")
    amount = _decimal(amount_off, field="amount_off")
    currency = str(currency or "").strip().upper()
    if kind == Discount.Kind.PERCENT:
        if percent is None or not (0 < percent <= 100) or amount is not None:
            raise _invalid("A percent discount needs percent_off between 0 and 100 (and no amount_off).",
                           "percent_off")
        currency = ""
    else:
        if amount is None or amount <= 0 or percent is not None:
            raise _invalid("An amount discount needs a positive amount_off (and no percent_off).", "amount_off")
        currency = currency or company.currency
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise _invalid("currency must be a 3-letter code.", "currency")
    valid_from = valid_from or timezone.now()
    if valid_until is not None and valid_until <= valid_from:
        raise _invalid("valid_until must be after valid_from.", "valid_until")
    if max_redemptions is not None and int(max_redemptions) < 1:
        raise _invalid("max_redemptions must be at least 1 (or empty for no limit).", "max_redemptions")
    if int(per_customer_limit) < 1:
        raise _invalid("per_customer_limit must be at least 1.", "per_customer_limit")
    products = list(products or [])
    if any(p.company_id != company.pk for p in products):
        raise _invalid("Every product must belong to the company.", "products")
    if Discount.objects.filter(company=company, code=code).exists():
        raise ConflictError(f"The code {code} is already in use.", code="discount_code_taken",
                            details={"field": "code"})
    return {"code": code, "kind": kind, "percent_off": percent, "amount_off": amount, "currency": currency,
            "valid_from": valid_from, "valid_until": valid_until, "max_redemptions": max_redemptions,
            "per_customer_limit": int(per_customer_limit), "products": products}


def discount_create(*, company, source: str = "", correlation_id: str = "", idempotency_key: str = "",
                    actor=None, **fields) -> tuple[Discount, bool]:
    """Create a discount and publish it to Stripe (when configured) and Shopify (when connected).

    `fields` are those of `discount_validate`. Returns (discount, created). With an `idempotency_key` a
    repeat returns the first discount unchanged. Everything happens in one transaction: if Stripe or
    Shopify refuses, nothing is kept here (and the remote calls carry idempotency keys / are looked up by
    code, so a retry does not duplicate them).
    """
    if idempotency_key:
        existing = Discount.objects.filter(company=company, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    values = discount_validate(company=company, **fields)
    products = values.pop("products")
    try:
        with transaction.atomic():
            discount = Discount.objects.create(
                company=company, **values, source=source[:120], correlation_id=str(correlation_id or "")[:64],
                idempotency_key=idempotency_key[:100],
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            if products:
                discount.products.set(products)
            discount_publish(discount=discount)
    except IntegrityError:
        # A concurrent create with the same key or code won the race.
        if idempotency_key:
            existing = Discount.objects.filter(company=company, idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing, False
        raise ConflictError(f"The code {values['code']} is already in use.", code="discount_code_taken") from None
    return discount, True


def discount_for_job(*, company, spec: dict, idempotency_key: str, correlation_id: str = "",
                     source: str = "") -> tuple[Discount, bool]:
    """The discount a play's job promises, created once per job: `spec` is the play's `discount` params
    (prefix, percent_off or amount_off, valid_days, per_customer_limit, max_redemptions)."""
    if not isinstance(spec, dict):
        raise _invalid("The job's discount params must be a mapping.", "discount")
    prefix = discount_code_normalise(spec.get("prefix") or "OFFER")
    suffix = hashlib.sha256(str(idempotency_key).encode()).hexdigest()[:6].upper()
    now = timezone.now()
    days = int(spec.get("valid_days") or 14)
    kind = Discount.Kind.AMOUNT if spec.get("amount_off") not in (None, "") else Discount.Kind.PERCENT
    return discount_create(
        company=company, code=f"{prefix}-{suffix}", kind=kind, percent_off=spec.get("percent_off"),
        amount_off=spec.get("amount_off"), currency=spec.get("currency") or "", valid_from=now,
        valid_until=now + timedelta(days=days), max_redemptions=spec.get("max_redemptions"),
        per_customer_limit=int(spec.get("per_customer_limit") or 1), source=source,
        correlation_id=correlation_id, idempotency_key=f"job:{idempotency_key}",
    )


# --- publishing to the channels ------------------------------------------------------------------------------

def discount_publish(*, discount: Discount) -> Discount:
    """Make the code exist where buyers pay: Stripe when it is configured, Shopify when the shop is connected."""
    if stripe_secret_key(company=discount.company):
        discount_stripe_ensure(discount=discount)
    connection = ChannelConnection.objects.filter(company_id=discount.company_id, is_active=True,
                                                  channel=ChannelConnection.Channel.SHOPIFY).first()
    if connection is not None:
        _shopify_ensure(discount=discount, connection=connection)
    return discount


def discount_stripe_ensure(*, discount: Discount) -> Discount:
    """A Stripe coupon and its promotion code, our code in their metadata (idempotent by the discount's uid)."""
    import stripe  # noqa: PLC0415

    if discount.stripe_coupon_id and discount.stripe_promotion_code_id:
        return discount
    client = stripe_client(company=discount.company)
    metadata = {"discount_id": str(discount.pk), "company": discount.company.slug, "code": discount.code}
    redeem_by = int(discount.valid_until.timestamp()) if discount.valid_until else None
    try:
        if not discount.stripe_coupon_id:
            params = {"name": discount.code[:40], "duration": "once", "metadata": metadata}
            if discount.kind == Discount.Kind.PERCENT:
                params["percent_off"] = str(discount.percent_off)
            else:
                params["amount_off"] = to_cents(discount.amount_off)
                params["currency"] = discount.currency.lower()
            if discount.max_redemptions:
                params["max_redemptions"] = discount.max_redemptions
            if redeem_by and redeem_by > timezone.now().timestamp():
                params["redeem_by"] = redeem_by
            coupon = client.v1.coupons.create(params=params,
                                              options={"idempotency_key": f"discount-{discount.uid}-coupon"})
            discount.stripe_coupon_id = coupon.id
        # Buyers type the code on our page and checkout applies this promotion code by id; the code itself is
        # left to Stripe, because promotion codes are unique across the whole Stripe account, which several
        # companies may share.
        params = {"promotion": {"type": "coupon", "coupon": discount.stripe_coupon_id}, "metadata": metadata}
        if discount.max_redemptions:
            params["max_redemptions"] = discount.max_redemptions
        if redeem_by and redeem_by > timezone.now().timestamp():
            params["expires_at"] = redeem_by
        promo = client.v1.promotion_codes.create(params=params,
                                                 options={"idempotency_key": f"discount-{discount.uid}-promo"})
    except stripe.StripeError as exc:
        raise stripe_error(exc, doing="creating the discount code") from exc
    discount.stripe_promotion_code_id = promo.id
    Discount.objects.filter(pk=discount.pk).update(stripe_coupon_id=discount.stripe_coupon_id,
                                                   stripe_promotion_code_id=promo.id)
    return discount


def _shopify_ensure(*, discount: Discount, connection: ChannelConnection) -> None:
    from ..channels.shopify import ShopifyChannel

    if discount.shopify_discount_id:
        return
    gids = [gid for gid in discount.products.filter(listings__channel="shopify")
            .values_list("listings__external_id", flat=True) if gid]
    remote_id = ShopifyChannel(connection=connection).discount_code_upsert(
        code=discount.code, title=f"{discount.code} ({discount.label})",
        percent_off=discount.percent_off, amount_off=discount.amount_off, starts_at=discount.valid_from,
        ends_at=discount.valid_until, usage_limit=discount.max_redemptions,
        once_per_customer=discount.per_customer_limit == 1, product_ids=gids)
    discount.shopify_discount_id = remote_id
    Discount.objects.filter(pk=discount.pk).update(shopify_discount_id=remote_id)


# --- checking a code for a buyer -----------------------------------------------------------------------------

def discount_unusable_reason(*, discount: Discount, email: str = "", product: Product | None = None,
                             currency: str = "", now=None, used: int | None = None,
                             used_by_reader: int | None = None) -> tuple[str, str] | None:
    """(error code, message) saying why this buyer cannot use the discount now, or None when they can.

    `used` / `used_by_reader`: the code's redemptions in all and by this buyer, when the caller counted them
    already (for many readers at once); counted here otherwise."""
    now = now or timezone.now()
    if not discount.is_active:
        return "discount_inactive", f"The code {discount.code} is no longer active."
    if discount.valid_from > now:
        return "discount_not_started", f"The code {discount.code} is not valid yet."
    if discount.valid_until is not None and discount.valid_until <= now:
        return "discount_expired", f"The code {discount.code} has expired."
    redemptions = DiscountRedemption.objects.filter(discount=discount)
    if discount.max_redemptions is not None:
        used = redemptions.count() if used is None else used
        if used >= discount.max_redemptions:
            return "discount_used_up", f"The code {discount.code} has been used up."
    email = (email or "").strip().lower()
    if email and (redemptions.filter(email__iexact=email).count() if used_by_reader is None
                  else used_by_reader) >= discount.per_customer_limit:
        return "discount_customer_limit", f"You have already used the code {discount.code}."
    if product is not None:
        if discount.products.exists() and not discount.products.filter(pk=product.pk).exists():
            return "discount_not_for_product", f"The code {discount.code} does not apply to {product.name}."
        currency = currency or product.currency
    if discount.kind == Discount.Kind.AMOUNT and currency and currency.upper() != discount.currency:
        return "discount_currency_mismatch", f"The code {discount.code} is for prices in {discount.currency}."
    return None


def discount_check(*, company, code: str, email: str = "", product: Product | None = None) -> Discount:
    """The company's discount with this code if this buyer may use it on this product now; a 422 otherwise."""
    code = discount_code_normalise(code)
    discount = Discount.objects.filter(company=company, code=code).first()
    if discount is None:
        raise AppError(f"There is no discount code {code}.", code="discount_unknown", status=422)
    reason = discount_unusable_reason(discount=discount, email=email, product=product)
    if reason is not None:
        raise AppError(reason[1], code=reason[0], status=422, details={"code": code})
    return discount


def discount_price(*, discount: Discount, price: Decimal) -> Decimal:
    """What `price` costs with the discount (never below zero), rounded like Stripe rounds: to the cent."""
    if discount.kind == Discount.Kind.PERCENT:
        off = (price * discount.percent_off / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    else:
        off = discount.amount_off
    return max(Decimal("0.00"), price - off)


def discount_mention_problem(*, company, text: str, email: str) -> str | None:
    """Why `text` may not be sent to `email` because of the codes it mentions (unknown or not valid for
    them), or None. An email only ever promises a code the shop will honour for that reader."""
    return discount_mention_problems(company=company, texts={email: text}).get(email)


def discount_mention_problems(*, company, texts: dict[str, str]) -> dict[str, str]:
    """`discount_mention_problem` for many readers at once: {email: why their text may not be sent to them}
    (absent: it may be). The codes the texts mention, their redemptions in all and per reader are read in at
    most three queries, whatever the number of readers."""
    mentioned = {email: sorted({discount_code_normalise(c) for c in MENTION_RE.findall(text or "")})
                 for email, text in texts.items()}
    codes = {code for found in mentioned.values() for code in found}
    if not codes:
        return {}
    discounts = {d.code: d for d in Discount.objects.filter(company=company, code__in=codes)}
    ids = [d.pk for d in discounts.values()]
    used: dict[int, int] = {}
    if any(d.max_redemptions is not None for d in discounts.values()):
        used = dict(DiscountRedemption.objects.filter(discount_id__in=ids).values("discount_id")
                    .annotate(n=Count("id")).values_list("discount_id", "n"))
    readers = {(email or "").strip().lower() for email in texts} - {""}
    by_reader: dict[tuple[int, str], int] = {}
    if ids and readers:
        by_reader = {(pk, reader): n for pk, reader, n in (
            DiscountRedemption.objects.filter(discount_id__in=ids).annotate(reader=Lower("email"))
            .filter(reader__in=readers).values("discount_id", "reader").annotate(n=Count("id"))
            .values_list("discount_id", "reader", "n"))}
    now = timezone.now()
    problems = {}
    for email, found in mentioned.items():
        reader = (email or "").strip().lower()
        for code in found:
            discount = discounts.get(code)
            if discount is None:
                problems[email] = f"the email mentions the code {code}, which does not exist"
                break
            reason = discount_unusable_reason(discount=discount, email=email, now=now,
                                              used=used.get(discount.pk, 0),
                                              used_by_reader=by_reader.get((discount.pk, reader), 0))
            if reason is not None:
                problems[email] = f"{reason[1]} ({email})"
                break
    return problems


# --- redemptions (from the channels' webhooks) ---------------------------------------------------------------

def discount_redemption_record(*, order: Order, discount: Discount, amount: Decimal, channel: str,
                               redeemed_at=None) -> DiscountRedemption:
    """Record that `discount` was used on the paid `order` (a repeated webhook records nothing new)."""
    customer = order.customer if order.customer_id else None
    redemption, _ = DiscountRedemption.objects.get_or_create(
        discount=discount, order=order,
        defaults={"company_id": order.company_id, "customer": customer,
                  "email": customer.email if customer else "", "amount": amount, "channel": channel,
                  "redeemed_at": redeemed_at or timezone.now()},
    )
    return redemption


def discount_redeem_by_code(*, order: Order, code: str, amount: Decimal, channel: str,
                            redeemed_at=None) -> DiscountRedemption | None:
    discount = Discount.objects.filter(company_id=order.company_id, code=discount_code_normalise(code)).first()
    if discount is None:
        return None  # a code made on the channel itself, not one of ours
    return discount_redemption_record(order=order, discount=discount, amount=amount, channel=channel,
                                      redeemed_at=redeemed_at)

