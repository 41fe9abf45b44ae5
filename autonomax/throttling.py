"""API rate limits as fixed-window counters: one atomic cache increment per request.

DRF's own throttles keep the time of every request in the window as a list in the cache, read and
rewritten on each request: O(requests per window) work per request (1,200 entries at the default user
rate). A counter per client and window costs the same at any rate. A client can send up to twice the
rate across a window boundary; the limit is a guard against abuse, not an exact quota.
"""

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework import throttling


def window_count(key: str, timeout: int) -> int:
    """Count one more request in the window `key` of the default cache (kept `timeout` seconds); returns the
    new count.

    On Redis it is ONE round trip: SET NX EX and INCR in one MULTI/EXEC (Django's add + incr are three:
    SET, EXISTS, INCR). Elsewhere (the embedded default's file cache) the portable add + incr.
    """
    cache = caches["default"]  # this thread's backend (`django.core.cache.cache` is a proxy to it)
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(key)
        with cache._cache.get_client(key, write=True).pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=timeout, nx=True)
            pipe.incr(key)
            return pipe.execute()[1]
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1


class WindowCounterMixin:
    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        count = window_count(f"{self.key}:{window}", self.duration + 1)
        self.seconds_left = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self) -> float:
        return self.seconds_left


class AnonRateThrottle(WindowCounterMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(WindowCounterMixin, throttling.UserRateThrottle):
    pass
