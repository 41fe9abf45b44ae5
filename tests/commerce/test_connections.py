"""`/settings/connections/`: an owner connects Stripe and Shopify; secrets are checked with a live call against
the local servers, stored encrypted, never shown again, and read before the environment's defaults."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from autonomax.connections import connection_value, connection_warnings
from autonomax.models import ConfigChange, Connection, Role
from commerce.models import ChannelConnection, DownloadGrant, Order, WebhookEvent
from commerce.services.publishing import listing_publish
from commerce.services.stripe_api import stripe_secret_key
from tests.factories import MembershipFactory, OrderFactory, OrderItemFactory

from .conftest import SHOPIFY_TOKEN
from .factories import (
    ProductDraftFactory,
    digital_product,
    post_shopify,
    post_stripe,
    shopify_sign,
    stripe_event,
)

pytestmark = pytest.mark.django_db

STRIPE_KEY = "sk_test_company_key_4242"
WEBHOOK_SECRET = "whsec_company_own_secret"


def _client(company, role=Role.OWNER) -> Client:
    client = Client()
    client.force_login(MembershipFactory(company=company, role=role).user)
    return client


def _save_stripe(client, **values):
    return client.post("/settings/connections/", {"kind": "stripe", "action": "save", "secret_key": STRIPE_KEY,
                                                  "webhook_secret": WEBHOOK_SECRET, **values})


def test_owner_connects_stripe_checked_live_stored_encrypted_never_shown(company, other_company, stripe_server,
                                                                         settings):
    # given an owner and no key in the environment
    settings.STRIPE_SECRET_KEY = ""
    client = _client(company)
    # when the Stripe keys are saved
    response = _save_stripe(client)
    # then the local Stripe server answered the check, and the key is stored encrypted only
    assert response.status_code == 302
    connection = Connection.objects.get(company=company, kind="stripe")
    assert connection.status == Connection.Status.OK and "test mode" in connection.status_message
    assert STRIPE_KEY not in connection.secrets_encrypted and WEBHOOK_SECRET not in connection.secrets_encrypted
    assert connection.secret_hints == {"secret_key": "…4242", "webhook_secret": "…cret"}
    page = client.get("/settings/connections/").content.decode()
    assert STRIPE_KEY not in page and WEBHOOK_SECRET not in page and "…4242" in page
    # and Stripe calls of this company use its key; the other company keeps the (empty) default
    assert stripe_secret_key(company=company) == STRIPE_KEY
    assert stripe_secret_key(company=other_company) == ""
    # and the change log names the fields, never the values
    change = ConfigChange.objects.get(company=company, object_type="connection")
    assert set(change.changes) == {"secret_key", "webhook_secret"} and STRIPE_KEY not in json.dumps(change.changes)


def test_a_key_stripe_refuses_is_not_stored(company, stripe_server):
    # given a key the Stripe server refuses (401)
    client = _client(company)
    # when it is saved
    response = _save_stripe(client, secret_key="rk_wrong_key_000")
    # then the page says why, and nothing is stored
    assert response.status_code == 400
    assert "Stripe refused the key" in response.content.decode()
    assert not Connection.objects.filter(company=company).exists()
    assert not ConfigChange.objects.filter(company=company, object_type="connection").exists()


def test_a_blank_secret_keeps_the_stored_one(company, stripe_server):
    # given a saved Stripe connection
    client = _client(company)
    _save_stripe(client)
    # when it is saved again with the secrets left blank (the page never sends them back)
    response = _save_stripe(client, secret_key="", webhook_secret="")
    # then the stored secrets are kept
    assert response.status_code == 302
    assert connection_value(company=company, kind="stripe", name="secret_key") == STRIPE_KEY


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_only_owners_see_or_change_connections(company, stripe_server, role):
    # given an operator or a viewer
    client = _client(company, role)
    # when they open or post the page
    # then 403, and nothing is stored
    assert client.get("/settings/connections/").status_code == 403
    assert _save_stripe(client).status_code == 403
    assert not Connection.objects.exists()


def test_owner_connects_shopify_and_publishing_uses_the_stored_token(company, other_company, shopify_server,
                                                                     monkeypatch):
    # given no Shopify token in the environment
    monkeypatch.delenv("SHOPIFY_ACCESS_TOKEN", raising=False)
    client = _client(company)
    # when the owner connects the shop
    response = client.post("/settings/connections/", {
        "kind": "shopify", "action": "save", "shop_domain": "Local-Shop.myshopify.com",
        "access_token": SHOPIFY_TOKEN, "webhook_secret": "shpss_company_secret"})
    # then the shop answered the check and the channel row follows
    assert response.status_code == 302
    assert "Local Test Shop" in Connection.objects.get(company=company, kind="shopify").status_message
    channel = ChannelConnection.objects.get(company=company, channel="shopify")
    assert channel.shop_domain == "local-shop.myshopify.com" and channel.is_active
    assert not ChannelConnection.objects.filter(company=other_company).exists()
    # and publishing reads the stored token (the channel's environment variable is not set)
    monkeypatch.delenv(channel.access_token_env, raising=False)
    listing = listing_publish(company=company, draft_or_product=ProductDraftFactory(company=company),
                              channel="shopify")
    assert listing.external_id.startswith("gid://shopify/Product/")


def test_a_token_shopify_refuses_is_not_stored(company, shopify_server):
    client = _client(company)
    # when a wrong token is saved
    response = client.post("/settings/connections/", {
        "kind": "shopify", "action": "save", "shop_domain": "local-shop.myshopify.com", "access_token": "shpat_no"})
    # then nothing is stored and the page says Shopify refused
    assert response.status_code == 400 and "Shopify refused" in response.content.decode()
    assert not Connection.objects.exists() and not ChannelConnection.objects.exists()


def test_stripe_webhooks_signed_with_a_company_secret_are_accepted(company, stripe_server, settings):
    # given a company's own webhook secret and none in the environment
    settings.STRIPE_WEBHOOK_SECRET = ""
    _save_stripe(_client(company))
    event = stripe_event("checkout.session.completed", event_id="evt_company_secret")
    # when Stripe posts events signed with it, and with a secret nobody set
    good = post_stripe(Client(), event, secret=WEBHOOK_SECRET)
    bad = post_stripe(Client(), {**event, "id": "evt_forged"}, secret="whsec_someone_else")
    # then the first is stored, the second refused
    assert good.status_code == 200 and bad.status_code == 400
    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == ["evt_company_secret"]


def test_shopify_webhooks_are_checked_with_the_shops_own_secret(company, shopify_server, settings):
    # given the company connected its shop with its own webhook secret
    settings.SHOPIFY_API_SECRET = ""
    _client(company).post("/settings/connections/", {
        "kind": "shopify", "action": "save", "shop_domain": "local-shop.myshopify.com",
        "access_token": SHOPIFY_TOKEN, "webhook_secret": "shpss_company_secret"})
    body = b'{"id": 1}'
    # when the shop posts a webhook signed with it, and another shop (no secret anywhere) posts one
    good = post_shopify(Client(), body, topic="app/uninstalled", shop="local-shop.myshopify.com", event_id="e1",
                        signature=shopify_sign(body, "shpss_company_secret"))
    unknown = post_shopify(Client(), body, topic="app/uninstalled", shop="other.myshopify.com", event_id="e2",
                           signature=shopify_sign(body, "shpss_company_secret"))
    # then the first is stored; the second has no secret to be checked with (503, nothing stored)
    assert good.status_code == 200 and unknown.status_code == 503
    assert WebhookEvent.objects.count() == 1


def test_command_center_warns_when_checkout_is_off_or_a_connection_fails(company, stripe_server, settings):
    # given no Stripe key anywhere
    settings.STRIPE_SECRET_KEY = ""
    assert connection_warnings(company=company) == ["Checkout is off: Stripe is not connected."]
    # when a company key is saved, then revoked at Stripe (the server refuses it) and checked again
    client = _client(company)
    _save_stripe(client)
    assert connection_warnings(company=company) == []
    stripe_server.route = lambda *a: (401, {"error": {"type": "invalid_request_error", "message": "Key revoked"}})
    client.post("/settings/connections/", {"kind": "stripe", "action": "check"})
    # then the connection is failing and the Command Center says so
    [warning] = connection_warnings(company=company)
    assert warning.startswith("Stripe connection is failing: Stripe refused the key: Key revoked")
    assert "Stripe connection is failing" in client.get("/").content.decode()


def test_removing_a_connection_brings_back_the_environment_defaults(company, stripe_server, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_from_environment"
    client = _client(company)
    _save_stripe(client)
    # when the owner removes it
    response = client.post("/settings/connections/", {"kind": "stripe", "action": "remove"})
    # then the environment's key applies again
    assert response.status_code == 302
    assert stripe_secret_key(company=company) == "sk_test_from_environment"


def test_without_an_encryption_key_in_production_nothing_is_stored(company, stripe_server, settings):
    # given production (no DEBUG) and no key
    settings.CONNECTIONS_ENCRYPTION_KEYS = []
    settings.DEBUG = False
    # when an owner saves a connection
    response = _save_stripe(_client(company))
    # then 503 names the missing setting, and nothing is stored
    assert response.status_code == 503 and "CONNECTIONS_ENCRYPTION_KEYS" in response.content.decode()
    assert not Connection.objects.exists()


def test_a_rotated_key_still_reads_what_the_old_one_wrote(company, stripe_server, settings):
    from cryptography.fernet import Fernet

    # given a connection written with the old key
    old = settings.CONNECTIONS_ENCRYPTION_KEYS[0]
    _save_stripe(_client(company))
    # when a new key is put first and the old one kept after it
    settings.CONNECTIONS_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    # then the secret still reads
    assert stripe_secret_key(company=company) == STRIPE_KEY


class _SMTPServer:
    """Just enough SMTP (no auth, no TLS) to accept a session and keep the messages it is given."""

    def __init__(self):
        import socketserver
        import threading

        owner = self
        self.messages: list[bytes] = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 local ESMTP\r\n")
                while line := self.rfile.readline():
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250 local\r\n")
                    elif verb == b"DATA":
                        self.wfile.write(b"354 go on\r\n")
                        data = b"".join(iter(lambda: self.rfile.readline(), b".\r\n"))
                        owner.messages.append(data)
                        self.wfile.write(b"250 queued\r\n")
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_company_email_is_checked_and_the_buyers_mail_goes_through_it(company, other_company):
    from commerce.services.fulfillment import digital_delivery_send

    server = _SMTPServer()
    try:
        # given the owner connects the company's mail server
        client = _client(company)
        response = client.post("/settings/connections/", {
            "kind": "email", "action": "save", "email_url": f"smtp://127.0.0.1:{server.port}",
            "from_email": "Shop <hello@shop.example>"})
        assert response.status_code == 302
        assert "accepted the session" in Connection.objects.get(company=company, kind="email").status_message
        # when the buyer's download email is sent for this company, and one for another company
        grant, other = _grant_for(company), _grant_for(other_company)
        digital_delivery_send(grant_id=grant.pk)
        digital_delivery_send(grant_id=other.pk)
    finally:
        server.close()
    # then this company's went through its server, from its address; the other's did not
    [message] = server.messages
    assert b"From: Shop <hello@shop.example>" in message and grant.product.name.encode() in message
    [platform_mail] = mail.outbox
    assert platform_mail.to == [other.order.customer.email]


def _grant_for(company):
    product = digital_product(company=company)
    order = OrderFactory(company=company, status=Order.Status.FULFILLED)
    OrderItemFactory(order=order, product=product)
    return DownloadGrant.objects.create(company=company, order=order, product=product,
                                        expires_at=timezone.now() + timedelta(hours=24))


def test_an_unreachable_mail_server_is_not_stored(company):
    response = _client(company).post("/settings/connections/", {
        "kind": "email", "action": "save", "email_url": "smtp://127.0.0.1:9"})
    assert response.status_code == 400 and "did not accept the connection" in response.content.decode()
    assert not Connection.objects.exists()
