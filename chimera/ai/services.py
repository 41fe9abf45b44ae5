"""The AI engine's writes: `ai_generate` (route, fail over, budget, redact, validate, log) and routing preferences.

Every bot and feature calls `ai_generate` with a task type; models.yml decides
which providers answer it, in which order.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction

from autonomax.models import Company
from autonomax.services import config_change_record, model_changes

from .breaker import breaker
from .budget import (
    RESERVE_WAIT_S,
    ai_budget_charge,
    ai_budget_day,
    ai_budget_for,
    ai_budget_reserve,
    ai_budget_settle,
    ai_call_record,
    ai_cost,
    ai_cost_estimate,
    ledger_transaction,
)
from .company_settings import CompanyAISettings, ai_company_settings, ai_company_settings_changed
from .config import OFFLINE, ModelsConfig, ProviderConfig, RouteStep, models_config
from .errors import (
    AIError,
    AllProvidersFailed,
    BudgetExceeded,
    ProviderRejectedRequest,
    RedactionError,
    StructuredOutputError,
)
from .models import AICall, AIRoutingPreference
from .providers.base import ProviderFailure, ProviderReply
from .providers.offline import offline_generate
from .providers.openai_compat import openai_chat
from .safety import Redaction, pii_redact, profanity_mask

MIN_STEP_TIMEOUT_S = 0.05


@dataclass(frozen=True)
class AIResult:
    content: str
    data: dict | None
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    latency_ms: int
    fallback: bool

    def as_dict(self) -> dict:
        """The JSON shape of POST /api/v1/ai/generate and `chimera_generate`."""
        out = asdict(self)
        out["cost_usd"] = str(self.cost_usd.quantize(Decimal("0.000001")))
        return out


_TASK_INSTRUCTIONS = {
    "content_generation": "Write clear, useful content for a small digital-products business.",
    "quick_response": "Answer briefly and directly.",
    "code_generation": "Write correct, simple, well-named code.",
    "analysis": "Analyse the input; state figures and the conclusions they support, and what is uncertain.",
    "cost_optimized": "Answer briefly and directly.",
    "classification": "Classify the text into exactly one of the given labels.",
    "product_draft": "Draft a digital product listing. The title is at most 70 characters and starts with the "
                     "primary keyword. Rubric scores are integers 0-5.",
    "listing_copy": "Write marketplace listing copy: a title, benefit bullets, a description and tags.",
    "email": "Write a short, honest marketing or service email with a subject and a plain-text body.",
    "support_answer": "Answer the customer's question using only the knowledge snippets; escalate when unsure.",
}


if TYPE_CHECKING:
    import pydantic

# pydantic, the task schemas (1 s to import) and jsonschema load with the first structured-output call, not
# whenever the engine is imported (admin, API, management commands).


@dataclass
class _Schema:
    model: type[pydantic.BaseModel] | None
    json_schema: dict
    context: dict

    def validate(self, content: str) -> dict:
        """The validated object, or ValueError with a message fit to send back to the model."""
        try:
            data = json.loads(_strip_fences(content))
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise ValueError(f"the answer is not valid JSON ({exc.msg} at {where})") from None
        if self.model is not None:
            import pydantic  # noqa: PLC0415

            try:
                return self.model.model_validate(data, context=self.context).model_dump(mode="json")
            except pydantic.ValidationError as exc:
                problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}"
                                     for e in exc.errors()[:10])
                raise ValueError(f"the JSON does not match the schema: {problems}") from None
        import jsonschema  # noqa: PLC0415  (0.4 s to import; needed only for structured output)

        errors = sorted(jsonschema.Draft202012Validator(self.json_schema).iter_errors(data), key=str)
        if errors:
            problems = "; ".join(f"{'.'.join(str(p) for p in e.absolute_path) or 'object'}: {e.message}"
                                 for e in errors[:10])
            raise ValueError(f"the JSON does not match the schema: {problems}")
        return data


def _strip_fences(content: str) -> str:
    text = content.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text


def _schema_for(*, task_type: str, schema, context: dict) -> _Schema | None:
    import pydantic  # noqa: PLC0415

    from .schemas import TASK_SCHEMAS  # noqa: PLC0415

    if schema is None:
        schema = TASK_SCHEMAS.get(task_type)
    if schema is None:
        return None
    validation_context = {}
    keywords = context.get("keywords")
    primary = context.get("primary_keyword") or (
        keywords[0] if isinstance(keywords, list) and keywords
        else keywords.split(",")[0] if isinstance(keywords, str) and keywords else "")
    if primary:
        validation_context["primary_keyword"] = str(primary).strip()
    if context.get("labels"):
        validation_context["labels"] = [str(label) for label in context["labels"]]
    if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
        return _Schema(schema, schema.model_json_schema(), validation_context)
    if isinstance(schema, dict):
        import jsonschema  # noqa: PLC0415

        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise AIError(f"invalid JSON schema: {exc.message}", code="invalid_schema", status=400) from exc
        return _Schema(None, schema, validation_context)
    raise AIError("schema must be a pydantic model class or a JSON schema dict", code="invalid_schema", status=400)


def _messages(*, task_type: str, prompt: str, schema: _Schema | None) -> list[dict]:
    system = f"You are the AutonomaX {task_type.replace('_', ' ')} assistant. {_TASK_INSTRUCTIONS.get(task_type, '')}"
    if schema is not None:
        system += (" Answer with one JSON object only, no prose, matching this JSON schema: "
                   + json.dumps(schema.json_schema, separators=(",", ":")))
    return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]


def _check_inputs(*, config: ModelsConfig, task_type, prompt, max_tokens, temperature) -> tuple[int, float]:
    if not isinstance(task_type, str) or task_type not in config.routing:
        raise AIError(f"unknown task_type {task_type!r}; known: {', '.join(sorted(config.routing))}",
                      code="unknown_task_type", status=400)
    if not isinstance(prompt, str) or not prompt.strip():
        raise AIError("prompt must be a non-empty string", code="invalid_prompt", status=400)
    if len(prompt) > config.max_prompt_chars:
        raise AIError(f"prompt is {len(prompt)} characters; the limit is {config.max_prompt_chars}",
                      code="prompt_too_long", status=400)
    max_tokens = config.max_tokens if max_tokens is None else max_tokens
    limit = config.max_tokens_limit
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= limit:
        raise AIError(f"max_tokens must be an integer from 1 to {config.max_tokens_limit}",
                      code="invalid_max_tokens", status=400)
    temperature = config.temperature if temperature is None else temperature
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise AIError("temperature must be a number from 0 to 2", code="invalid_temperature", status=400)
    return max_tokens, float(temperature)


def ai_routing_preference_get(*, company: Company) -> str:
    """The company's routing preference (this process's copy while current; see company_settings)."""
    return ai_company_settings(company=company).preference


class _Call:
    """The state of one ai_generate call while it walks its route."""

    def __init__(self, *, company, task_type, prompt, schema, context, max_tokens, temperature, config,
                 correlation_id):
        self.company = company
        self.correlation_id = str(correlation_id or "")[:64]
        self.task_type = task_type
        self.prompt = prompt
        self.schema = schema
        self.context = context
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.config = config
        self.started = time.perf_counter()
        self.deadline = self.started + config.call_timeout_s
        self.reasons: dict[str, str] = {}
        self.fallback = False
        self.budget_error: BudgetExceeded | None = None
        self.day = None
        self.budget = None
        self._redaction: Redaction | None = None
        self._settings: CompanyAISettings | None = None
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = Decimal(0)  # what the providers' reported usage costs
        self.charged = Decimal(0)  # what counts against the daily cap: per attempt at most its reservation
        self.overrun = Decimal(0)  # reported beyond the reservations (a misreporting provider)
        self.reserved = Decimal(0)
        self.misreported: dict[str, str] = {}

    @property
    def settings(self) -> CompanyAISettings:
        """The company's routing preference and own keys, read once per call (from the process's copy)."""
        if self._settings is None:
            self._settings = ai_company_settings(company=self.company)
        return self._settings

    def provider(self, name: str) -> ProviderConfig:
        """The provider with the company's own key (/settings/connections/) when it set one."""
        provider = self.config.providers[name]
        if provider.is_offline or not provider.api_key_env:
            return provider
        key = self.settings.keys.get(provider.api_key_env, "")
        return replace(provider, key_override=key) if key else provider

    @property
    def redaction(self) -> Redaction:
        """The user message as hosted providers see it: prompt plus structured inputs, PII redacted (fails closed)."""
        if self._redaction is None:
            text = self.prompt
            if self.context:
                text += "\n\nInputs (JSON):\n" + json.dumps(self.context, ensure_ascii=False, default=str)
            if "pii_redact" in self.config.safe_modes:
                self._redaction = pii_redact(text, kinds=self.config.redact)
            else:
                self._redaction = Redaction(text=text)
        return self._redaction

    def elapsed_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)


def _offline_attempt(call: _Call) -> ProviderReply:
    return offline_generate(task_type=call.task_type, prompt=call.prompt, context=call.context,
                            json_schema=call.schema.json_schema if call.schema else None,
                            prefer_json=call.schema is not None)


def _hosted_attempt(call: _Call, provider: ProviderConfig, model: str, messages: list[dict]) -> ProviderReply:
    """One request to a hosted provider, inside the day's budget; raises ProviderFailure or BudgetExceeded."""
    price = provider.models[model]
    estimate = ai_cost_estimate(price=price, messages=messages, max_tokens=call.max_tokens)
    if call.day is None:
        call.day = ai_budget_day(company=call.company)
        call.budget = ai_budget_for(company=call.company, config=call.config)
    ai_budget_reserve(company=call.company, day=call.day, amount=estimate, budget=call.budget,
                      wait_s=min(RESERVE_WAIT_S, max(0.0, call.deadline - time.perf_counter() - provider.timeout_s)))
    call.reserved += estimate
    timeout_s = min(provider.timeout_s, call.deadline - time.perf_counter())
    reply = openai_chat(provider=provider, model=model, messages=messages, max_tokens=call.max_tokens,
                        temperature=call.temperature, timeout_s=max(timeout_s, MIN_STEP_TIMEOUT_S),
                        json_mode=call.schema is not None)
    call.tokens_in += reply.tokens_in
    call.tokens_out += reply.tokens_out
    if reply.usage_reported:
        actual = ai_cost(price=price, tokens_in=reply.tokens_in, tokens_out=reply.tokens_out)
    else:
        actual = estimate  # no usage to price: charge the worst case rather than nothing
    charged, overrun = ai_budget_charge(reserved=estimate, actual=actual)
    call.cost += actual
    call.charged += charged
    call.overrun += overrun
    if overrun > 0:
        call.misreported[provider.name] = (
            f"misreported usage: {reply.tokens_out} output tokens for max_tokens {call.max_tokens} "
            f"({actual} USD against {estimate} USD reserved; {overrun} USD not charged to the cap)")
    return reply


def _finish(call: _Call, step: RouteStep, reply: ProviderReply, messages: list[dict] | None) -> tuple[str, dict | None]:
    """Restore placeholders, validate the schema (one retry with the error), filter profanity."""
    hosted = messages is not None
    content = call.redaction.restore(reply.content) if hosted else reply.content
    data = None
    if call.schema is not None:
        try:
            data = call.schema.validate(content)
        except ValueError as first_error:
            if not hosted:
                raise StructuredOutputError(f"{step.provider} answered invalid JSON: {first_error}") from None
            retry_messages = [*messages, {"role": "assistant", "content": reply.content},
                              {"role": "user", "content": f"That answer was rejected: {first_error}. "
                                                          "Reply again with corrected JSON only."}]
            provider = call.provider(step.provider)
            retry = _hosted_attempt(call, provider, step.model, retry_messages)
            content = call.redaction.restore(retry.content)
            try:
                data = call.schema.validate(content)
            except ValueError as second_error:
                raise StructuredOutputError(
                    f"{step.provider} answered invalid JSON twice: first {first_error}; then {second_error}",
                    details={"provider": step.provider, "first": str(first_error), "second": str(second_error)},
                ) from None
    if "profanity_filter" in call.config.safe_modes:
        content, masked = profanity_mask(content, extra_words=call.config.profanity_words)
        if masked and data is not None:
            data = _mask_strings(data, call.config.profanity_words)
    return content, data


def _mask_strings(value, extra_words):
    if isinstance(value, str):
        return profanity_mask(value, extra_words=extra_words)[0]
    if isinstance(value, list):
        return [_mask_strings(v, extra_words) for v in value]
    if isinstance(value, dict):
        return {k: _mask_strings(v, extra_words) for k, v in value.items()}
    return value


def _scrub(text: str, config: ModelsConfig) -> str:
    """Error text for the call log, with any PII a provider echoed back removed."""
    try:
        return pii_redact(text, kinds=config.redact).text[:2000]
    except AIError:
        return "(error text withheld: it contained PII that could not be redacted)"


def _log(call: _Call, *, status: str, provider: str, model: str, error: str = "", error_code: str = "",
         latency_ms: int) -> None:
    """Write the call log row and settle the call's budget reservation, atomically."""
    redaction = call._redaction
    row = AICall(
        company=call.company, task_type=call.task_type, provider=provider, model=model,
        tokens_in=call.tokens_in, tokens_out=call.tokens_out, cost_usd=call.cost, overrun_usd=call.overrun,
        latency_ms=latency_ms,
        status=status, error=_scrub(error, call.config) if error else "", error_code=error_code,
        fallback=call.fallback, correlation_id=call.correlation_id,
        # Only the redacted text is ever hashed; nothing at all when redaction failed.
        prompt_hash=hashlib.sha256(redaction.text.encode()).hexdigest() if redaction else "",
        redaction_count=redaction.count if redaction else 0,
    )
    ai_call_record(row=row, day=call.day, reserved=call.reserved, actual=call.charged, overrun=call.overrun)
    call.reserved = call.charged = call.overrun = Decimal(0)


def ai_generate(*, company: Company, task_type: str, prompt: str,
                schema: type[pydantic.BaseModel] | dict | None = None, max_tokens: int | None = None,
                temperature: float | None = None, correlation_id: str = "", context: dict | None = None) -> AIResult:
    """Generate with the providers routed for `task_type`, failing over in order; log the call.

    Raises AIError (bad input, 400), BudgetExceeded (the day's cap, when the
    route does not allow the offline provider), AllProvidersFailed,
    ProviderRejectedRequest, StructuredOutputError or RedactionError.
    """
    config = models_config()
    max_tokens, temperature = _check_inputs(config=config, task_type=task_type, prompt=prompt,
                                            max_tokens=max_tokens, temperature=temperature)
    if context is not None and not isinstance(context, dict):
        raise AIError("context must be an object", code="invalid_context", status=400)
    context = context or {}
    if context and len(prompt) + len(json.dumps(context, default=str)) > config.max_prompt_chars:
        raise AIError(f"prompt and context together exceed {config.max_prompt_chars} characters",
                      code="prompt_too_long", status=400)
    call = _Call(company=company, task_type=task_type, prompt=prompt,
                 schema=_schema_for(task_type=task_type, schema=schema, context=context), context=context,
                 max_tokens=max_tokens, temperature=temperature, config=config, correlation_id=correlation_id)
    route_name = task_type
    if call.settings.preference == AIRoutingPreference.Preference.COST_OPTIMIZED:
        route_name = "cost_optimized"
    try:
        call.redaction  # noqa: B018 - fail closed before anything is tried
    except RedactionError as exc:
        _log(call, status=AICall.Status.FAILED, provider="", model="", error=exc.message, error_code=exc.code,
             latency_ms=call.elapsed_ms())
        raise
    try:
        return _walk_route(call, route_name)
    except BaseException:
        if call.reserved:  # an unexpected error between reserve and settle: give the budget back
            with ledger_transaction():
                ai_budget_settle(company=company, day=call.day, reserved=call.reserved, actual=call.charged,
                                 overrun=call.overrun)
        raise


def _walk_route(call: _Call, route_name: str) -> AIResult:
    """Try each provider of the route in order; log the outcome; return the first good answer."""
    config, task_type = call.config, call.task_type
    messages = None
    last_step = None
    for step in config.route(route_name):
        provider = call.provider(step.provider)
        if provider.is_offline:
            reply, hosted_messages = _offline_attempt(call), None
        else:
            skip = provider.unavailable_reason()
            if skip:
                continue  # not configured here: not part of this deployment's route
            if call.budget_error is not None:
                call.reasons[step.provider] = f"skipped: {call.budget_error.message}"
                continue
            cooldown = breaker.cooldown_left(step.provider)
            if cooldown > 0:
                call.reasons[step.provider] = (f"skipped: in cooldown for {cooldown:.0f}s more after: "
                                               f"{breaker.reason(step.provider)}")
                call.fallback = True
                continue
            if call.deadline - time.perf_counter() < MIN_STEP_TIMEOUT_S:
                call.reasons[step.provider] = f"skipped: the call's {config.call_timeout_s:g}s timeout is spent"
                call.fallback = True
                continue
            if messages is None:
                messages = _messages(task_type=task_type, prompt=call.redaction.text, schema=call.schema)
            last_step = step
            try:
                reply, hosted_messages = _hosted_attempt(call, provider, step.model, messages), messages
            except BudgetExceeded as exc:
                call.budget_error = exc
                call.reasons[step.provider] = f"skipped: {exc.message}"
                call.fallback = True
                continue
            except ProviderFailure as exc:
                call.fallback = True
                call.reasons[step.provider] = exc.reason
                if not exc.failover:
                    _log(call, status=AICall.Status.FAILED, provider=step.provider, model=step.model,
                         error=exc.reason, error_code="provider_rejected_request", latency_ms=call.elapsed_ms())
                    raise ProviderRejectedRequest(
                        f"{step.provider} rejected the request: {exc.reason}",
                        details={"provider": step.provider, "status": exc.status}) from exc
                breaker.record_failure(step.provider, reason=exc.reason, threshold=config.breaker_failures,
                                       cooldown_s=config.breaker_cooldown_s, retry_after_s=exc.retry_after_s)
                continue
            if step.provider not in call.misreported:
                breaker.record_success(step.provider)
        try:
            content, data = _finish(call, step, reply, hosted_messages)
        except (StructuredOutputError, BudgetExceeded, ProviderFailure) as exc:
            message = exc.message if isinstance(exc, AIError) else exc.reason
            _log(call, status=AICall.Status.FAILED, provider=step.provider, model=reply.model, error=message,
                 error_code=getattr(exc, "code", "provider_failed"), latency_ms=call.elapsed_ms())
            if isinstance(exc, ProviderFailure):
                raise AllProvidersFailed(task_type=task_type, reasons={step.provider: exc.reason}) from exc
            raise
        if step.provider in call.misreported:
            # The answer is used, but the provider reported more than it may use: it waits out a cooldown.
            breaker.record_failure(step.provider, reason=call.misreported[step.provider], threshold=1,
                                   cooldown_s=config.breaker_cooldown_s)
            call.reasons[step.provider] = call.misreported[step.provider]
        if step.provider == OFFLINE:
            call.tokens_in += reply.tokens_in
            call.tokens_out += reply.tokens_out
        latency_ms = call.elapsed_ms()
        error = "; ".join(f"{name}: {why}" for name, why in call.reasons.items())
        _log(call, status=AICall.Status.SUCCEEDED, provider=step.provider, model=reply.model, error=error,
             error_code="budget_exceeded" if call.budget_error else "", latency_ms=latency_ms)
        return AIResult(content=content, data=data, provider=step.provider, model=reply.model,
                        tokens_in=call.tokens_in, tokens_out=call.tokens_out, cost_usd=call.cost,
                        latency_ms=latency_ms, fallback=call.fallback)

    failed_on = last_step or RouteStep("", "")
    if call.budget_error is not None and all(why.startswith("skipped") for why in call.reasons.values()):
        _log(call, status=AICall.Status.FAILED, provider=failed_on.provider, model=failed_on.model,
             error=call.budget_error.message, error_code="budget_exceeded", latency_ms=call.elapsed_ms())
        raise call.budget_error
    if not call.reasons:
        call.reasons = {s.provider: config.providers[s.provider].unavailable_reason() or "not tried"
                        for s in config.route(route_name)}
    error = AllProvidersFailed(task_type=task_type, reasons=call.reasons)
    _log(call, status=AICall.Status.FAILED, provider=failed_on.provider, model=failed_on.model,
         error=error.message, error_code=error.code, latency_ms=call.elapsed_ms())
    raise error


@transaction.atomic
def ai_routing_preference_set(*, company: Company, preference: str, actor=None, reason: str = "") -> str:
    """Per-company routing override; `cost_optimized` makes every task use the cost_optimized route."""
    if preference not in AIRoutingPreference.Preference.values:
        raise AIError(f"unknown routing preference {preference!r}; use one of "
                      f"{', '.join(AIRoutingPreference.Preference.values)}", code="invalid_preference", status=400)
    row, _ = AIRoutingPreference.objects.select_for_update().get_or_create(company=company)
    row.preference = preference
    changes = model_changes(row, ["preference"])
    if not changes:
        return preference
    config_change_record(
        company=company, actor=actor, actor_label="" if actor else "system", object_type="ai.routing_preference",
        object_id=company.slug, changes=changes, reason=reason,
        expected_effect="every AI task uses the cost_optimized route (cheaper, possibly lower quality)"
        if preference == AIRoutingPreference.Preference.COST_OPTIMIZED else "AI tasks use their own routes again",
    )
    row.save(update_fields=["preference", "updated_at"])
    ai_company_settings_changed(company=company)
    return preference
