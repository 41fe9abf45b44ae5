import pytest
import yaml

from chimera.ai.breaker import breaker
from chimera.ai.config import TASK_TYPES
from tests.commerce.servers import FakeStripe


@pytest.fixture(autouse=True)
def support_settings(settings, tmp_path):
    settings.STRIPE_SECRET_KEY = "sk_test_local"
    settings.SITE_URL = "https://shop.example.com"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    breaker.reset()
    yield settings
    breaker.reset()


@pytest.fixture
def stripe_server(settings):
    server = FakeStripe()
    settings.STRIPE_API_BASE = server.url
    yield server
    server.close()


@pytest.fixture
def ai_down(tmp_path, settings, monkeypatch):
    """A models.yml whose only provider does not answer and with no offline fallback: the AI engine is down."""
    monkeypatch.setenv("TEST_DEAD_KEY", "sk-test-dead")
    data = {"version": 1,
            "providers": [{"name": "dead", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "TEST_DEAD_KEY",
                           "timeout_s": 0.5, "models": [{"name": "m", "input_per_1k": 0.01, "output_per_1k": 0.01}]}],
            "routing": {task: ["dead"] for task in TASK_TYPES},
            "defaults": {"max_tokens": 100, "call_timeout_s": 2},
            "policies": {"max_cost_usd_per_day": 5, "safe_modes": []},
            "circuit_breaker": {"failure_threshold": 3, "cooldown_s": 60}}
    path = tmp_path / "models-down.yml"
    path.write_text(yaml.safe_dump(data))
    settings.AUTONOMAX_MODELS_FILE = str(path)
    return path
