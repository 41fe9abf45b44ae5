"""API rate limits as fixed-window counters: one atomic cache increment per request.

DRF's own throttles keep the time of every request in the window as a list in the cache, read and
rewritten on each request: O(requests per window) work per request (1,200 entries at the default user
rate). A counter per client and window costs the same at any rate. A client can send up to twice the
rate across a window boundary; the limit is a guard against abuse, not an exact quota.
"""

from rest_framework import throttling


class WindowCounterMixin:
    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        key = f"{self.key}:{window}"
        self.cache.add(key, 0, self.duration + 1)
        try:
            count = self.cache.incr(key)
        except ValueError:  # expired between add and incr
            self.cache.set(key, 1, self.duration + 1)
            count = 1
        self.seconds_left = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self) -> float:
        return self.seconds_left


class AnonRateThrottle(WindowCounterMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(WindowCounterMixin, throttling.UserRateThrottle):
    pass
