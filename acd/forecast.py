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


# ----------------------------------------------------------------- Erlang A

_TAIL = 1e-12  # states and Poisson terms smaller than this are left out
MAX_STAGES = 20_000  # places in line the chain may need before it is called hopeless


@dataclass(frozen=True, slots=True)
class Impatient:
    """Erlang A's figures for ``n`` agents."""

    wait_probability: float  # an arrival finds every agent busy
    abandon_probability: float  # it leaves before an answer
    service_level: float  # answered within the threshold (0..1), of all arrivals
    asa_s: float  # mean wait of those answered


def erlang_a(rate_per_s: float, aht_s: float, patience_s: float, n: int, threshold_s: float) -> Impatient:
    """M/M/n+M (Palm; Garnett, Mandelbaum and Reiman): Poisson arrivals,
    exponential handle times and exponential patience of mean
    ``patience_s``. The stationary law of the birth-death chain (its tail
    cut where it is under 1e-12), and for each place in line the chance to
    be answered within ``threshold_s``: stages of ``n mu + i theta`` to go
    through before one's own patience (``theta``) runs out, by
    uniformisation. O(J x M): J places in line that matter, M Poisson
    terms of the threshold."""
    lam, mu, theta = rate_per_s, 1.0 / aht_s, 1.0 / patience_s
    # pi_k up to n, then the queue: unnormalised, from pi_0 = 1.
    p, probs = 1.0, [1.0]
    for k in range(1, n + 1):
        p *= lam / (k * mu)
        probs.append(p)
    queue: list[float] = []
    base = sum(probs)
    j = 0
    while True:  # the terms shrink once n mu + j theta passes the arrival rate
        j += 1
        p *= lam / (n * mu + j * theta)
        queue.append(p)
        if p < _TAIL * base and n * mu + j * theta > lam:
            break
        if j > MAX_STAGES:  # a line this long at n agents: none answered in time, the rest give up
            return Impatient(1.0, max(0.0, 1.0 - n * mu / lam), 0.0, math.inf)
    total = sum(probs) + sum(queue)
    at_n = probs[n] / total  # arrives with every agent busy and nobody waiting: 0 ahead
    ahead = [at_n] + [q / total for q in queue]  # ahead[i]: arrives with i waiting ahead
    wait = sum(ahead)
    waiting_mean = sum(i * q for i, q in enumerate(ahead))  # E[queue length] (PASTA)
    abandon = theta * waiting_mean / lam
    # Stage i (i ahead): leaves it at r_i = n mu + i theta + theta; moves on with n mu + i theta.
    # Who has more ahead than the threshold lets pass is not answered in time: left out.
    stages = len(ahead)
    rates = [n * mu + (i + 1) * theta for i in range(stages)]
    top = max(rates)
    lt = top * threshold_s
    reachable = min(stages, int(lt + 10 * math.sqrt(lt) + 20))
    served = [0.0] * reachable  # P(answered within m uniformised steps | i ahead)
    within = [0.0] * reachable
    weight = math.exp(-lt)
    m = 0
    while True:
        for i in range(reachable):
            within[i] += weight * served[i]
        m += 1
        weight *= lt / m
        served = [
            (1.0 - rates[i] / top) * served[i] + (n * mu + i * theta) / top * (served[i - 1] if i else 1.0)
            for i in range(reachable)
        ]
        if m > lt and weight < _TAIL:
            break
    answered_in_time = (1.0 - wait) + sum(a * w for a, w in zip(ahead, within, strict=False))
    # Mean wait of the answered: E[W; answered] / P(answered); a stage lasts 1/r_i on average.
    waits, reach = [0.0] * stages, [1.0] * stages  # for i ahead: E[W 1{answered}], P(answered)
    for i in range(stages):
        go = (n * mu + i * theta) / rates[i]
        before_w, before_r = (waits[i - 1], reach[i - 1]) if i else (0.0, 1.0)
        reach[i] = go * before_r
        waits[i] = go * (before_w + before_r / rates[i])
    answered = (1.0 - wait) + sum(a * r for a, r in zip(ahead, reach, strict=True))
    asa = sum(a * w for a, w in zip(ahead, waits, strict=True)) / answered if answered > 0 else math.inf
    return Impatient(wait, abandon, answered_in_time, asa)


def agents_needed_a(
    rate_per_s: float, aht_s: float, patience_s: float, target_pct: float, threshold_s: float
) -> tuple[int, Impatient] | None:
    """The fewest agents whose Erlang A service level (answered within the
    threshold, of every arrival) meets ``target_pct``. Erlang C's answer is
    where the search starts: doubled while it falls short (callers who
    hang up sooner than the threshold count against it), then halved
    down (abandons relieve the line). None without traffic, or beyond
    MAX_AGENTS. O(log n) Erlang A's."""
    if rate_per_s <= 0.0:
        return None

    def meets(n: int) -> Impatient | None:
        got = erlang_a(rate_per_s, aht_s, patience_s, n, threshold_s)
        return got if got.service_level * 100.0 >= target_pct else None

    high = agents_needed(rate_per_s, aht_s, target_pct, threshold_s).agents or MAX_AGENTS
    best = meets(high)
    while best is None:
        if high >= MAX_AGENTS:
            return None
        high = min(MAX_AGENTS, high * 2)
        best = meets(high)
    low = 1
    while low < high:
        mid = (low + high) // 2
        got = meets(mid)
        if got is not None:
            high, best = mid, got
        else:
            low = mid + 1
    return high, best
