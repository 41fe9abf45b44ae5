"""AI provider keys a company connects at /settings/connections/: the engine uses them instead of the
environment's (OPENAI_API_KEY, GEMINI_API_KEY, GROQ_API_KEY) for that company's calls."""

import logging

from autonomax.connections import (
    ConnectionCheckFailed,
    ConnectionField,
    ConnectionKind,
    connection_kind_register,
    connection_stored,
)
from autonomax.errors import AppError

from .company_settings import ai_company_settings_changed
from .config import models_config

logger = logging.getLogger(__name__)

KEY_VARIABLES = ("OPENAI_API_KEY", "GEMINI_API_KEY", "GROQ_API_KEY")


def ai_keys_for(*, company) -> dict[str, str]:
    """Key variable name -> the company's own key, for the keys it set."""
    try:
        stored = connection_stored(company=company, kind="ai")
    except AppError as exc:  # undecryptable: the environment's keys still work
        logger.error("AI keys of company %s: %s", company.pk, exc.message)
        return {}
    return {name.upper(): value for name, value in stored.items() if value}


def _ai_check(*, company, values: dict) -> str:
    """List the models of each provider whose key is given: a free call that proves the key."""
    import openai  # noqa: PLC0415

    checked = []
    for variable in KEY_VARIABLES:
        key = values.get(variable.lower(), "")
        providers = [p for p in models_config().providers.values() if p.api_key_env == variable]
        if not key or not providers:
            continue
        provider = providers[0]
        client = openai.OpenAI(base_url=provider.resolved_base_url(), api_key=key, max_retries=0, timeout=15)
        try:
            client.models.list()
        except openai.APIStatusError as exc:
            raise ConnectionCheckFailed(f"{provider.name} refused the key (HTTP {exc.status_code}).") from None
        except openai.APIError as exc:
            raise ConnectionCheckFailed(f"{provider.name} could not be reached: {exc}") from None
        finally:
            client.close()
        checked.append(provider.name)
    if not checked:
        raise ConnectionCheckFailed("Give at least one key.")
    return f"Keys accepted by {', '.join(checked)}."


def _ai_keys_changed(*, company, values=None) -> None:
    ai_company_settings_changed(company=company)


connection_kind_register(ConnectionKind(
    key="ai", label="AI providers", check=_ai_check, order=40, saved=_ai_keys_changed, removed=_ai_keys_changed,
    fields=tuple(ConnectionField(v.lower(), f"{v.split('_')[0].capitalize()} API key", default_setting=v)
                 for v in KEY_VARIABLES),
))
