"""The record behind the interval reports: every stay of a contact in a
queue, and every agent's presence intervals, from the engine's events.

A **stay** begins when a contact enters a queue (new, or moved in by a
transfer, an overflow, a hand-off) and ends when it leaves it: answered
and completed (its wrap-up done), transferred on, abandoned, overflowed,
handed off. One row per stay, written when it ends, with its waits and
times; a contact transferred from sales to support is offered (and
counted) in both. An **agent interval** is a span in one presence
(available, offered, busy, wrap-up, away with its reason, not-responding),
from login to logout.

Sans-I/O: events and the wall-clock offset in, finished rows out; O(1) per
event. The thresholds (service level per queue, short abandon) are asked
when a stay ends, so a row says what counted then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from acd import events as ev
from acd.states import LOGGED_OUT

# Offer endings that are not the agent's: the contact went, moved, or the
# configuration changed; the rest (timeout, rejected, busy...) are RONA.
_NOT_RONA = frozenset({"abandoned", "moved", "reconfigured", "agent-not-responding", "accepted"})


@dataclass(frozen=True, slots=True)
class Stay:
    contact_id: str
    queue: str
    channel: str
    entered: float  # Unix time
    came_by: str  # new | transfer | overflow | handoff | reconfigured
    outcome: str  # answered | transferred | abandoned | overflowed | handed-off | moved
    answered: bool
    in_sl: bool  # answered within the queue's service-level threshold
    short: bool  # abandoned within the short-abandon threshold
    wait_s: float  # until answered, or until it left unanswered
    talk_s: float
    wrap_s: float
    agent: str | None
    rona: int  # offers in this stay not answered by their agent
    ended_by: str | None  # customer | agent (answered stays)
    left: float  # Unix time


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    """A customer's post-contact survey score (1-5), counted when it came."""

    contact_id: str
    queue: str
    channel: str
    agent: str
    score: int
    at: float  # Unix time


@dataclass(frozen=True, slots=True)
class AgentInterval:
    agent: str
    presence: str
    reason: str | None
    start: float  # Unix time
    end: float


@dataclass(slots=True)
class _Open:
    queue: str
    channel: str
    entered: float
    came_by: str
    answered_at: float | None = None
    wait_s: float = 0.0
    talk_s: float = 0.0
    wrap_started: float | None = None
    wrap_s: float = 0.0
    agent: str | None = None
    rona: int = 0
    ended_by: str | None = None


@dataclass(frozen=True, slots=True)
class Thresholds:
    service_level_s: Callable[[str], float]  # queue -> its threshold
    short_abandon_s: float = 5.0


class StayRecorder:
    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self._open: dict[str, _Open] = {}
        self._presence: dict[str, tuple[str, str | None, float]] = {}  # agent -> (presence, reason, since)

    def feed(self, events: Sequence[ev.Event], offset: float) -> tuple[list[Stay], list[AgentInterval]]:
        """The rows ``events`` finish; ``offset`` turns engine time into Unix time. O(events)."""
        stays: list[Stay] = []
        intervals: list[AgentInterval] = []
        for e in events:
            handler = _HANDLERS.get(type(e))
            if handler is not None:
                handler(self, e, e.at + offset, stays, intervals)
        return stays, intervals

    def open_stays(self) -> int:
        return len(self._open)

    def open_intervals(self, wall: float) -> list[AgentInterval]:
        """Each logged-in agent's current presence, as an interval ending at
        ``wall`` (a live report counts the lunch still going on). O(agents in)."""
        return [AgentInterval(a, p, r, since, wall) for a, (p, r, since) in self._presence.items()]

    def _close(self, cid: str, outcome: str, wall: float, out: list[Stay]) -> None:
        s = self._open.pop(cid, None)
        if s is None:
            return
        answered = s.answered_at is not None
        wait = s.wait_s if answered else max(0.0, wall - s.entered)
        t = self.thresholds
        out.append(
            Stay(
                cid,
                s.queue,
                s.channel,
                s.entered,
                s.came_by,
                outcome,
                answered,
                answered and wait <= t.service_level_s(s.queue),
                outcome == "abandoned" and wait < t.short_abandon_s,
                wait,
                s.talk_s,
                s.wrap_s,
                s.agent,
                s.rona,
                s.ended_by,
                wall,
            )
        )

    # ------------------------------------------------------------- contacts

    def _queued(self, e: ev.ContactQueued, wall: float, stays: list[Stay], _: Any) -> None:
        old = self._open.get(e.contact_id)
        if old is not None and old.queue == e.queue:
            return  # back in line in the same queue: the same stay
        self._close(e.contact_id, "moved", wall, stays)  # (already closed by its move, as a rule)
        self._open[e.contact_id] = _Open(e.queue, e.channel, wall, e.reason)

    def _offer_ended(self, e: ev.OfferEnded, wall: float, stays: list[Stay], _: Any) -> None:
        s = self._open.get(e.contact_id)
        if s is not None and e.reason not in _NOT_RONA:
            s.rona += 1

    def _connected(self, e: ev.ContactConnected, wall: float, stays: list[Stay], _: Any) -> None:
        s = self._open.get(e.contact_id)
        if s is not None and s.answered_at is None:
            s.answered_at, s.wait_s, s.agent = wall, e.waited_s, e.agent_id

    def _ended(self, e: ev.ContactEnded, wall: float, stays: list[Stay], _: Any) -> None:
        s = self._open.get(e.contact_id)
        if s is not None:
            s.talk_s, s.ended_by = e.handle_s, e.by

    def _wrap_started(self, e: ev.WrapUpStarted, wall: float, stays: list[Stay], _: Any) -> None:
        s = self._open.get(e.contact_id)
        if s is not None and s.agent == e.agent_id:
            s.wrap_started = wall

    def _wrap_ended(self, e: ev.WrapUpEnded, wall: float, stays: list[Stay], _: Any) -> None:
        s = self._open.get(e.contact_id)
        if s is not None and s.agent == e.agent_id and s.wrap_started is not None:
            s.wrap_s = wall - s.wrap_started

    def _completed(self, e: ev.ContactCompleted, wall: float, stays: list[Stay], _: Any) -> None:
        s = self._open.get(e.contact_id)
        if s is not None:
            self._close(e.contact_id, "answered" if s.answered_at is not None else "moved", wall, stays)

    def _transferred(self, e: ev.ContactTransferred, wall: float, stays: list[Stay], _: Any) -> None:
        s = self._open.get(e.contact_id)
        if s is None:
            return
        if s.answered_at is not None and not s.talk_s:
            s.talk_s = wall - s.answered_at  # the talk ends with the transfer (its wrap-up is the agent's)
        self._close(e.contact_id, "transferred" if s.answered_at is not None else "moved", wall, stays)

    def _abandoned(self, e: ev.ContactAbandoned, wall: float, stays: list[Stay], _: Any) -> None:
        self._close(e.contact_id, "abandoned", wall, stays)

    def _overflowed(self, e: ev.ContactOverflowed, wall: float, stays: list[Stay], _: Any) -> None:
        self._close(e.contact_id, "overflowed", wall, stays)

    def _handed_off(self, e: ev.ContactHandedOff, wall: float, stays: list[Stay], _: Any) -> None:
        self._close(e.contact_id, "handed-off", wall, stays)

    # --------------------------------------------------------------- agents

    def _presence_changed(
        self, e: ev.AgentPresenceChanged, wall: float, _: Any, out: list[AgentInterval]
    ) -> None:
        was = self._presence.pop(e.agent_id, None)
        if was is not None:
            out.append(AgentInterval(e.agent_id, was[0], was[1], was[2], wall))
        if e.presence != LOGGED_OUT:
            self._presence[e.agent_id] = (e.presence, e.reason, wall)


_HANDLERS: dict[type, Callable[[StayRecorder, Any, float, list[Stay], list[AgentInterval]], None]] = {
    ev.ContactQueued: StayRecorder._queued,
    ev.OfferEnded: StayRecorder._offer_ended,
    ev.ContactConnected: StayRecorder._connected,
    ev.ContactEnded: StayRecorder._ended,
    ev.WrapUpStarted: StayRecorder._wrap_started,
    ev.WrapUpEnded: StayRecorder._wrap_ended,
    ev.ContactCompleted: StayRecorder._completed,
    ev.ContactTransferred: StayRecorder._transferred,
    ev.ContactAbandoned: StayRecorder._abandoned,
    ev.ContactOverflowed: StayRecorder._overflowed,
    ev.ContactHandedOff: StayRecorder._handed_off,
    ev.AgentPresenceChanged: StayRecorder._presence_changed,
}
