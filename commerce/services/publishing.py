"""Publishing products to sales channels: create or update, then read back to verify."""

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from autonomax.errors import AppError
from autonomax.services import event_record

from ..channels.base import Channel, ChannelError, ChannelNotConnected, ChannelNotSupported
from ..models import ChannelConnection, Listing, Product, ProductDraft
from .deliverables import product_deliverable_require

CHANNELS = ("shopify", "etsy")


def channel_for(*, company, channel: str) -> Channel:
    """The adapter for `channel` with the company's connection; a clear 4xx when there is none."""
    if channel == "etsy":
        from ..channels.etsy import EtsyChannel

        return EtsyChannel()
    if channel != "shopify":
        raise ChannelNotSupported(f"Unknown channel {channel!r}; supported: shopify.")
    from ..channels.shopify import ShopifyChannel

    connection = ChannelConnection.objects.filter(company=company, channel=channel, is_active=True).first()
    if connection is None:
        raise ChannelNotConnected(f"{company.name} is not connected to Shopify: connect it at "
                                  "/settings/connections/ (shop domain and access token).")
    return ShopifyChannel(connection=connection)


def shopify_connected(*, company) -> bool:
    return ChannelConnection.objects.filter(company=company, channel="shopify", is_active=True).exists()


@transaction.atomic
def shopify_connection_set(*, company, shop_domain: str) -> ChannelConnection | None:
    """Keep the company's Shopify channel row in step with its connection (/settings/connections/);
    an empty domain deactivates it."""
    row = ChannelConnection.objects.select_for_update().filter(company=company, channel="shopify").first()
    if not shop_domain:
        if row is not None and row.is_active:
            row.is_active = False
            row.save(update_fields=["is_active"])
        return row
    row = row or ChannelConnection(company=company, channel="shopify")
    row.shop_domain, row.is_active = shop_domain, True
    row.save()
    return row


def _price_from(pricing: dict | None, default: Decimal) -> Decimal:
    if not pricing or pricing.get("price") in (None, ""):
        return default
    try:
        price = Decimal(str(pricing["price"])).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError):
        raise AppError("pricing.price must be a decimal amount.", code="invalid_price") from None
    if price <= 0:
        raise AppError("pricing.price must be positive.", code="invalid_price")
    return price


def product_sync_to_channel(*, product: Product, channel: str = "shopify") -> Listing:
    """Create or update `product` on `channel` and verify it by reading it back. Publishing twice updates.

    The listing row is written only after the channel confirmed, so a failure leaves no half state; a retry
    finds the product on the channel by its handle instead of creating a second one.
    """
    adapter = channel_for(company=product.company, channel=channel)
    listing = Listing.objects.filter(product=product, channel=channel).first()
    external_id = listing.external_id if listing else ""
    if not external_id:
        found = adapter.product_find(handle=product.slug)
        external_id = found.external_id if found else ""
    tags = []
    draft = product.drafts.order_by("-created_at").first()
    if draft is not None:
        tags = [str(t) for t in draft.tags][:50]
    remote = adapter.product_upsert(external_id=external_id, handle=product.slug, title=product.name,
                                    description=product.description, tags=tags, price=product.price,
                                    active=product.status == Product.Status.ACTIVE)
    check = adapter.product_fetch(external_id=remote.external_id)
    if check is None or check.title != product.name or check.price != product.price:
        seen = f"{check.title!r} at {check.price}" if check else "nothing"
        raise ChannelError(f"{channel} did not confirm the product after publishing (read back: {seen}).")
    with transaction.atomic():
        listing, created = Listing.objects.select_for_update().get_or_create(
            product=product, channel=channel, defaults={"company": product.company})
        listing.external_id = check.external_id
        listing.url = check.url
        listing.status = check.status or "active"
        listing.published_at = timezone.now()
        listing.save(update_fields=["external_id", "url", "status", "published_at"])
        event_record(company=product.company, name="listing.published",
                     payload={"listing_id": listing.pk, "product_id": product.pk, "channel": channel,
                              "external_id": listing.external_id, "url": listing.url, "created": created})
    return listing


def listing_publish(*, company, draft_or_product, channel: str, pricing: dict | None = None, actor=None) -> Listing:
    """Publish a draft (promoted to a product first; it must pass the quality gate) or a product."""
    from .drafts import draft_promote

    if channel not in CHANNELS:
        raise ChannelNotSupported(f"Unknown channel {channel!r}; supported: shopify.")
    channel_for(company=company, channel=channel)  # fail before any write when not connected
    if draft_or_product.company_id != company.pk:
        raise AppError("Not found.", code="not_found", status=404)
    if isinstance(draft_or_product, ProductDraft):
        product = draft_promote(draft=draft_or_product, actor=actor)
    else:
        product = draft_or_product
    product_deliverable_require(product=product)
    price = _price_from(pricing, product.price)
    old_price, product.price = product.price, price
    # The new price is saved only once the channel confirmed it, so a failed publish changes nothing here.
    listing = product_sync_to_channel(product=product, channel=channel)
    if price != old_price:
        Product.objects.filter(pk=product.pk).update(price=price, updated_at=timezone.now())
    return listing
