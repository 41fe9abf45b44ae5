"""The outside services commerce connects per company (`/settings/connections/`): Stripe and Shopify.

Each save is checked with a live call; the code that talks to Stripe or Shopify reads the company's values
first and the environment's after (`stripe_secret_key`, `ShopifyChannel`).
"""

import re

from autonomax.connections import ConnectionCheckFailed, ConnectionField, ConnectionKind, connection_kind_register

SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def _stripe_check(*, company, values: dict) -> str:
    """Read the account's balance with the key: the cheapest call that proves the key is live."""
    import stripe  # noqa: PLC0415

    from .services.stripe_api import stripe_client_for_key

    secret = values.get("webhook_secret", "")
    if secret and not secret.startswith("whsec_"):
        raise ConnectionCheckFailed("The webhook signing secret starts with whsec_ (Stripe → Developers → "
                                    "Webhooks → your endpoint → Signing secret).")
    try:
        balance = stripe_client_for_key(values["secret_key"], max_network_retries=0).v1.balance.retrieve()
    except stripe.StripeError as exc:
        raise ConnectionCheckFailed(f"Stripe refused the key: {getattr(exc, 'user_message', None) or exc}") from None
    mode = "live" if getattr(balance, "livemode", False) else "test"
    return f"Stripe answered: the key works ({mode} mode)."


def _shopify_check(*, company, values: dict) -> str:
    """Ask the shop for its name with the access token."""
    from .channels.base import ChannelError
    from .channels.shopify import shop_name

    domain = values["shop_domain"].lower()
    if not SHOP_DOMAIN.match(domain):
        raise ConnectionCheckFailed("The shop domain looks like my-shop.myshopify.com.")
    try:
        name = shop_name(shop_domain=domain, token=values["access_token"])
    except ChannelError as exc:
        raise ConnectionCheckFailed(f"Shopify refused: {exc.message}") from None
    return f"Shopify answered: connected to {name}."


def _shopify_saved(*, company, values: dict) -> None:
    from .services.publishing import shopify_connection_set

    shopify_connection_set(company=company, shop_domain=values["shop_domain"].lower())


def _shopify_removed(*, company) -> None:
    from .services.publishing import shopify_connection_set

    shopify_connection_set(company=company, shop_domain="")


connection_kind_register(ConnectionKind(
    key="stripe", label="Stripe", check=_stripe_check, needed_for="checkout", order=10,
    fields=(ConnectionField("secret_key", "Secret key", default_setting="STRIPE_SECRET_KEY", required=True,
                            help="sk_live_… or sk_test_… (Stripe → Developers → API keys)"),
            ConnectionField("webhook_secret", "Webhook signing secret", default_setting="STRIPE_WEBHOOK_SECRET",
                            help="whsec_…, of the endpoint https://<this host>/webhooks/stripe/")),
))

connection_kind_register(ConnectionKind(
    key="shopify", label="Shopify", check=_shopify_check, saved=_shopify_saved, removed=_shopify_removed, order=20,
    fields=(ConnectionField("shop_domain", "Shop domain", secret=False, required=True,
                            help="my-shop.myshopify.com"),
            ConnectionField("access_token", "Admin API access token", default_setting="SHOPIFY_ACCESS_TOKEN",
                            required=True, help="shpat_… of a custom app with products, orders and discounts"),
            ConnectionField("webhook_secret", "Webhook secret", default_setting="SHOPIFY_API_SECRET",
                            help="the app's API secret key, which signs its webhooks")),
))
