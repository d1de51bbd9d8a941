"""Deadlines: the engine's only notion of time passing.

Entries are never removed early: each carries a token that the owner record
still holds only while the timer is meaningful (an accepted offer clears its
token), so a cancelled timer is just skipped when it comes due. Every entry
has a finite lifetime (offer timeout, wrap-up, escalation step, hold, maximum
wait), so the structure stays proportional to live work.

Almost every timer is "now + a fixed delay" (a queue's offer timeout, its
wrap-up, the gap between two escalation steps, its maximum wait), and engine
time never goes backwards, so the timers of one delay come due in the order
they were set: each delay gets a FIFO lane, O(1) to push and pop. Arbitrary
deadlines (preferred-agent holds) go to a heap. A small heap of lane heads
merges everything in (deadline, seq) order, so the firing order is exactly
that of one big heap.

A lane keeps each field in its own list (parallel columns): a float or an
int is not tracked by CPython's cycle collector, where a tuple per timer
would be (three timers per decision, each living for seconds, add up to
more frequent and longer young-generation passes). Lists with a head index,
not deques: mypyc appends to and indexes a list natively, where each deque
call goes through Python's method-call protocol (five per timer).
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush, heapreplace
from typing import Any, Final

OFFER_EXPIRY: Final = 0
WRAP_UP_END: Final = 1
ESCALATION: Final = 2
HOLD_END: Final = 3
MAX_WAIT: Final = 4

# (deadline, seq, kind, token, record); seq is unique, so records are never compared.
TimerEntry = tuple[float, int, int, int, Any]


class _Lane:
    """The timers of one delay, in the order they were set: one list per
    field, appended together; ``head`` is the index of the earliest one.
    Fired slots are cleared and dropped in batches, so a lane holds at most
    about twice its pending timers. O(1) amortised per timer."""

    __slots__ = ("at", "head", "kind", "record", "seq", "token")

    def __init__(self) -> None:
        self.head = 0
        self.at: list[float] = []
        self.seq: list[int] = []
        self.kind: list[int] = []
        self.token: list[int] = []
        self.record: list[Any] = []

    def __len__(self) -> int:
        return len(self.at) - self.head

    def push(self, at: float, seq: int, kind: int, token: int, record: Any) -> None:
        self.at.append(at)
        self.seq.append(seq)
        self.kind.append(kind)
        self.token.append(token)
        self.record.append(record)

    def pop(self) -> TimerEntry:
        i = self.head
        entry = (self.at[i], self.seq[i], self.kind[i], self.token[i], self.record[i])
        self.record[i] = None  # the record may be freed now
        i += 1
        if i >= _DROP_AT and 2 * i >= len(self.at):
            for column in (self.at, self.seq, self.kind, self.token, self.record):
                del column[:i]
            i = 0
        self.head = i
        return entry


# Fired slots at the head of a lane are dropped once there are this many and
# they are at least half of it: a batch amortises the shift of the rest.
_DROP_AT: Final = 1024


class Timers:
    __slots__ = ("_by_delay", "_heads", "_heap", "_lanes", "_last_delay", "_last_lane", "_seq")

    def __init__(self) -> None:
        self._heap: list[TimerEntry] = []
        self._lanes: list[_Lane] = []
        self._by_delay: dict[float, int] = {}  # delay -> index in _lanes
        # The lane used last: most timers in a row share a delay, and a
        # float-keyed dict lookup costs more than the rest of scheduling.
        self._last_delay = -1.0
        self._last_lane = 0
        # (deadline, seq, lane index) of the head of every non-empty lane
        self._heads: list[tuple[float, int, int]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap) + sum(len(lane) for lane in self._lanes)

    def schedule(self, at: float, kind: int, token: int, record: Any) -> None:
        """An arbitrary deadline. O(log n)."""
        self._seq += 1
        heappush(self._heap, (at, self._seq, kind, token, record))

    def schedule_after(self, now: float, delay: float, kind: int, token: int, record: Any) -> None:
        """``now + delay``; ``now`` must never decrease between calls. O(1),
        O(log lanes) when the lane was empty."""
        self._seq += 1
        at = now + delay
        if delay == self._last_delay:
            i = self._last_lane
        else:
            found = self._by_delay.get(delay)
            if found is None:
                i = self._by_delay[delay] = len(self._lanes)
                self._lanes.append(_Lane())
            else:
                i = found
            self._last_delay, self._last_lane = delay, i
        lane = self._lanes[i]
        if not len(lane):
            heappush(self._heads, (at, self._seq, i))
        lane.push(at, self._seq, kind, token, record)

    def next_deadline(self) -> float | None:
        h, heads = self._heap, self._heads
        if h and (not heads or h[0][:2] < heads[0][:2]):
            return h[0][0]
        return heads[0][0] if heads else None

    def due(self, now: float) -> bool:
        """Is a timer due at or before ``now``? O(1)."""
        h, heads = self._heap, self._heads
        return (bool(h) and h[0][0] <= now) or (bool(heads) and heads[0][0] <= now)

    def pop(self) -> TimerEntry:
        """The earliest timer (the caller checked ``due``). O(1) from a lane,
        O(log n) from the heap."""
        h, heads = self._heap, self._heads
        if h and (not heads or h[0][:2] < heads[0][:2]):
            return heappop(h)
        i = heads[0][2]
        lane = self._lanes[i]
        entry = lane.pop()
        if not len(lane):
            heappop(heads)
            return entry
        nxt = (lane.at[lane.head], lane.seq[lane.head], i)
        if len(heads) == 1:
            heads[0] = nxt  # one lane due: no heap call
        else:
            heapreplace(heads, nxt)
        return entry

    def pending(self) -> list[TimerEntry]:
        """Every entry not yet fired, in no particular order (for a
        snapshot: acd.snapshot). O(n)."""
        out = list(self._heap)
        for lane in self._lanes:
            for i in range(lane.head, len(lane.at)):
                out.append((lane.at[i], lane.seq[i], lane.kind[i], lane.token[i], lane.record[i]))
        return out

    def load(self, entries: list[TimerEntry], seq: int) -> None:
        """Start from ``entries`` (a snapshot's), numbered up to ``seq``: they
        go to the heap, later ones to lanes as usual; (deadline, seq) orders
        them all, so they fire exactly as they would have. O(n)."""
        self._heap = list(entries)
        heapify(self._heap)
        self._lanes, self._by_delay, self._heads = [], {}, []
        self._last_delay, self._last_lane = -1.0, 0
        self._seq = seq

    @property
    def seq(self) -> int:
        """Entries scheduled so far (the next one is numbered seq + 1)."""
        return self._seq
