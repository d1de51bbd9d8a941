"""A heap of deadlines: the engine's only notion of time passing.

Entries are never removed early: each carries a token that the owner record
still holds only while the timer is meaningful (an accepted offer clears its
token), so a cancelled timer is just skipped when it comes due. Every entry
has a finite lifetime (offer timeout, wrap-up, escalation step, hold, maximum
wait), so the heap stays proportional to live work.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

OFFER_EXPIRY = 0
WRAP_UP_END = 1
ESCALATION = 2
HOLD_END = 3
MAX_WAIT = 4

# (deadline, seq, kind, token, record); seq is unique, so records are never compared.
TimerEntry = tuple[float, int, int, int, Any]


class Timers:
    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[TimerEntry] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, at: float, kind: int, token: int, record: Any) -> None:
        """O(log n)."""
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, token, record))

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> Iterator[TimerEntry]:
        """Yield due entries in deadline order, including ones scheduled while
        iterating that are already due. O(log n) each."""
        h = self._heap
        while h and h[0][0] <= now:
            yield heapq.heappop(h)
