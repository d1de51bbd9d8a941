"""Per-client limits: token buckets keyed by client address, bounded in memory.

Every anonymous edge (failed logins, chat starts, sockets per address) asks a
:class:`RateLimit` before doing work. A bucket holds ``burst`` tokens and
refills at ``per_minute``; a refused call returns how long to wait, which
the edge turns into ``429 Retry-After`` or a WebSocket close code. The table
of buckets is an LRU capped at ``max_keys``: a flood from many addresses
evicts the oldest buckets instead of growing memory (an evicted address
starts full again, which only ever errs toward serving).
"""

from __future__ import annotations

from collections import OrderedDict

MAX_KEYS = 100_000


class RateLimit:
    def __init__(self, per_minute: float, burst: int, max_keys: int = MAX_KEYS) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def _tokens(self, key: str, now: float) -> float:
        got = self._buckets.get(key)
        if got is None:
            return self.burst
        tokens, at = got
        return min(self.burst, tokens + (now - at) * self.rate)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may act again; 0 if it may now. O(1)."""
        tokens = self._tokens(key, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, key: str, now: float) -> float:
        """Spend a token: 0 if there was one, else the seconds to wait (and
        nothing spent). O(1) amortised."""
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return 0.0

    def __len__(self) -> int:
        return len(self._buckets)


class Counts:
    """Live counts per key (sockets per address), bounded by what is open."""

    def __init__(self) -> None:
        self._n: dict[str, int] = {}
        self.total = 0

    def get(self, key: str) -> int:
        return self._n.get(key, 0)

    def add(self, key: str) -> None:
        self._n[key] = self._n.get(key, 0) + 1
        self.total += 1

    def remove(self, key: str) -> None:
        n = self._n.get(key, 0) - 1
        if n <= 0:
            self._n.pop(key, None)
        else:
            self._n[key] = n
        self.total -= 1
