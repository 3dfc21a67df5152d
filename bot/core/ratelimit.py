"""A per-user sliding-window limit on photos, so one person cannot fill the queue for everyone."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Hashable


class RateLimiter:
    """Allows `limit` events per `window_s` seconds for each key."""

    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: defaultdict[Hashable, deque[float]] = defaultdict(deque)

    def allow(self, key: Hashable) -> bool:
        """Record an event for `key` if it is within the limit; False (and nothing recorded) if not."""
        now = self._clock()
        events = self._events[key]
        while events and now - events[0] >= self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def retry_after_s(self, key: Hashable) -> float:
        """Seconds until `key` may send again (0 when it may now)."""
        events = self._events.get(key)
        if not events or len(events) < self.limit:
            return 0.0
        return max(0.0, self.window_s - (self._clock() - events[0]))
