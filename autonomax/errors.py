"""The one application error type; the API maps it to the JSON error shape."""


def error_body(*, code: str, message: str, details=None) -> dict:
    """The one error shape of the API, webhooks and commands: {"error": {"code", "message", "details"}}."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


class AppError(Exception):
    """A domain rule said no. `code` is stable for clients; `status` is the HTTP status."""

    status = 400

    def __init__(self, message: str, *, code: str = "invalid", status: int | None = None, details=None):
        super().__init__(message)
        self.message = message
        self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}

    def as_body(self) -> dict:
        return error_body(code=self.code, message=self.message, details=self.details)


class NotFoundError(AppError):
    status = 404

    def __init__(self, message: str = "Not found.", **kwargs):
        kwargs.setdefault("code", "not_found")
        super().__init__(message, **kwargs)


class ConflictError(AppError):
    status = 409

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "conflict")
        super().__init__(message, **kwargs)
