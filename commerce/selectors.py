"""Reads for the public funnel and the API."""

from .models import DownloadGrant, Order, Product


def product_for_landing(*, slug: str) -> Product | None:
    return (Product.objects.select_related("company").filter(slug=slug, status=Product.Status.ACTIVE).first())


def order_by_access_token(*, token: str) -> Order | None:
    if not token:
        return None
    return (Order.objects.select_related("company", "customer").prefetch_related("items")
            .filter(access_token=token).first())


def order_grants(*, order: Order) -> list[DownloadGrant]:
    return list(order.grants.select_related("product"))
