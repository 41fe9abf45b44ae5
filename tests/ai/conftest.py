"""Fixtures for the AI engine: local OpenAI-compatible servers and a models.yml pointing at them."""

import pytest
import yaml

from chimera.ai.breaker import breaker
from chimera.ai.company_settings import ai_company_settings_forget
from chimera.ai.config import TASK_TYPES
from chimera.ai.providers.openai_compat import openai_clients_reset

from .openai_server import OpenAIServer

PRICE = {"input_per_1k": 0.01, "output_per_1k": 0.02}


class ManualClock:
    """A monotonic clock that moves only when a test moves it."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def manual_clock():
    return ManualClock()


@pytest.fixture(autouse=True)
def _fresh_engine_state(monkeypatch):
    """The circuit breaker, the HTTP clients and the companies' settings copies are process state: start and end
    every test clean.

    The breaker's clock is pinned too (see `breaker_clock`): it measures cooldowns with time.monotonic,
    which time-machine does not move, so a test holds the clock the breaker was given instead.
    """
    clock = ManualClock()
    monkeypatch.setattr(breaker, "_clock", clock)
    breaker.reset()
    openai_clients_reset()
    ai_company_settings_forget()
    yield clock
    breaker.reset()
    openai_clients_reset()
    ai_company_settings_forget()


@pytest.fixture
def breaker_clock(_fresh_engine_state) -> ManualClock:
    """The circuit breaker's clock: a cooldown reads exactly as set however slow the machine is."""
    return _fresh_engine_state


@pytest.fixture
def openai_server():
    """Start local OpenAI-compatible servers: `openai_server()` or `openai_server(default=error(500))`."""
    started = []

    def start(default=None) -> OpenAIServer:
        server = OpenAIServer(default).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def models_file(tmp_path, settings, monkeypatch):
    """Write a models.yml whose providers are the given URLs (each with its own key variable) and use it.

    `providers` maps name -> base URL (or a dict of provider fields); `route` is the
    route of every task type (default: the providers in order, then offline).
    """

    def write(*, providers: dict, route: list[str] | None = None, routes: dict | None = None,
              max_cost_usd_per_day=5, timeout_s=2.0, call_timeout_s=30, failure_threshold=3, cooldown_s=60,
              safe_modes=("pii_redact", "profanity_filter"), name="models.yml") -> str:
        provider_list = []
        for provider_name, spec in providers.items():
            spec = {"base_url": spec} if isinstance(spec, str) else dict(spec)
            key_env = f"TEST_{provider_name.upper()}_KEY"
            monkeypatch.setenv(key_env, f"sk-test-{provider_name}")
            provider_list.append({
                "name": provider_name, "api_key_env": key_env, "timeout_s": timeout_s,
                "models": [{"name": "test-model", **PRICE}], **spec,
            })
        route = route if route is not None else [*providers, "offline"]
        data = {
            "version": 1,
            "providers": provider_list,
            "routing": {task: list((routes or {}).get(task, route)) for task in TASK_TYPES},
            "defaults": {"max_tokens": 100, "call_timeout_s": call_timeout_s},
            "policies": {"max_cost_usd_per_day": max_cost_usd_per_day, "safe_modes": list(safe_modes)},
            "circuit_breaker": {"failure_threshold": failure_threshold, "cooldown_s": cooldown_s},
        }
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        settings.AUTONOMAX_MODELS_FILE = str(path)
        return str(path)

    return write
