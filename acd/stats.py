"""Real-time statistics, kept incrementally as the engine changes state.

Nothing here scans agents or contacts: counters move on each transition, the
longest wait is the top of a lazily-cleaned heap. Snapshots are plain frozen
dataclasses for the REST API and metrics.

Definitions (the supervisor wall and the metrics use the same ones):

* service level % = answered within the queue's threshold / (answered +
  abandoned), over contacts that entered the queue since start;
* ASA = mean wait of answered contacts; AHT = mean (talk + wrap-up);
* agent occupancy = time holding at least one contact / time logged in and
  not away.
"""

from __future__ import annotations

from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Final

from acd.records import AgentState, ContactState
from acd.states import AWAY, LOGGED_OUT, OFFERED, PRESENCES, QUEUED

# Columns of QueueCounters.by_channel
OFFERS: Final = 0
ANSWERS: Final = 1
ABANDONS: Final = 2

TOTALS = (  # the running totals: kept across a reload, and in a snapshot
    "offered",
    "answered",
    "answered_in_sl",
    "abandoned",
    "overflowed",
    "handled",
    "wait_answered_total",
    "talk_total",
    "wrap_total",
)


class PresenceCounts:
    """A queue's agents by presence. Native ints and a chain of compares:
    a presence change moves one count in each queue the agent serves, which
    as list or dict slots would box and unbox an int object every time."""

    __slots__ = ("available", "away", "busy", "logged_out", "not_responding", "offered", "wrap_up")

    def __init__(self) -> None:
        self.logged_out = 0
        self.available = 0
        self.away = 0
        self.not_responding = 0
        self.offered = 0
        self.busy = 0
        self.wrap_up = 0

    def add(self, code: int, n: int) -> None:
        """``n`` more agents in presence ``code`` (acd.states.PRESENCE_CODE). O(1)."""
        if code == 0:
            self.logged_out += n
        elif code == 1:
            self.available += n
        elif code == 2:
            self.away += n
        elif code == 3:
            self.not_responding += n
        elif code == 4:
            self.offered += n
        elif code == 5:
            self.busy += n
        else:
            self.wrap_up += n

    def counts(self) -> list[int]:
        """In PRESENCES order."""
        return [
            self.logged_out,
            self.available,
            self.away,
            self.not_responding,
            self.offered,
            self.busy,
            self.wrap_up,
        ]


class QueueCounters:
    __slots__ = (
        "abandoned",
        "agents",
        "answered",
        "answered_in_sl",
        "by_channel",
        "connected",
        "handled",
        "name",
        "offered",
        "oldest",
        "oldest_of",
        "overflowed",
        "ringing",
        "talk_total",
        "wait_answered_total",
        "waiting",
        "wrap_total",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.waiting = 0
        self.ringing = 0
        self.connected = 0
        self.offered = 0
        self.answered = 0
        self.answered_in_sl = 0
        self.abandoned = 0
        self.overflowed = 0
        self.handled = 0
        self.wait_answered_total = 0.0
        self.talk_total = 0.0
        self.wrap_total = 0.0
        self.agents = PresenceCounts()
        # channel -> [offered, answered, abandoned]: the per-channel split of the totals
        self.by_channel: dict[str, list[int]] = {}
        # Oldest-waiting heap of the contacts' lines (entry order is wait
        # order): ints, untracked by the cycle collector; oldest_of maps a
        # line to its contact.
        self.oldest: list[int] = []
        self.oldest_of: dict[int, ContactState] = {}

    def count(self, channel: str, which: int) -> None:
        """One more offer / answer / abandon on ``channel``. O(1)."""
        row = self.by_channel.get(channel)
        if row is None:
            row = self.by_channel[channel] = [0, 0, 0]
        row[which] += 1

    def carry_totals(self, old: QueueCounters) -> None:
        """Keep the running totals of the same queue across a reload (the
        gauges are recounted from the contacts)."""
        for name in TOTALS:
            setattr(self, name, getattr(old, name))
        self.by_channel = old.by_channel

    def entered(self, c: ContactState) -> None:
        """O(log n)."""
        heappush(self.oldest, c.line)
        self.oldest_of[c.line] = c

    def longest_wait(self, now: float) -> float:
        """O(1) amortised: stale tops (answered, left) are dropped lazily.
        An entry is live while its contact is still in that stay (same line)
        in this queue, waiting or ringing."""
        h = self.oldest
        while h:
            c = self.oldest_of.get(h[0])
            if c is not None and c.line == h[0] and c.queue == self.name and c.state in (QUEUED, OFFERED):
                return max(0.0, now - c.entered)
            self.oldest_of.pop(heappop(h), None)
        return 0.0


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    name: str
    waiting: int
    ringing: int
    connected: int
    longest_wait_s: float
    agents: dict[str, int]
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    service_level_pct: float | None
    asa_s: float | None
    aht_s: float | None
    open: bool = True


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    id: str
    name: str
    presence: str
    status: str
    reason: str | None
    load: dict[str, int]
    offered: int
    answered: int
    handled: int
    rejected: int
    not_answered: int
    occupancy_pct: float | None
    contacts: dict[str, str]  # contact id -> offered / connected / wrap-up
    phone: str | None = None  # why the agent's phone takes no calls, None when it does


def queue_snapshot(q: QueueCounters, now: float, is_open: bool = True) -> QueueSnapshot:
    finished = q.answered + q.abandoned
    return QueueSnapshot(
        name=q.name,
        waiting=q.waiting,
        ringing=q.ringing,
        connected=q.connected,
        longest_wait_s=q.longest_wait(now),
        agents={p: n for p, n in zip(PRESENCES, q.agents.counts(), strict=True) if n},
        offered=q.offered,
        answered=q.answered,
        abandoned=q.abandoned,
        overflowed=q.overflowed,
        service_level_pct=100.0 * q.answered_in_sl / finished if finished else None,
        asa_s=q.wait_answered_total / q.answered if q.answered else None,
        aht_s=(q.talk_total + q.wrap_total) / q.handled if q.handled else None,
        open=is_open,
    )


def agent_snapshot(a: AgentState, now: float) -> AgentSnapshot:
    staffed = a.logged_in_s - a.away_s
    busy = a.busy_s
    if a.status != LOGGED_OUT:
        staffed += now - a.status_since if a.status != AWAY else 0.0
    if a.busy_since is not None:
        busy += now - a.busy_since
    # Time already accounted in the current status is in logged_in_s/away_s.
    return AgentSnapshot(
        id=a.id,
        name=a.spec.name,
        presence=a.presence,
        status=a.status,
        reason=a.reason,
        load=dict(a.load.counts),
        offered=a.offered,
        answered=a.answered,
        handled=a.handled,
        rejected=a.rejected,
        not_answered=a.rona,
        occupancy_pct=min(100.0, 100.0 * busy / staffed) if staffed > 0 else None,
        contacts={cid: asg.state for cid, asg in a.assignments.items()},
        phone=a.phone,
    )
