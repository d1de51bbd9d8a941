"""The hub: engine events → frames for the right desktops and customers.

The runner calls :meth:`Hub.on_events` in the single writer after each
command; every event is routed by a table to at most a few outboxes (the
agent's desktop, the customer's sink, each supervisor), so a frame costs
O(1) per recipient and nothing here scans agents or contacts. The hub also
keeps the conversations (customer side of each contact), starts contacts for
the chat adapters, and announces queue positions to waiting customers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import Any

from aiohttp import web

from acd import commands as cmds
from acd import events as ev
from acd.adapters.customers.desk import CustomerDesk
from acd.adapters.daemon.config_file import LimitSettings, QueueOptions
from acd.adapters.daemon.conversations import (
    Conversation,
    ConversationFull,
    Conversations,
    Message,
)
from acd.adapters.daemon.runner import EngineRunner
from acd.adapters.daemon.surveys import Surveys
from acd.adapters.web.outbox import Outbox
from acd.codec import to_wire
from acd.contact_rules import ContactFacts, Rule, apply_rules
from acd.errors import DuplicateContact
from acd.identity import keys
from acd.journal import Journal
from acd.states import AWAY, CONNECTED, LOGGED_OUT, NOT_RESPONDING, WRAP_UP

log = logging.getLogger("acd.hub")

GOING_AWAY = 1001


def estimated_wait(position: int, aht_s: float | None, staffed: int) -> float | None:
    """A rough forecast for a customer: people ahead x handle time / agents
    staffed. None until the queue has a handled contact to learn from, and
    while nobody is staffed (no number is better than a false one)."""
    if aht_s is None or staffed <= 0:
        return None
    return round(position * aht_s / staffed, 1)


# Presences that will take the queue's next contact sooner or later: not
# logged out, not away, not left unanswered (not-responding needs a person first).
_UNSTAFFED = frozenset({LOGGED_OUT, AWAY, NOT_RESPONDING})


def staffed(agents_by_presence: dict[str, int]) -> int:
    return sum(n for p, n in agents_by_presence.items() if p not in _UNSTAFFED)


_NO_OPTIONS = QueueOptions()
_ENGINE_TIMES = ("at", "expires_at", "until")  # event fields on the engine's clock


class Hub:
    def __init__(
        self,
        runner: EngineRunner,
        position_interval_s: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.runner = runner
        self.conversations = Conversations()
        self.desks: dict[str, Outbox] = {}  # agent id -> its connected desktop
        # supervisor streams -> the queues each may see (None: all)
        self.supervisors: dict[Outbox, frozenset[str] | None] = {}
        self.connections: dict[str, set[Outbox]] = {"agent": set(), "customer": set(), "supervisor": set()}
        self.position_interval_s = position_interval_s
        self.wall_clock = wall_clock
        self._positions: dict[str, int] = {}  # last position told to each waiting customer
        self.refusals: Counter[str] = Counter()  # by limit name: what [limits] refused (metrics)
        self.limits = LimitSettings()
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._task: asyncio.Task[None] | None = None
        self.customer_desk: CustomerDesk | None = None  # identity and history, when configured
        self.surveys: Surveys | None = None
        self.rules: tuple[Rule, ...] = ()  # routing rules, in file order
        self.queue_options: Callable[[str], QueueOptions] = lambda queue: _NO_OPTIONS
        self.journal: Journal | None = None  # where conversations go on record (adapters/durable)
        # Whether a contact is a call with a live phone leg (FastAGI, callbacks): the call ends it.
        self.has_call: Callable[[str], bool] = lambda contact_id: False
        # queue -> its staffing forecast, for the wallboard (adapters/daemon/staffing.py)
        self.forecast: Callable[[str], dict[str, Any]] | None = None
        self._routes: dict[type, Callable[[Any], None]] = {
            ev.AgentPresenceChanged: self._presence,
            ev.AgentPhoneChanged: self._phone,
            ev.ContactQueued: self._queued,
            ev.ContactOffered: self._offered,
            ev.OfferEnded: self._offer_ended,
            ev.ContactConnected: self._connected,
            ev.ContactEnded: self._ended,
            ev.WrapUpStarted: self._wrap_up,
            ev.WrapUpEnded: self._wrap_up_ended,
            ev.ContactCompleted: self._completed,
            ev.ContactTransferred: self._transferred,
            ev.ContactAbandoned: self._abandoned,
            ev.ContactOverflowed: self._overflowed,
            ev.ContactHandedOff: self._handed_off,
        }
        runner.listen(self.on_events)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._task = asyncio.create_task(self._announce_positions(), name="acd-positions")

    async def stop(self) -> None:
        """Tell everyone connected that the server is going away, close all."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        boxes = [b for kind in self.connections.values() for b in kind]
        await asyncio.gather(*(b.close(GOING_AWAY, b"server shutdown", bye="shutdown") for b in boxes))

    def outbox(self, ws: web.WebSocketResponse, label: str, limit: int = 2000) -> Outbox:
        """A socket's writer, bounded by ``[limits] outbox_bytes``."""
        return Outbox(ws, label, limit, self.limits.outbox_bytes, self.refusals)

    def track(self, kind: str, box: Outbox) -> None:
        self.connections[kind].add(box)

    def untrack(self, kind: str, box: Outbox) -> None:
        self.connections[kind].discard(box)
        self.supervisors.pop(box, None)

    def connection_counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.connections.items()}

    # ------------------------------------------------------------ contacts

    def new_contact_id(self, origin: str) -> str:
        return f"{origin}-{self._prefix}-{next(self._ids)}"

    async def start_contact(
        self, conv: Conversation, first_text: str | None = None, skills: tuple[tuple[str, int], ...] = ()
    ) -> list[ev.Event]:
        """Register the conversation, identify the customer, apply the routing
        rules, then queue the contact (waiting first for the agent who served
        this customer last). The conversation exists before the engine can
        offer it, so the offer carries it; if the engine refuses, it is
        forgotten again and the error propagates."""
        if conv.contact_id in self.conversations.by_id or conv.contact_id in self.runner.engine.contacts:
            # Checked before anything changes: a refused duplicate must not touch the original.
            raise DuplicateContact(f"contact {conv.contact_id!r} already exists")
        conv.max_chars = self.limits.transcript_chars
        self.conversations.add(conv)  # at once: a second message of the same user finds it
        if first_text:
            conv.add("customer", first_text, self.wall_clock())
        try:
            if self.customer_desk is not None:
                await self.customer_desk.identify(conv)  # bounded: a slow store delays no one long
            wanted = dict(skills)
            if self.rules:
                for s, lvl in self._route(conv, first_text or ""):
                    wanted[s] = max(wanted.get(s, 0), lvl)
            if self.journal is not None:  # on record before its contact is: replay finds both
                self.journal.append({"k": "conv", "c": conv.record()})
                conv.journal = self.journal
            return await self.runner.submit(
                lambda now: cmds.NewContact(
                    now,
                    conv.contact_id,
                    conv.queue,
                    conv.channel,
                    conv.customer,
                    conv.priority,
                    tuple(sorted(wanted.items())),
                    attributes=conv.attributes,
                    preferred_agent=conv.last_agent,
                )
            )
        except Exception:
            self.conversations.remove(conv.contact_id)
            raise

    async def release_contacts(self, agent_id: str) -> None:
        """Before an agent leaves for good (logout, a desktop that did not
        come back): every contact nobody else could end goes back to its
        queue (its conversation and notes travel with it), and its wrap-ups
        end. A call with a live phone leg stays: the call still ends it."""
        engine = self.runner.engine
        if agent_id not in engine.agents:
            return
        for cid, state in engine.agent_stats(agent_id).contacts.items():
            c = engine.contacts.get(cid)
            if state == CONNECTED and c is not None and not self.has_call(cid):
                queue = c.queue
                transfer = partial(cmds.Transfer, contact_id=cid, by_agent=agent_id, to_queue=queue)
                await self.runner.attempt(transfer, "release step skipped")
        # Read again: the transfers above put those contacts in wrap-up too.
        for cid, state in engine.agent_stats(agent_id).contacts.items():
            if state == WRAP_UP:
                done = partial(cmds.EndWrapUp, agent_id=agent_id, contact_id=cid)
                await self.runner.attempt(done, "release step skipped")

    def _route(self, conv: Conversation, text: str) -> tuple[tuple[str, int], ...]:
        """Apply the routing rules: the conversation's queue and priority
        change in place; returns the skills the rules add. O(rules)."""
        p = conv.profile
        ids = frozenset(p.identifiers) if p is not None else frozenset(keys(conv.identity)[0])
        facts = ContactFacts(
            conv.queue, conv.channel, text, conv.attributes, p.attributes if p is not None else {}, ids
        )
        routed = apply_rules(self.rules, facts, self.runner.engine.queues)
        if routed.rules:
            conv.queue = routed.queue
            conv.priority += routed.raise_priority
            conv.rules = routed.rules
            log.info(
                "contact %s: rules %s: queue %s, priority %+d, skills %s",
                conv.contact_id,
                ", ".join(routed.rules),
                routed.queue,
                routed.raise_priority,
                dict(routed.skills) or "-",
            )
        return routed.skills

    def ask_survey(
        self, contact_id: str, queue: str, agent_id: str, user: tuple[str, str] | None = None
    ) -> bool:
        """Open the post-contact survey if the queue has one; True if it does."""
        if self.surveys is None or not self.queue_options(queue).survey:
            return False
        self.surveys.ask(contact_id, queue, agent_id, user)
        return True

    def customer_message(self, conv: Conversation, text: str) -> dict[str, Any]:
        """A customer wrote: keep it, pass it to the connected agent (if any;
        otherwise the agent reads it in the offer's transcript, or at connect)."""
        m = self._add(conv, "customer", text)
        frame = {"type": "message", "contact": conv.contact_id, **m.to_dict()}
        if conv.agent_id is not None:
            self.to_desk(conv.agent_id, frame)
        return frame

    def agent_message(self, conv: Conversation, agent_id: str, text: str) -> dict[str, Any]:
        m = self._add(conv, "agent", text, agent_id)
        conv.to_customer({"type": "message", "contact": conv.contact_id, **m.for_customer(self.agent_name)})
        return {"type": "message", "contact": conv.contact_id, **m.to_dict()}

    def agent_name(self, agent_id: str) -> str:
        """What customers see of an agent: the configured display name."""
        a = self.runner.engine.agents.get(agent_id)
        return a.spec.name if a is not None else "agent"

    def _add(self, conv: Conversation, sender: str, text: str, agent_id: str | None = None) -> Message:
        try:
            return conv.add(sender, text, self.wall_clock(), agent_id)
        except ConversationFull:
            self.refusals["transcript_chars"] += 1
            log.warning("contact %s: transcript full, a %s message refused", conv.contact_id, sender)
            raise

    # ------------------------------------------------------------- routing

    def on_events(self, events: list[ev.Event], seconds: float) -> None:
        """Route each event. O(recipients) per event."""
        sups = self.supervisors
        offset = self.wall_clock() - self.runner.now() if sups else 0.0
        for e in events:
            route = self._routes.get(type(e))
            if route is not None:
                route(e)
            if sups:
                frame = {"type": "event", "event": self._wall_times(to_wire(e), offset)}
                for box, allowed in sups.items():
                    if allowed is None or self._in_scope(e, allowed):
                        box.put(frame)

    def _in_scope(self, e: ev.Event, allowed: frozenset[str]) -> bool:
        """Does a supervisor limited to ``allowed`` queues see this event? O(1)."""
        queue = getattr(e, "queue", None)
        if isinstance(queue, str):
            return queue in allowed or getattr(e, "to_queue", None) in allowed
        agent = self.runner.engine.agents.get(getattr(e, "agent_id", ""))
        return agent is not None and any(q in allowed for q in agent.spec.queues)

    @staticmethod
    def _wall_times(wire: dict[str, Any], offset: float) -> dict[str, Any]:
        """Engine times (a monotonic clock) as Unix time, like every other ``at``. O(fields)."""
        for k in _ENGINE_TIMES:
            if k in wire:
                wire[k] = round(wire[k] + offset, 3)
        return wire

    def to_desk(self, agent_id: str, frame: dict[str, Any]) -> None:
        box = self.desks.get(agent_id)
        if box is not None:
            box.put(frame)

    def end_consult(self, conv: Conversation, reason: str, by: str | None = None) -> None:
        """Close the conversation's consultation, telling both agents (but
        ``by``, who asked)."""
        if conv.consultant is None:
            return
        frame = {"type": "consult-ended", "contact": conv.contact_id, "reason": reason}
        for aid in {conv.consultant, conv.agent_id}:
            if aid is not None and aid != by:
                self.to_desk(aid, frame)
        conv.consultant = None

    def _presence(self, e: ev.AgentPresenceChanged) -> None:
        self.to_desk(
            e.agent_id,
            {"type": "presence", "presence": e.presence, "previous": e.previous, "reason": e.reason},
        )

    def _phone(self, e: ev.AgentPhoneChanged) -> None:
        self.to_desk(e.agent_id, {"type": "phone", "usable": e.reason is None, "reason": e.reason})

    def _queued(self, e: ev.ContactQueued) -> None:
        conv = self.conversations.get(e.contact_id)
        if conv is not None:
            conv.queue = e.queue
            self._positions.pop(e.contact_id, None)  # announce the position again
            conv.to_customer({"type": "queued", "queue": e.queue, "reason": e.reason})

    def offer_frame(self, contact_id: str, queue: str, channel: str, expires_in_s: float) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "type": "offer",
            "contact": contact_id,
            "queue": queue,
            "channel": channel,
            "expires_in_s": round(expires_in_s, 3),
        }
        conv = self.conversations.get(contact_id)
        if conv is not None:
            frame["priority"] = conv.priority
            frame.update(conv.screen_pop())
        return frame

    def _offered(self, e: ev.ContactOffered) -> None:
        self._positions.pop(e.contact_id, None)
        conv = self.conversations.get(e.contact_id)
        if conv is not None:  # what the customer writes from now on reaches the agent at connect
            conv.offered_seq = len(conv.transcript)
        if e.agent_id in self.desks:
            frame = self.offer_frame(e.contact_id, e.queue, e.channel, e.expires_at - e.at)
            frame["decision"] = asdict(e.decision)
            self.desks[e.agent_id].put(frame)

    def _offer_ended(self, e: ev.OfferEnded) -> None:
        self.to_desk(e.agent_id, {"type": "offer-ended", "contact": e.contact_id, "reason": e.reason})

    def _connected(self, e: ev.ContactConnected) -> None:
        conv = self.conversations.get(e.contact_id)
        self.to_desk(e.agent_id, {"type": "connected", "contact": e.contact_id, "queue": e.queue})
        if conv is not None:
            conv.agent_id = e.agent_id
            # Messages the customer sent while the offer rang: after the
            # offer's transcript, before anything live, in order.
            for m in conv.transcript[conv.offered_seq :]:
                if m.sender == "customer":
                    self.to_desk(e.agent_id, {"type": "message", "contact": e.contact_id, **m.to_dict()})
            conv.to_customer({"type": "agent-joined", "agent": {"name": self.agent_name(e.agent_id)}})

    def _ended(self, e: ev.ContactEnded) -> None:
        self.to_desk(e.agent_id, {"type": "ended", "contact": e.contact_id, "by": e.by})
        conv = self.conversations.get(e.contact_id)
        if conv is not None:
            self.end_consult(conv, "contact-ended", by=e.agent_id)
            conv.agent_id = None
            conv.ended = True
            conv.to_customer({"type": "ended", "by": e.by})
            phone = conv.channel in self.runner.engine.phone_channels  # a call is asked over FastAGI
            if e.by == "agent" and conv.sink is not None and not phone:
                user = (conv.origin, conv.external_user) if conv.external_user is not None else None
                if self.ask_survey(conv.contact_id, e.queue, e.agent_id, user):
                    assert self.surveys is not None
                    conv.to_customer(self.surveys.frame())

    def _wrap_up(self, e: ev.WrapUpStarted) -> None:
        self.to_desk(
            e.agent_id, {"type": "wrap-up", "contact": e.contact_id, "seconds": round(e.until - e.at, 3)}
        )

    def _wrap_up_ended(self, e: ev.WrapUpEnded) -> None:
        self.to_desk(e.agent_id, {"type": "wrap-up-ended", "contact": e.contact_id})

    def _completed(self, e: ev.ContactCompleted) -> None:
        self._close(e.contact_id)

    def _close(self, contact_id: str) -> None:
        self._positions.pop(contact_id, None)
        conv = self.conversations.remove(contact_id)
        if conv is not None:
            conv.ended = True

    def _transferred(self, e: ev.ContactTransferred) -> None:
        if e.by_agent is not None:
            self.to_desk(
                e.by_agent,
                {"type": "transferred", "contact": e.contact_id, "queue": e.to_queue, "agent": e.to_agent},
            )
        conv = self.conversations.get(e.contact_id)
        if conv is not None:
            self.end_consult(conv, "transferred", by=e.by_agent)
            conv.agent_id = None
            conv.to_customer({"type": "transferred", "queue": e.to_queue})

    def _handed_off(self, e: ev.ContactHandedOff) -> None:
        conv = self.conversations.get(e.contact_id)
        if conv is not None:
            conv.channel = e.channel
            conv.handed_off = True
            conv.to_customer({"type": "handed-off", "queue": e.to_queue, "reason": e.reason})

    def _abandoned(self, e: ev.ContactAbandoned) -> None:
        self._close(e.contact_id)

    def _overflowed(self, e: ev.ContactOverflowed) -> None:
        if e.to_queue is not None:
            return  # a ContactQueued for the new queue follows
        conv = self.conversations.get(e.contact_id)
        if conv is not None:
            conv.to_customer({"type": "ended", "by": "overflow", "reason": e.reason})
        self._close(e.contact_id)

    # ------------------------------------------------------------ positions

    def announce_positions(self) -> int:
        """Tell each waiting customer with a live sink its place and a wait
        forecast, when it changed. O(W log W) per call. Returns frames sent."""
        engine = self.runner.engine
        positions = engine.positions()
        sent = 0
        stats_cache: dict[str, tuple[float | None, int]] = {}
        for cid, pos in positions.items():
            conv = self.conversations.get(cid)
            if conv is None or conv.sink is None or self._positions.get(cid) == pos:
                continue
            self._positions[cid] = pos
            if conv.queue not in stats_cache:
                s = engine.queue_stats(conv.queue)
                stats_cache[conv.queue] = (s.aht_s, staffed(s.agents))
            aht, working = stats_cache[conv.queue]
            conv.to_customer(
                {"type": "position", "position": pos, "estimated_wait_s": estimated_wait(pos, aht, working)}
            )
            sent += 1
        return sent

    async def _announce_positions(self) -> None:
        while True:
            await asyncio.sleep(self.position_interval_s)
            if self.conversations:
                self.announce_positions()
