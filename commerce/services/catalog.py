"""Catalog writes the commander's bots use: price changes, bundles, AI copy stored as a draft.

Each write takes an idempotency key: calling it again with the same key
returns the first result and changes nothing.
"""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from autonomax.errors import AppError
from autonomax.models import Company, ConfigChange
from autonomax.services import config_change_record

from ..models import OrderItem, Product, ProductDraft

CENT = Decimal("0.01")


def catalog_products_pick(*, company: Company, pick: str, limit: int, days: int = 30) -> list[Product]:
    """Active products chosen for a bot: best_seller / weakest (fewest sales) / most_refunded, over `days`."""
    if pick not in ("best_seller", "weakest", "most_refunded"):
        raise AppError(f"unknown product pick '{pick}' (best_seller, weakest, most_refunded)", code="invalid")
    since = timezone.now() - timedelta(days=days)
    sales = {
        row["product_id"]: row
        for row in OrderItem.objects.filter(order__company=company, order__paid_at__gte=since,
                                            product__isnull=False)
        .values("product_id")
        .annotate(units=Sum("quantity"), refunded=Count("order", filter=Q(order__amount_refunded__gt=0)))
    }
    products = list(Product.objects.filter(company=company, status=Product.Status.ACTIVE)
                    .exclude(sku__startswith="BUNDLE-").order_by("pk"))

    def units(p):
        return (sales.get(p.pk) or {}).get("units") or 0

    def refunded(p):
        return (sales.get(p.pk) or {}).get("refunded") or 0

    key = {"best_seller": lambda p: -units(p), "weakest": units, "most_refunded": lambda p: -refunded(p)}[pick]
    return sorted(products, key=key)[:limit]


@transaction.atomic
def product_price_change(*, product: Product, price: Decimal, idempotency_key: str, actor=None,
                         actor_label: str = "", reason: str = "") -> tuple[Product, bool]:
    """Set a product's price once per key. Returns (product, changed). Recorded in the change log."""
    price = Decimal(price).quantize(CENT, rounding=ROUND_HALF_UP)
    if price <= 0:
        raise AppError("A price must be above zero.", code="invalid_price")
    product = Product.objects.select_for_update().get(pk=product.pk)
    if ConfigChange.objects.filter(company=product.company, object_type="product.price", object_id=str(product.pk),
                                   changes__idempotency_key=idempotency_key).exists():
        return product, False
    config_change_record(company=product.company, actor=actor, actor_label=actor_label,
                         object_type="product.price", object_id=str(product.pk),
                         changes={"price": [str(product.price), str(price)], "idempotency_key": idempotency_key},
                         reason=reason, expected_effect="")
    product.price = price
    product.save(update_fields=["price", "updated_at"])
    return product, True


@transaction.atomic
def product_archive(*, product: Product, idempotency_key: str, actor=None, actor_label: str = "",
                    reason: str = "") -> tuple[Product, bool]:
    """Take a product off sale (archived: its orders and downloads stay); once per key. Returns (product, changed).
    Recorded in the change log."""
    product = Product.objects.select_for_update().get(pk=product.pk)
    if product.status == Product.Status.ARCHIVED or ConfigChange.objects.filter(
            company=product.company, object_type="product.status", object_id=str(product.pk),
            changes__idempotency_key=idempotency_key).exists():
        return product, False
    config_change_record(company=product.company, actor=actor, actor_label=actor_label,
                         object_type="product.status", object_id=str(product.pk),
                         changes={"status": [product.status, Product.Status.ARCHIVED],
                                  "idempotency_key": idempotency_key},
                         reason=reason, expected_effect="")
    product.status = Product.Status.ARCHIVED
    product.save(update_fields=["status", "updated_at"])
    return product, True


@transaction.atomic
def bundle_create(*, company: Company, products: list[Product], discount_pct: Decimal, idempotency_key: str,
                  name: str = "") -> tuple[Product, bool]:
    """A bundle product of `products` at a discount; one bundle per key. Returns (bundle, created)."""
    if len(products) < 2:
        raise AppError("A bundle needs at least two products.", code="invalid_bundle")
    discount = Decimal(discount_pct)
    if not 0 <= discount < 100:
        raise AppError("discount_pct must be between 0 and 100.", code="invalid_bundle")
    sku = f"BUNDLE-{str(idempotency_key).replace('-', '')[:12].upper()}"
    existing = Product.objects.filter(company=company, sku=sku).first()
    if existing:
        return existing, False
    full = sum((p.price for p in products), Decimal(0))
    price = (full * (100 - discount) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    names = ", ".join(p.name for p in products)
    try:
        with transaction.atomic():
            bundle = Product.objects.create(
                company=company, sku=sku, slug=f"{company.slug}-{sku.lower()}", name=name or f"Bundle: {names}"[:200],
                kind=Product.Kind.DIGITAL, price=price, currency=products[0].currency, status=Product.Status.ACTIVE,
                description=f"Includes {names}. {discount}% off buying them one by one "
                            f"({full} {products[0].currency}).",
            )
    except IntegrityError:  # a duplicate task created it a moment ago
        return Product.objects.get(company=company, sku=sku), False
    return bundle, True


@transaction.atomic
def product_copy_draft_store(*, product: Product, title: str, description: str, tags: list[str],
                             correlation_id: str, ai_provider: str = "", rubric: dict | None = None
                             ) -> tuple[ProductDraft, bool]:
    """Store AI-written copy for an existing product as a draft for review; one draft per correlation id."""
    existing = ProductDraft.objects.filter(company=product.company, correlation_id=correlation_id).first()
    if existing:
        return existing, False
    draft = ProductDraft.objects.create(
        company=product.company, product=product, title=(title or product.name)[:70], description=description,
        tags=[str(t)[:50] for t in tags][:13], price=product.price, rubric=rubric or {},
        brief={"source": "copy_bot", "product_id": product.pk}, ai_provider=ai_provider,
        correlation_id=correlation_id,
    )
    return draft, True


def product_draft_exists(*, company: Company, correlation_id: str) -> bool:
    return ProductDraft.objects.filter(company=company, correlation_id=correlation_id).exists()


def products_by_ids(*, company: Company, ids: list[int]) -> list[Product]:
    return list(Product.objects.filter(company=company, pk__in=ids).order_by("pk"))

