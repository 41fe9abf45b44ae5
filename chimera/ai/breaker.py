"""Circuit breaker per provider, in process memory.

A provider that fails `failure_threshold` times in a row (or answers 429 with
Retry-After) is put in cooldown; calls skip it without waiting until the
cooldown ends, then one success closes the circuit again.
"""

import threading
import time
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0
    reason: str = ""


class CircuitBreaker:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}

    def cooldown_left(self, name: str) -> float:
        """Seconds until `name` may be tried again (0 when it may be tried now)."""
        state = self._states.get(name)
        if state is None:
            return 0.0
        return max(0.0, state.open_until - self._clock())

    def reason(self, name: str) -> str:
        state = self._states.get(name)
        return state.reason if state else ""

    def record_success(self, name: str) -> None:
        if name in self._states:
            with self._lock:
                self._states.pop(name, None)

    def record_failure(self, name: str, *, reason: str, threshold: int, cooldown_s: float,
                       retry_after_s: float | None = None) -> None:
        with self._lock:
            state = self._states.setdefault(name, _State())
            state.failures += 1
            state.reason = reason
            now = self._clock()
            if retry_after_s is not None and retry_after_s > 0:
                state.open_until = max(state.open_until, now + retry_after_s)
            elif state.failures >= threshold:
                state.open_until = max(state.open_until, now + cooldown_s)

    def reset(self) -> None:
        with self._lock:
            self._states.clear()


breaker = CircuitBreaker()
