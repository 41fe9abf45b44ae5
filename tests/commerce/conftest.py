import pytest

from .factories import SHOPIFY_SECRET, STRIPE_SECRET
from .servers import FakeShopify, FakeStripe

SHOPIFY_TOKEN = "shpat_local_test_token"


@pytest.fixture(autouse=True)
def commerce_settings(settings, tmp_path):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    settings.SHOPIFY_API_SECRET = SHOPIFY_SECRET
    settings.STRIPE_SECRET_KEY = "sk_test_local"
    settings.SITE_URL = "https://shop.example.com"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@pytest.fixture
def stripe_server(settings):
    server = FakeStripe()
    settings.STRIPE_API_BASE = server.url
    yield server
    server.close()


@pytest.fixture
def shopify_server(settings, monkeypatch):
    server = FakeShopify(token=SHOPIFY_TOKEN)
    settings.SHOPIFY_API_BASE = server.url
    monkeypatch.setenv("TEST_SHOPIFY_TOKEN", SHOPIFY_TOKEN)
    yield server
    server.close()
