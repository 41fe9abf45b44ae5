"""Errors raised by the AI engine; the API maps them to the JSON error shape."""

from autonomax.errors import AppError


class AIError(AppError):
    """Something in the AI engine said no (base of every engine error)."""

    status = 502

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "ai_error")
        super().__init__(message, **kwargs)


class ModelsConfigError(AIError):
    """configs/models.yml is invalid: names the file, the line and the reason."""

    status = 500

    def __init__(self, *, file: str, line: int | None, reason: str):
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {reason}", code="models_config_invalid",
                         details={"file": file, "line": line, "reason": reason})
        self.file, self.line, self.reason = file, line, reason


class AllProvidersFailed(AIError):
    """Every provider in the route failed or was skipped; `reasons` maps provider -> why."""

    status = 503

    def __init__(self, *, task_type: str, reasons: dict[str, str]):
        listed = "; ".join(f"{name}: {why}" for name, why in reasons.items()) or "no provider configured"
        super().__init__(f"All providers failed for task {task_type!r}: {listed}", code="all_providers_failed",
                         details={"task_type": task_type, "providers": reasons})
        self.reasons = reasons


class BudgetExceeded(AIError):
    """A spending cap would be crossed; `budget` names the cap that was hit."""

    status = 429

    def __init__(self, *, budget: str, cap, spent, needed):
        super().__init__(
            f"AI budget exceeded: {budget} (cap {cap} USD, spent or reserved {spent} USD, this call needs up to "
            f"{needed} USD)",
            code="budget_exceeded",
            details={"budget": budget, "cap_usd": str(cap), "spent_usd": str(spent), "needed_usd": str(needed)},
        )
        self.budget = budget


class ProviderRejectedRequest(AIError):
    """A provider refused our request as malformed (4xx): retrying elsewhere would not help."""

    status = 502

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "provider_rejected_request")
        super().__init__(message, **kwargs)


class StructuredOutputError(AIError):
    """The answer did not match the requested schema, even after one retry with the validation error."""

    status = 502

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "structured_output_invalid")
        super().__init__(message, **kwargs)


class RedactionError(AIError):
    """PII redaction failed: the prompt was not sent anywhere (fail closed)."""

    status = 500

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "redaction_failed")
        super().__init__(message, **kwargs)
