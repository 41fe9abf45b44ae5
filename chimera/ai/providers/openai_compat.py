"""Adapter for every OpenAI-compatible chat.completions endpoint (OpenAI, Gemini, Groq, Ollama, vLLM...).

The client's own retries are off (max_retries=0): the engine decides about
failover, cooldown and Retry-After. The `openai` package (0.7 s to import) is imported on the first
call, not when the engine is imported by the admin, the API or a management command.
"""

from __future__ import annotations

import threading
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from django.utils import timezone

if TYPE_CHECKING:
    import openai

from ..config import ProviderConfig
from .base import ProviderFailure, ProviderReply

_clients: dict[tuple[str, str], openai.OpenAI] = {}
_lock = threading.Lock()

# 4xx that mean the request itself was wrong: another provider would refuse it too.
_REQUEST_FAULTS = {400, 413, 422}


def _client(provider: ProviderConfig) -> openai.OpenAI:
    """One client (and connection pool) per endpoint and key, reused across calls."""
    key = (provider.resolved_base_url(), provider.api_key())
    client = _clients.get(key)
    if client is None:
        import openai  # noqa: PLC0415

        with _lock:
            client = _clients.get(key)
            if client is None:
                client = openai.OpenAI(base_url=key[0], api_key=key[1], max_retries=0, timeout=provider.timeout_s)
                _clients[key] = client
    return client


def openai_clients_reset() -> None:
    """Drop the cached clients (after a config change, or when endpoints went away)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def _retry_after_s(headers) -> float | None:
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            pass
        try:
            return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
        except (TypeError, ValueError):
            pass
    return None


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    message = error.get("message") if isinstance(error, dict) else None
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    text = str(message or exc.message)[:300]
    return f"HTTP {exc.status_code}{f' {code}' if code else ''}: {text}"


def openai_chat(*, provider: ProviderConfig, model: str, messages: list[dict], max_tokens: int,
                temperature: float, timeout_s: float, json_mode: bool) -> ProviderReply:
    import openai  # noqa: PLC0415  (already loaded after the first call: a dictionary look-up)

    kwargs = {}
    if json_mode:
        kwargs["response_format"] = {"type": "json_object"}
    try:
        completion = _client(provider).chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens, temperature=temperature, timeout=timeout_s,
            **kwargs,
        )
    except openai.APITimeoutError as exc:
        raise ProviderFailure(f"timed out after {timeout_s:.1f}s") from exc
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        raise ProviderFailure(f"connection failed: {type(cause).__name__}: {cause}"[:300]) from exc
    except openai.APIStatusError as exc:
        status = exc.status_code
        raise ProviderFailure(
            _error_message(exc), status=status, failover=status not in _REQUEST_FAULTS,
            retry_after_s=_retry_after_s(exc.response.headers) if status in (429, 503) else None,
        ) from exc
    except openai.OpenAIError as exc:  # e.g. a 200 whose body is not a chat completion
        raise ProviderFailure(f"bad response: {type(exc).__name__}: {exc}"[:300]) from exc
    if not getattr(completion, "choices", None):
        raise ProviderFailure("bad response: not a chat completion with choices")
    usage = completion.usage
    return ProviderReply(
        content=completion.choices[0].message.content or "",
        model=completion.model or model,
        tokens_in=usage.prompt_tokens if usage else 0,
        tokens_out=usage.completion_tokens if usage else 0,
        usage_reported=usage is not None,
    )
