"""Staffing forecast: how many agents a queue needs to meet its service level.

Erlang C (M/M/n: Poisson arrivals, exponential handle times, nobody hangs
up): with traffic ``a = rate x handle time`` Erlangs and ``n`` agents,

- the probability that a contact waits is ``C(n, a) = n B / (n - a (1 - B))``
  where ``B`` is Erlang B, computed by its recursion
  ``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))`` (stable, no factorials);
- the service level, the share answered within ``t`` seconds, is
  ``1 - C e^{-(n - a) t / aht}``;
- the average speed of answer is ``C aht / (n - a)``.

:func:`agents_needed` walks ``n`` up from the first stable one (``n > a``),
O(n) in all (each step extends the recursion by one). Sans-I/O, pure.

:class:`Arrivals` is the live arrival rate per queue: arrivals in the last
``window_s`` (a deque per queue, trimmed as it is read: O(1) amortised).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

MAX_AGENTS = 100_000  # beyond, a forecast says "more than this" (None)


@dataclass(frozen=True, slots=True)
class Staffing:
    traffic_erlangs: float
    agents: int | None  # the fewest that meet the target; None: more than MAX_AGENTS
    service_level_pct: float  # with that many
    wait_probability: float
    asa_s: float


def erlang_b(a: float, n: int) -> float:
    """Blocking probability of ``n`` servers offered ``a`` Erlangs. O(n)."""
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(a: float, n: int) -> float:
    """Probability that an arrival waits (1.0 when ``n <= a``: the line grows). O(n)."""
    if n <= a:
        return 1.0
    return _c_from_b(erlang_b(a, n), a, n)


def _c_from_b(b: float, a: float, n: int) -> float:
    return n * b / (n - a * (1.0 - b))


def service_level(a: float, n: int, aht_s: float, threshold_s: float) -> float:
    """The share answered within ``threshold_s`` (0..1)."""
    if n <= a:
        return 0.0
    return 1.0 - erlang_c(a, n) * math.exp(-(n - a) * threshold_s / aht_s)


def agents_needed(rate_per_s: float, aht_s: float, target_pct: float, threshold_s: float) -> Staffing:
    """The fewest agents whose service level meets ``target_pct`` within
    ``threshold_s``, at ``rate_per_s`` arrivals of ``aht_s`` handle time. O(n)."""
    a = rate_per_s * aht_s
    if a <= 0.0:
        return Staffing(0.0, 0, 100.0, 0.0, 0.0)
    b = 1.0
    for n in range(1, MAX_AGENTS + 1):
        b = a * b / (n + a * b)
        if n <= a:
            continue
        c = _c_from_b(b, a, n)
        sl = 1.0 - c * math.exp(-(n - a) * threshold_s / aht_s)
        if sl * 100.0 >= target_pct:
            return Staffing(round(a, 3), n, round(sl * 100.0, 2), round(c, 4), round(c * aht_s / (n - a), 1))
    return Staffing(round(a, 3), None, 0.0, 1.0, math.inf)


class Arrivals:
    """Arrivals per queue in the last ``window_s`` seconds (engine time),
    counted from ``started`` (a young daemon's window is shorter)."""

    def __init__(self, started: float, window_s: float = 900.0) -> None:
        self.window_s = window_s
        self.started = started
        self._at: dict[str, deque[float]] = {}

    def add(self, queue: str, at: float) -> None:
        """O(1)."""
        self._at.setdefault(queue, deque()).append(at)

    def rate(self, queue: str, now: float) -> float:
        """Arrivals per second over the window. O(1) amortised."""
        q = self._at.get(queue)
        if not q:
            return 0.0
        while q and q[0] <= now - self.window_s:
            q.popleft()
        span = max(1.0, min(self.window_s, now - self.started))
        return len(q) / span
