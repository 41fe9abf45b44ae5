"""The small interface every sales channel adapter implements, and its errors."""

from dataclasses import dataclass
from decimal import Decimal

from autonomax.errors import AppError


class ChannelNotConnected(AppError):
    """The company has no (active) connection to this channel."""

    status = 409

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "channel_not_connected")
        super().__init__(message, **kwargs)


class ChannelNotSupported(AppError):
    status = 422

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "channel_not_supported")
        super().__init__(message, **kwargs)


class ChannelError(AppError):
    """The channel's API failed or answered something we cannot trust. Safe to retry."""

    status = 502

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "channel_error")
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class RemoteProduct:
    external_id: str
    title: str
    price: Decimal | None
    status: str
    url: str
    handle: str = ""
    variant_id: str = ""


class Channel:
    """A place products are listed and orders come from."""

    name = ""

    def product_find(self, *, handle: str) -> RemoteProduct | None:
        raise NotImplementedError

    def product_upsert(self, *, external_id: str, handle: str, title: str, description: str, tags: list[str],
                       price: Decimal, active: bool = True) -> RemoteProduct:
        """Create or update the product; `active=False` takes it off sale (archived), keeping its history."""
        raise NotImplementedError

    def product_fetch(self, *, external_id: str) -> RemoteProduct | None:
        raise NotImplementedError
