"""Etsy: not supported yet. Publishing there answers a clear 422, never a silent success."""

from .base import Channel, ChannelNotSupported


class EtsyChannel(Channel):
    name = "etsy"

    def __init__(self, **_kwargs):
        raise ChannelNotSupported("Publishing to Etsy is not supported yet; use channel 'shopify'.")
