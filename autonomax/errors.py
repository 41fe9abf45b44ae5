"""The one application error type; the API maps it to the JSON error shape."""


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
