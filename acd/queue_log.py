"""Asterisk's ``queue_log``, written from the engine's events, for every channel.

Reporting tools that Asterisk admins already own (QueueMetrics, Asternic,
Wazo's call-centre statistics) read app_queue's ``queue_log``. We write the
same lines, so they report on the ACD too: the layout of Asterisk 22's
``main/logger.c`` (``time|callid|queue|agent|event|data...``, no escaping,
whole seconds), the events and data fields of its ``apps/app_queue.c``, as
captured from a real Asterisk 22.10.1 (tests/fixtures/queue_log/).

What differs, and why (docs/reports.md):

- the call id is the call's Asterisk Uniqueid (lines join its CDRs); a
  contact of another channel has its contact id;
- ENTERQUEUE's first data field, the Queue() URL (always empty for our
  calls), carries the channel of every other contact (``chat``,
  ``email``...): the same tools then report every channel, and can tell
  them apart;
- CONNECT's second field, the member channel's Uniqueid, is the agent's id
  (the ACD dials the agent; no member channel of app_queue exists);
- a position is a contact's place by arrival among those waiting in its
  queue (app_queue's is the same unless priorities reorder the line).

Sans-I/O: events and the wall-clock offset in, lines out. O(1) per event,
except ABANDON and EXIT* (O(waiting in that queue): the place in line).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from acd import events as ev
from acd.states import AWAY, LOGGED_OUT


@dataclass(slots=True)
class _Waiting:
    """What a line needs of a contact between its ENTERQUEUE and its end."""

    queue: str
    callid: str
    entered: int  # wall seconds
    position: int  # on entry
    offered: float | None = None  # wall time the current offer began to ring
    connected: int | None = None
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class Directory:
    """What the lines name, looked up in the daemon's state (each O(1))."""

    callid: Callable[[str], str]  # contact id -> Uniqueid of its call, or itself (asked at ENTERQUEUE)
    phone: Callable[[str], bool]  # channel -> is it a phone channel
    member: Callable[[str], str]  # agent id -> member name (its display name)
    queues: Callable[[str], Sequence[str]]  # agent id -> the queues it serves


# A value cannot add a field or a line: a reason an agent typed, a name.
# (Asterisk does the same to a caller's name: "|" becomes "_".)
_CLEAN = str.maketrans({"|": "_", "\n": " ", "\r": " "})
EXIT_EVENTS = {"max-wait": "EXITWITHTIMEOUT", "no-agents": "EXITEMPTY"}


class QueueLog:
    def __init__(self, names: Directory) -> None:
        self.names = names
        self._open: dict[str, _Waiting] = {}
        self._lines: dict[str, dict[str, None]] = {}  # queue -> contacts waiting, by arrival
        self._logins: dict[str, int] = {}  # agent -> when it logged in (wall seconds)
        self._paused: set[str] = set()

    @staticmethod
    def line(at: int, callid: str, queue: str, agent: str, event: str, *data: object) -> str:
        """One line, as logger.c writes it: an event with no data still ends
        with the separator."""
        head = "|".join(x.translate(_CLEAN) for x in (callid, queue, agent))
        fields = "|".join(str(d).translate(_CLEAN) for d in data)
        return f"{at}|{head}|{event}|{fields}"

    def start(self, wall: float) -> str:
        return self.line(int(wall), "NONE", "NONE", "NONE", "QUEUESTART")

    def reload(self, wall: float) -> str:
        return self.line(int(wall), "NONE", "NONE", "NONE", "CONFIGRELOAD")

    def lines(self, events: Sequence[ev.Event], offset: float) -> list[str]:
        """The lines of ``events``; ``offset`` turns engine time into Unix time."""
        out: list[str] = []
        for e in events:
            handler = _HANDLERS.get(type(e))
            if handler is not None:
                handler(self, e, e.at + offset, out)
        return out

    # ------------------------------------------------------------- contacts

    def _queued(self, e: ev.ContactQueued, wall: float, out: list[str]) -> None:
        line = self._lines.setdefault(e.queue, {})
        old = self._open.get(e.contact_id)
        if old is not None and old.queue == e.queue:
            # Back in line (an offer not answered, a release): the same stay.
            old.connected = None
            line.setdefault(e.contact_id, None)
            return
        if old is not None:  # moved (a transfer, an overflow, a hand-off): a new stay in a new queue
            self._lines.get(old.queue, {}).pop(e.contact_id, None)
        line[e.contact_id] = None
        n = self.names
        callid = old.callid if old is not None else n.callid(e.contact_id)
        w = _Waiting(e.queue, callid, int(wall), len(line))
        self._open[e.contact_id] = w
        # A call: the caller's number, as app_queue writes it. Another
        # channel: the channel where the URL goes, and no claimed identity.
        url, caller = ("", e.customer) if n.phone(e.channel) else (e.channel, "")
        out.append(self.line(w.entered, callid, e.queue, "NONE", "ENTERQUEUE", url, caller, w.position))

    def _offered(self, e: ev.ContactOffered, wall: float, out: list[str]) -> None:
        w = self._open.get(e.contact_id)
        if w is not None:
            w.offered = wall

    def _offer_ended(self, e: ev.OfferEnded, wall: float, out: list[str]) -> None:
        w = self._open.get(e.contact_id)
        if w is None or w.offered is None or e.reason in ("accepted", "moved", "reconfigured"):
            return
        rang_ms = int((wall - w.offered) * 1000)
        w.offered = None
        event = "RINGCANCELED" if e.reason == "abandoned" else "RINGNOANSWER"
        n = self.names
        out.append(self.line(int(wall), w.callid, w.queue, n.member(e.agent_id), event, rang_ms))

    def _connected(self, e: ev.ContactConnected, wall: float, out: list[str]) -> None:
        w = self._open.get(e.contact_id)
        if w is None:
            return
        now = int(wall)
        rang = now - int(w.offered) if w.offered is not None else 0
        w.offered, w.connected, w.agent = None, now, e.agent_id
        self._lines.get(w.queue, {}).pop(e.contact_id, None)
        n = self.names
        out.append(
            self.line(
                now,
                w.callid,
                w.queue,
                n.member(e.agent_id),
                "CONNECT",
                now - w.entered,
                e.agent_id,
                rang,
            )
        )

    def _ended(self, e: ev.ContactEnded, wall: float, out: list[str]) -> None:
        w = self._open.get(e.contact_id)
        if w is None or w.connected is None:
            return
        now = int(wall)
        event = "COMPLETECALLER" if e.by == "customer" else "COMPLETEAGENT"
        n = self.names
        out.append(
            self.line(
                now,
                w.callid,
                w.queue,
                n.member(e.agent_id),
                event,
                w.connected - w.entered,
                now - w.connected,
                w.position,
            )
        )
        w.connected = None

    def _transferred(self, e: ev.ContactTransferred, wall: float, out: list[str]) -> None:
        w = self._open.get(e.contact_id)
        if w is None or w.connected is None or w.agent is None:
            return
        now = int(wall)
        exten, context = (e.to_agent, "agent") if e.to_agent is not None else (e.to_queue, "queue")
        n = self.names
        out.append(
            self.line(
                now,
                w.callid,
                w.queue,
                n.member(w.agent),
                "BLINDTRANSFER",
                exten,
                context,
                w.connected - w.entered,
                now - w.connected,
                w.position,
            )
        )
        w.connected = None

    def _left(self, contact_id: str, wall: float, out: list[str], event: str, *before: object) -> None:
        """A caller-only exit (ABANDON, EXIT*): ``position|origposition|waittime``."""
        w = self._open.pop(contact_id, None)
        if w is None:
            return
        line = self._lines.get(w.queue, {})
        place = list(line).index(contact_id) + 1 if contact_id in line else w.position
        line.pop(contact_id, None)
        now = int(wall)
        out.append(
            self.line(
                now,
                w.callid,
                w.queue,
                "NONE",
                event,
                *before,
                place,
                w.position,
                now - w.entered,
            )
        )

    def _abandoned(self, e: ev.ContactAbandoned, wall: float, out: list[str]) -> None:
        self._left(e.contact_id, wall, out, "ABANDON")

    def _overflowed(self, e: ev.ContactOverflowed, wall: float, out: list[str]) -> None:
        # Into another queue or out: it left this one (an ENTERQUEUE there follows).
        self._left(e.contact_id, wall, out, EXIT_EVENTS.get(e.reason, "EXITWITHTIMEOUT"))

    def _completed(self, e: ev.ContactCompleted, wall: float, out: list[str]) -> None:
        w = self._open.pop(e.contact_id, None)
        if w is not None:
            self._lines.get(w.queue, {}).pop(e.contact_id, None)

    # --------------------------------------------------------------- agents

    def _presence(self, e: ev.AgentPresenceChanged, wall: float, out: list[str]) -> None:
        n, now = self.names, int(wall)
        name = n.member(e.agent_id)
        if e.previous == LOGGED_OUT:
            self._logins[e.agent_id] = now
            out.append(self.line(now, "NONE", "NONE", name, "AGENTLOGIN", e.agent_id))
        if e.presence == AWAY and e.agent_id not in self._paused:
            self._paused.add(e.agent_id)
            reason = e.reason or ""
            out.append(self.line(now, "NONE", "NONE", name, "PAUSEALL", reason))
            out.extend(self.line(now, "NONE", q, name, "PAUSE", reason) for q in n.queues(e.agent_id))
        elif e.presence != AWAY and e.agent_id in self._paused:
            self._paused.discard(e.agent_id)
            out.append(self.line(now, "NONE", "NONE", name, "UNPAUSEALL", ""))
            out.extend(self.line(now, "NONE", q, name, "UNPAUSE", "") for q in n.queues(e.agent_id))
        if e.presence == LOGGED_OUT:
            since = self._logins.pop(e.agent_id, now)
            out.append(self.line(now, "NONE", "NONE", name, "AGENTLOGOFF", e.agent_id, now - since))


_HANDLERS: dict[type, Callable[[QueueLog, Any, float, list[str]], None]] = {  # O(1) per event
    ev.ContactQueued: QueueLog._queued,
    ev.ContactOffered: QueueLog._offered,
    ev.OfferEnded: QueueLog._offer_ended,
    ev.ContactConnected: QueueLog._connected,
    ev.ContactEnded: QueueLog._ended,
    ev.ContactTransferred: QueueLog._transferred,
    ev.ContactAbandoned: QueueLog._abandoned,
    ev.ContactOverflowed: QueueLog._overflowed,
    ev.ContactCompleted: QueueLog._completed,
    ev.AgentPresenceChanged: QueueLog._presence,
}
