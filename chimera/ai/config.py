"""configs/models.yml: providers, routing by task type, defaults and policies.

Loading is all-or-nothing: a bad file raises ModelsConfigError naming the file,
the line and the reason, and a previously loaded good file stays in use.
"""

import logging
import os
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from django.conf import settings

from .errors import ModelsConfigError

logger = logging.getLogger(__name__)

OFFLINE = "offline"
TASK_TYPES = (
    "content_generation", "quick_response", "code_generation", "analysis", "cost_optimized", "classification",
    "product_draft", "listing_copy", "email", "support_answer",
)
SAFE_MODES = ("pii_redact", "profanity_filter")
PII_KINDS = ("email", "phone", "card", "iban")


@dataclass(frozen=True)
class ModelPrice:
    name: str
    input_per_1k: Decimal
    output_per_1k: Decimal


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    base_url: str = ""
    base_url_env: str = ""
    api_key_env: str = ""
    timeout_s: float = 30.0
    models: dict[str, ModelPrice] = field(default_factory=dict)
    default_model: str = ""
    # A company's own key (/settings/connections/), used instead of the environment variable's.
    key_override: str = ""

    @property
    def is_offline(self) -> bool:
        return self.name == OFFLINE

    def unavailable_reason(self) -> str:
        """Why this provider cannot be used right now ('' when it can): a missing key is a skip, not an error."""
        if self.api_key_env and not (self.key_override or os.environ.get(self.api_key_env)):
            return f"{self.api_key_env} is not set"
        if self.base_url_env and not os.environ.get(self.base_url_env):
            return f"{self.base_url_env} is not set"
        return ""

    def resolved_base_url(self) -> str:
        return os.environ.get(self.base_url_env, "") if self.base_url_env else self.base_url

    def api_key(self) -> str:
        # Local servers (Ollama, vLLM) take any key; the client insists on one.
        if self.key_override:
            return self.key_override
        return os.environ.get(self.api_key_env, "") if self.api_key_env else "not-needed"


@dataclass(frozen=True)
class RouteStep:
    provider: str
    model: str


@dataclass(frozen=True)
class ModelsConfig:
    file: str
    providers: dict[str, ProviderConfig]
    routing: dict[str, tuple[RouteStep, ...]]
    max_tokens: int
    max_tokens_limit: int
    temperature: float
    max_prompt_chars: int
    call_timeout_s: float
    max_cost_usd_per_day: Decimal
    safe_modes: frozenset[str]
    redact: frozenset[str]
    profanity_words: frozenset[str]
    breaker_failures: int
    breaker_cooldown_s: float

    def route(self, task_type: str) -> tuple[RouteStep, ...]:
        return self.routing[task_type]


OFFLINE_PROVIDER = ProviderConfig(
    name=OFFLINE, timeout_s=5.0, models={OFFLINE: ModelPrice(OFFLINE, Decimal(0), Decimal(0))},
    default_model=OFFLINE,
)


class _Reader:
    """Reads the composed YAML tree so every error can name the line it comes from."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, node, reason: str):
        line = node.start_mark.line + 1 if node is not None else None
        raise ModelsConfigError(file=self.file, line=line, reason=reason)

    def mapping(self, node, what: str, *, required=(), optional=()) -> dict:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping")
        out = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in out:
                self.fail(key_node, f"{what}: duplicate key {key!r}")
            if required or optional:
                if key not in required and key not in optional:
                    self.fail(key_node, f"{what}: unknown key {key!r} (allowed: {', '.join((*required, *optional))})")
            out[key] = value_node
        for key in required:
            if key not in out:
                self.fail(node, f"{what}: missing key {key!r}")
        return out

    def seq(self, node, what: str) -> list:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{what} must be a list")
        return node.value

    def scalar(self, node, what: str):
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"{what} must be a single value")
        return _construct(node)

    def string(self, node, what: str, *, allow_empty=False) -> str:
        value = self.scalar(node, what)
        if value is None and allow_empty:
            return ""
        if not isinstance(value, str) or (not value and not allow_empty):
            self.fail(node, f"{what} must be a non-empty string")
        return value

    def number(self, node, what: str, *, positive=True, integer=False):
        value = self.scalar(node, what)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            self.fail(node, f"{what} must be {'an integer' if integer else 'a number'}, got {node.value!r}")
        if positive and value <= 0:
            self.fail(node, f"{what} must be greater than 0, got {value}")
        if value < 0:
            self.fail(node, f"{what} must not be negative, got {value}")
        return value

    def money(self, node, what: str) -> Decimal:
        value = self.scalar(node, what)
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            self.fail(node, f"{what} must be a number, got {node.value!r}")
        if isinstance(value, bool) or not amount.is_finite() or amount < 0:
            self.fail(node, f"{what} must be a number >= 0, got {node.value!r}")
        return amount

    def string_list(self, node, what: str, *, allowed=None) -> list[str]:
        values = []
        for item in self.seq(node, what):
            value = self.string(item, f"{what} item")
            if allowed is not None and value not in allowed:
                self.fail(item, f"{what}: unknown value {value!r} (allowed: {', '.join(allowed)})")
            values.append(value)
        return values


def _construct(node):
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def models_config_parse(*, text: str, file: str) -> ModelsConfig:
    """Parse and validate the text of a models.yml; raises ModelsConfigError with file and line."""
    reader = _Reader(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ModelsConfigError(file=file, line=mark.line + 1 if mark else None,
                                reason=f"not valid YAML: {exc.problem or exc}") from exc
    if root is None:
        raise ModelsConfigError(file=file, line=None, reason="the file is empty")
    top = reader.mapping(root, "the file", required=("providers", "routing"),
                         optional=("version", "defaults", "policies", "circuit_breaker"))

    providers: dict[str, ProviderConfig] = {OFFLINE: OFFLINE_PROVIDER}
    for item in reader.seq(top["providers"], "providers"):
        p = reader.mapping(item, "provider", required=("name", "models"),
                           optional=("base_url", "base_url_env", "api_key_env", "timeout_s"))
        name = reader.string(p["name"], "provider name")
        if name in providers:
            reader.fail(p["name"], f"provider {name!r} is defined twice" if name != OFFLINE
                        else "'offline' is built in and cannot be redefined")
        base_url = reader.string(p["base_url"], f"{name}.base_url") if "base_url" in p else ""
        base_url_env = reader.string(p["base_url_env"], f"{name}.base_url_env") if "base_url_env" in p else ""
        if bool(base_url) == bool(base_url_env):
            reader.fail(item, f"provider {name!r} needs exactly one of base_url or base_url_env")
        if base_url and not base_url.startswith(("http://", "https://")):
            reader.fail(p["base_url"], f"{name}.base_url must start with http:// or https://")
        models: dict[str, ModelPrice] = {}
        for m_node in reader.seq(p["models"], f"{name}.models"):
            m = reader.mapping(m_node, f"{name} model", required=("name", "input_per_1k", "output_per_1k"))
            model_name = reader.string(m["name"], f"{name} model name")
            if model_name in models:
                reader.fail(m["name"], f"{name}: model {model_name!r} listed twice")
            models[model_name] = ModelPrice(
                model_name, reader.money(m["input_per_1k"], f"{name}/{model_name}.input_per_1k"),
                reader.money(m["output_per_1k"], f"{name}/{model_name}.output_per_1k"))
        if not models:
            reader.fail(p["models"], f"provider {name!r} lists no models")
        providers[name] = ProviderConfig(
            name=name, base_url=base_url, base_url_env=base_url_env,
            api_key_env=reader.string(p["api_key_env"], f"{name}.api_key_env") if "api_key_env" in p else "",
            timeout_s=float(reader.number(p["timeout_s"], f"{name}.timeout_s")) if "timeout_s" in p else 30.0,
            models=models, default_model=next(iter(models)),
        )

    routing: dict[str, tuple[RouteStep, ...]] = {}
    for key_node, value_node in reader.mapping(top["routing"], "routing").items():
        steps = []
        for step_node in reader.seq(value_node, f"routing.{key_node}"):
            step = reader.string(step_node, f"routing.{key_node} step")
            provider_name, _, model = step.partition(":")
            provider = providers.get(provider_name)
            if provider is None:
                reader.fail(step_node, f"routing.{key_node}: unknown provider {provider_name!r}")
            model = model or provider.default_model
            if model not in provider.models:
                reader.fail(step_node, f"routing.{key_node}: provider {provider_name!r} has no model {model!r}")
            steps.append(RouteStep(provider_name, model))
        if not steps:
            reader.fail(value_node, f"routing.{key_node} lists no provider")
        routing[key_node] = tuple(steps)
    routing_node = top["routing"]
    for task_type in TASK_TYPES:
        if task_type not in routing:
            reader.fail(routing_node, f"routing has no route for task type {task_type!r}")

    defaults = reader.mapping(top["defaults"], "defaults", optional=(
        "max_tokens", "max_tokens_limit", "temperature", "max_prompt_chars", "call_timeout_s",
    )) if "defaults" in top else {}
    policies = reader.mapping(top["policies"], "policies", optional=(
        "max_cost_usd_per_day", "safe_modes", "redact", "profanity_words",
    )) if "policies" in top else {}
    breaker = reader.mapping(top["circuit_breaker"], "circuit_breaker", optional=(
        "failure_threshold", "cooldown_s",
    )) if "circuit_breaker" in top else {}

    def opt(nodes, key, default, read):
        return read(nodes[key]) if key in nodes else default

    max_tokens = opt(defaults, "max_tokens", 1024, lambda n: reader.number(n, "defaults.max_tokens", integer=True))
    max_tokens_limit = opt(defaults, "max_tokens_limit", 4096,
                           lambda n: reader.number(n, "defaults.max_tokens_limit", integer=True))
    if max_tokens > max_tokens_limit:
        reader.fail(defaults.get("max_tokens"), "defaults.max_tokens is above defaults.max_tokens_limit")
    temperature = float(opt(defaults, "temperature", 0.4,
                            lambda n: reader.number(n, "defaults.temperature", positive=False)))
    if temperature > 2:
        reader.fail(defaults["temperature"], "defaults.temperature must be between 0 and 2")
    return ModelsConfig(
        file=file,
        providers=providers,
        routing=routing,
        max_tokens=max_tokens,
        max_tokens_limit=max_tokens_limit,
        temperature=temperature,
        max_prompt_chars=opt(defaults, "max_prompt_chars", 32000,
                             lambda n: reader.number(n, "defaults.max_prompt_chars", integer=True)),
        call_timeout_s=float(opt(defaults, "call_timeout_s", 60,
                                 lambda n: reader.number(n, "defaults.call_timeout_s"))),
        max_cost_usd_per_day=opt(policies, "max_cost_usd_per_day", Decimal("5"),
                                 lambda n: reader.money(n, "policies.max_cost_usd_per_day")),
        safe_modes=frozenset(opt(policies, "safe_modes", list(SAFE_MODES),
                                 lambda n: reader.string_list(n, "policies.safe_modes", allowed=SAFE_MODES))),
        redact=frozenset(opt(policies, "redact", list(PII_KINDS),
                             lambda n: reader.string_list(n, "policies.redact", allowed=PII_KINDS))),
        profanity_words=frozenset(w.lower() for w in opt(
            policies, "profanity_words", [], lambda n: reader.string_list(n, "policies.profanity_words"))),
        breaker_failures=opt(breaker, "failure_threshold", 3,
                             lambda n: reader.number(n, "circuit_breaker.failure_threshold", integer=True)),
        breaker_cooldown_s=float(opt(breaker, "cooldown_s", 60,
                                     lambda n: reader.number(n, "circuit_breaker.cooldown_s"))),
    )


def models_config_load(path: str | os.PathLike) -> ModelsConfig:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelsConfigError(file=path, line=None, reason=f"cannot read the file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ModelsConfigError(file=path, line=None, reason=f"not UTF-8 text: {exc}") from exc
    return models_config_parse(text=text, file=path)


_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], ModelsConfig]] = {}


def models_config() -> ModelsConfig:
    """The current config, reloaded when the file changes; a bad edit keeps the last good one."""
    path = str(settings.AUTONOMAX_MODELS_FILE)
    try:
        stat = os.stat(path)
        mtime = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        mtime = (-1, -1)
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    with _lock:
        cached = _cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            config = models_config_load(path)
        except ModelsConfigError:
            if cached is None:
                raise
            logger.exception("models config %s is invalid; keeping the last good version", path)
            return cached[1]
        _cache[path] = (mtime, config)
        return config
