"""What every provider adapter returns or raises."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderReply:
    content: str
    model: str
    tokens_in: int
    tokens_out: int
    # False when the server sent no `usage` (some local servers): the engine then charges its estimate.
    usage_reported: bool = True


class ProviderFailure(Exception):
    """A provider could not answer.

    `failover` says whether the next provider in the route should be tried
    (timeouts, refused connections, 429, 5xx, bad credentials) or whether the
    request itself was at fault and another provider would refuse it too.
    """

    def __init__(self, reason: str, *, failover: bool = True, retry_after_s: float | None = None,
                 status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.failover = failover
        self.retry_after_s = retry_after_s
        self.status = status
