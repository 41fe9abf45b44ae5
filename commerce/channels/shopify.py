"""Shopify through the ShopifyAPI package's Admin GraphQL client, one shop per ChannelConnection.

The access token comes from the environment variable the connection names; it is never stored.
`SHOPIFY_API_BASE` (tests) sends the requests to another base URL instead of https://<shop>.
"""

import json
import os
import urllib.error
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal, InvalidOperation

import shopify
from django.conf import settings

from ..models import ChannelConnection
from .base import Channel, ChannelError, ChannelNotConnected, RemoteProduct

PRODUCT_FIELDS = """id title handle status onlineStoreUrl
  variants(first: 1) { nodes { id price } }"""

FIND = "query findProduct($q: String!) { products(first: 1, query: $q) { nodes { FIELDS } } }"
FETCH = "query getProduct($id: ID!) { product(id: $id) { FIELDS } }"
CREATE = """mutation productCreate($product: ProductCreateInput!) {
  productCreate(product: $product) { product { FIELDS } userErrors { field message } } }"""
UPDATE = """mutation productUpdate($product: ProductUpdateInput!) {
  productUpdate(product: $product) { product { FIELDS } userErrors { field message } } }"""
FIND, FETCH, CREATE, UPDATE = (q.replace("FIELDS", PRODUCT_FIELDS) for q in (FIND, FETCH, CREATE, UPDATE))
SET_PRICE = """mutation productVariantsBulkUpdate($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { id price } userErrors { field message } } }"""
ORDERS = """query recentOrders($q: String!, $after: String) {
  orders(first: 50, query: $q, after: $after) {
    nodes { id legacyResourceId email createdAt processedAt cancelledAt displayFinancialStatus currencyCode
      totalPriceSet { shopMoney { amount } }
      lineItems(first: 50) { nodes { sku title quantity originalUnitPriceSet { shopMoney { amount } } } } }
    pageInfo { hasNextPage endCursor } } }"""
DISCOUNT_FIND = "query findDiscount($code: String!) { codeDiscountNodeByCode(code: $code) { id } }"
DISCOUNT_CREATE = """mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id } userErrors { field code message } } }"""



class ShopifyChannel(Channel):
    name = "shopify"

    def __init__(self, *, connection: ChannelConnection, token: str = ""):
        self.connection = connection
        self.token = token

    def _token(self) -> str:
        """The token given, else the company's own (/settings/connections/), else the environment variable
        the channel connection names."""
        from autonomax.connections import connection_value  # noqa: PLC0415

        token = self.token or (connection_value(company=self.connection.company, kind="shopify",
                                                name="access_token", default=False)
                               if self.connection.company_id else "")
        token = token or os.environ.get(self.connection.access_token_env or "", "")
        if not token:
            raise ChannelNotConnected(
                "The Shopify access token is missing: connect Shopify at /settings/connections/ or set the "
                f"environment variable {self.connection.access_token_env!r} named by the company's connection.")
        return token

    @contextmanager
    def _graphql(self):
        version = settings.SHOPIFY_API_VERSION
        session = shopify.Session(self.connection.shop_domain, version, self._token())
        shopify.ShopifyResource.activate_session(session)
        base = settings.SHOPIFY_API_BASE
        if base:
            shopify.ShopifyResource.site = f"{base.rstrip('/')}/admin/api/{version}"
        try:
            yield shopify.GraphQL()
        finally:
            shopify.ShopifyResource.clear_session()

    def _execute(self, query: str, variables: dict) -> dict:
        with self._graphql() as client:
            try:
                raw = client.execute(query, variables)
            except urllib.error.HTTPError as exc:
                raise ChannelError(f"Shopify answered HTTP {exc.code}.", details={"status": exc.code}) from None
            except (urllib.error.URLError, OSError) as exc:
                raise ChannelError(f"Shopify could not be reached: {exc}.") from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise ChannelError("Shopify answered something that is not JSON.") from None
        if body.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in body["errors"])
            raise ChannelError(f"Shopify GraphQL error: {messages}")
        return body.get("data") or {}

    def _product(self, node: dict | None) -> RemoteProduct | None:
        if not node:
            return None
        variants = (node.get("variants") or {}).get("nodes") or []
        price = None
        if variants and variants[0].get("price") is not None:
            try:
                price = Decimal(str(variants[0]["price"]))
            except InvalidOperation:
                price = None
        url = node.get("onlineStoreUrl") or f"https://{self.connection.shop_domain}/products/{node.get('handle', '')}"
        return RemoteProduct(external_id=node["id"], title=node.get("title", ""), price=price,
                             status=str(node.get("status", "")).lower(), url=url, handle=node.get("handle", ""),
                             variant_id=variants[0]["id"] if variants else "")

    @staticmethod
    def _user_errors(payload: dict, doing: str) -> None:
        errors = payload.get("userErrors") or []
        if errors:
            raise ChannelError(f"Shopify refused to {doing}: " + "; ".join(e.get("message", "") for e in errors),
                               status=422, details={"user_errors": errors})

    def product_find(self, *, handle: str) -> RemoteProduct | None:
        nodes = (self._execute(FIND, {"q": f"handle:{handle}"}).get("products") or {}).get("nodes") or []
        return self._product(nodes[0]) if nodes else None

    def product_fetch(self, *, external_id: str) -> RemoteProduct | None:
        return self._product(self._execute(FETCH, {"id": external_id}).get("product"))

    def product_upsert(self, *, external_id: str, handle: str, title: str, description: str, tags: list[str],
                       price: Decimal, active: bool = True) -> RemoteProduct:
        fields = {"title": title, "descriptionHtml": description, "tags": tags,
                  "status": "ACTIVE" if active else "ARCHIVED"}
        if external_id:
            result = self._execute(UPDATE, {"product": {"id": external_id, **fields}}).get("productUpdate") or {}
            self._user_errors(result, "update the product")
        else:
            result = self._execute(CREATE, {"product": {"handle": handle, **fields}}).get("productCreate") or {}
            self._user_errors(result, "create the product")
        remote = self._product(result.get("product"))
        if remote is None:
            raise ChannelError("Shopify did not return the product.")
        if remote.variant_id and remote.price != price:
            result = self._execute(SET_PRICE, {"productId": remote.external_id,
                                               "variants": [{"id": remote.variant_id, "price": str(price)}]})
            self._user_errors(result.get("productVariantsBulkUpdate") or {}, "set the price")
        return remote

    def discount_code_upsert(self, *, code: str, title: str, percent_off, amount_off, starts_at, ends_at,
                              usage_limit, once_per_customer: bool, product_ids: list[str]) -> str:
        """The shop's code discount with this code (found by code first, so a retry never makes a second one);
        returns its GraphQL id."""
        found = self._execute(DISCOUNT_FIND, {"code": code}).get("codeDiscountNodeByCode")
        if found and found.get("id"):
            return found["id"]
        if percent_off is not None:
            value = {"percentage": float(Decimal(percent_off) / 100)}
        else:
            value = {"discountAmount": {"amount": str(amount_off), "appliesOnEachItem": False}}
        items = {"products": {"productsToAdd": product_ids}} if product_ids else {"all": True}
        data = {"title": title, "code": code, "startsAt": starts_at.isoformat(),
                "endsAt": ends_at.isoformat() if ends_at else None, "usageLimit": usage_limit,
                "appliesOncePerCustomer": once_per_customer, "context": {"all": "ALL"},
                "customerGets": {"value": value, "items": items}}
        result = self._execute(DISCOUNT_CREATE, {"basicCodeDiscount": data}).get("discountCodeBasicCreate") or {}
        self._user_errors(result, "create the discount code")
        node = result.get("codeDiscountNode") or {}
        if not node.get("id"):
            raise ChannelError("Shopify did not return the discount code.")
        return node["id"]

    def orders_since(self, *, since: datetime):
        """Recent orders, shaped like the REST webhook payload the order handler reads."""
        after = None
        while True:
            data = self._execute(ORDERS, {"q": f"updated_at:>='{since.isoformat()}'", "after": after})
            orders = data.get("orders") or {}
            for node in orders.get("nodes") or []:
                yield {
                    "id": node.get("legacyResourceId") or str(node["id"]).rsplit("/", 1)[-1],
                    "email": node.get("email"),
                    "currency": node.get("currencyCode"),
                    "total_price": ((node.get("totalPriceSet") or {}).get("shopMoney") or {}).get("amount"),
                    "financial_status": str(node.get("displayFinancialStatus") or "").lower(),
                    "processed_at": node.get("processedAt"),
                    "cancelled_at": node.get("cancelledAt"),
                    "line_items": [
                        {"sku": li.get("sku"), "title": li.get("title"), "quantity": li.get("quantity"),
                         "price": ((li.get("originalUnitPriceSet") or {}).get("shopMoney") or {}).get("amount")}
                        for li in (node.get("lineItems") or {}).get("nodes") or []
                    ],
                }
            page = orders.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")


SHOP = "query shopName { shop { name } }"


def shop_name(*, shop_domain: str, token: str) -> str:
    """The shop's name, asked with `token`: proves the domain and token work (a connection's live check)."""
    channel = ShopifyChannel(connection=ChannelConnection(channel="shopify", shop_domain=shop_domain), token=token)
    return str(((channel._execute(SHOP, {}) or {}).get("shop") or {}).get("name") or shop_domain)
