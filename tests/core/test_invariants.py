"""Invariants over random command sequences (hypothesis stateful testing).

An independent model follows the engine only through its events and checks,
at every offer and after every command:

* capacity never exceeded and channel blocking respected;
* an offer goes to an available agent that meets the contact's current
  (relaxed) requirements and serves its queue;
* a contact is offered to at most one agent at a time, is never lost, and is
  in exactly one state (the model's and the engine's agree);
* no waiting contact has an available, eligible agent (work conservation);
* equally eligible contacts go out in rank, priority, then FIFO order;
* longest-idle picks the agent idle longest;
* replaying the same commands yields identical events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from acd import commands as c
from acd import events as ev
from acd import snapshot
from acd.capacity import CompiledProfile
from acd.engine import Engine
from acd.errors import InvalidRequest
from acd.settings import (
    AgentSpec,
    CapacityProfile,
    ChannelRule,
    ChannelSpec,
    EscalationStep,
    QueueSpec,
    RoutingConfig,
)
from acd.skills import Requirement, merge, normalise, relax

CHANNELS = (ChannelSpec("voice", exclusive=True), ChannelSpec("chat"), ChannelSpec("email"))
PROFILES = (
    CapacityProfile("voice", 100, {"voice": ChannelRule(100, 1)}),
    CapacityProfile("chat", 100, {"chat": ChannelRule(25, 3), "email": ChannelRule(50, 1)}),
    CapacityProfile(
        "blended",
        200,
        {"voice": ChannelRule(100, 1), "chat": ChannelRule(25, 3), "email": ChannelRule(25, 1)},
    ),
)
QUEUES = (
    QueueSpec(
        "q1",
        ("voice", "chat"),
        {"a": 2},
        strategy="longest-idle",
        offer_timeout_s=5,
        wrapup_s=3,
        escalation=(EscalationStep(10, accept_level=1), EscalationStep(20, any_member=True)),
        max_wait_s=50,
        overflow_to="q3",
    ),
    QueueSpec(
        "q2",
        ("chat", "email"),
        {"b": 3},
        weight=1,
        strategy="least-occupied",
        offer_timeout_s=6,
        escalation=(EscalationStep(15, borrow_from=("q1",)),),
        max_size=4,
        overflow_to="q3",
    ),
    QueueSpec(
        "q3",
        ("voice", "chat", "email"),
        {"c": 1},
        strategy="round-robin",
        wrapup_s=2,
        offer_timeout_s=4,
        escalation=(EscalationStep(10, drop_skills=("c",)),),
    ),
    QueueSpec(
        "q4", ("voice",), {"a": 1, "c": 2}, strategy="best-skilled", offer_timeout_s=5, when_closed="leave"
    ),
)
AGENTS = (
    AgentSpec("a1", skills={"a": 3, "b": 1}, profile="blended", queues={"q1": 1, "q3": 2}),
    AgentSpec("a2", skills={"a": 1, "c": 3}, profile="voice", queues={"q1": 1, "q4": 1}),
    AgentSpec("a3", skills={"b": 4, "a": 2}, profile="chat", queues={"q2": 1, "q1": 2}),
    AgentSpec("a4", skills={"b": 3, "c": 1}, profile="blended", queues={"q2": 1, "q3": 1}),
    AgentSpec("a5", skills={"c": 2}, profile="chat", queues={"q3": 1}),
    AgentSpec("a6", skills={"a": 5, "c": 5}, profile="voice", queues={"q4": 1, "q1": 3}),
)
CONFIG = RoutingConfig(CHANNELS, PROFILES, ("a", "b", "c"), QUEUES, AGENTS).validate()
Q = {q.name: q for q in QUEUES}
A = {a.id: a for a in AGENTS}
ORD = {a.id: i for i, a in enumerate(AGENTS)}
PROF = {p.name: CompiledProfile(p, CHANNELS) for p in PROFILES}


@dataclass
class MAgent:
    status: str = "logged-out"
    load: dict[str, str] = field(default_factory=dict)  # contact -> channel
    last: float = float("-inf")
    phone_ok: bool = True  # its phone can take calls (DeviceState)


@dataclass
class MContact:
    queue: str
    channel: str
    prio: int
    extra: Requirement
    line: int  # order of entry into its queue: FIFO among equal priorities
    entered: float
    preferred: str | None
    hold_until: float
    state: str = "queued"
    agent: str | None = None
    declined: set[str] = field(default_factory=set)


def fits(aid: str, load: dict[str, str], channel: str, phone_ok: bool = True) -> bool:
    p = PROF[A[aid].profile]
    if channel not in p.cost or (channel == "voice" and not phone_ok):
        return False
    used = sum(p.cost[ch] for ch in load.values())
    count = sum(1 for ch in load.values() if ch == channel)
    blocked = any(channel in p.blocks[ch] for ch in load.values())
    return used + p.cost[channel] <= p.capacity and count < p.maximum[channel] and not blocked


def steps_at(k: MContact, t: float, strict: bool) -> int:
    waited = t - k.entered
    return sum(1 for s in Q[k.queue].escalation if (s.after < waited if strict else s.after <= waited))


def rank(aid: str, k: MContact, step: int) -> tuple[int, int, int] | None:
    """The agent's rank for the contact at a step, or None if not eligible."""
    spec = A[aid]
    r = relax(merge(normalise(Q[k.queue].skills), k.extra), Q[k.queue].escalation, step)
    if k.channel not in PROF[spec.profile].cost:
        return None
    if any(spec.skills.get(s, 0) < lv for s, lv in r.req):
        return None
    if k.queue in spec.queues:
        return (spec.queues[k.queue], 0, -Q[k.queue].weight)
    lent = [spec.queues[b] for b in r.borrow_from if b in spec.queues]
    return (min(lent), 1, -Q[k.queue].weight) if lent else None


RONA_REASONS = ("timeout", *c.NO_ANSWER_REASONS)


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine(CONFIG)
        self.now = 0.0
        # every command with what it gave: (refusal code or None, events)
        self.log: list[tuple[c.Command, str | None, list[ev.Event]]] = []
        self.agents = {aid: MAgent() for aid in A}
        self.contacts: dict[str, MContact] = {}
        self.pending: dict[str, MContact] = {}
        self.closed: set[str] = set()  # queues outside their opening hours
        self.n = 0
        self.lines = 0  # queue entries seen, as the engine counts them

    # -- driving ------------------------------------------------------------

    @staticmethod
    def run(engine: Engine, cmd: c.Command) -> tuple[str | None, list[ev.Event]]:
        try:
            return None, engine.handle(cmd)
        except InvalidRequest as e:
            return e.code, engine.drain()  # due timers fired before the refusal

    def send(self, cmd: c.Command) -> None:
        """Fire due timers first (a Tick at the same instant), so the events
        of ``cmd`` are its own; then learn agent status from the command, as
        presence events are coalesced to the end of each command."""
        if not isinstance(cmd, c.Tick):
            self.send(c.Tick(cmd.now))
        code, out = self.run(self.engine, cmd)
        self.log.append((cmd, code, out))
        if code is None:
            self.learn_status(cmd)
        self.apply(out)

    def learn_status(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.Login):
            m = self.agents[cmd.agent_id]
            m.status, m.last = ("available" if cmd.away_reason is None else "away"), cmd.now
        elif isinstance(cmd, c.SetAvailable):
            self.agents[cmd.agent_id].status = "available"
        elif isinstance(cmd, c.SetAway):
            self.agents[cmd.agent_id].status = "away"
        elif isinstance(cmd, c.Logout):
            self.agents[cmd.agent_id].status = "logged-out"

    def later(self, dt: int) -> float:
        self.now += dt
        return self.now

    # -- the model ----------------------------------------------------------

    def apply(self, events: list[ev.Event]) -> None:
        for e in events:
            if isinstance(e, ev.AgentPresenceChanged):
                # Coalesced: the net change of the command, after its other events.
                m = self.agents[e.agent_id]
                status = e.presence if e.presence in ("logged-out", "away", "not-responding") else "available"
                assert m.status == status, (e, m.status)
            elif isinstance(e, ev.ContactQueued):
                k = self.contacts.get(e.contact_id) or self.pending.pop(e.contact_id)
                self.contacts[e.contact_id] = k
                if e.reason in ("new", "transfer", "overflow"):
                    self.lines += 1
                    k.entered, k.queue, k.line = e.at, e.queue, self.lines
                assert k.state in ("queued", "limbo"), (e, k.state)
                k.state = "queued"
            elif isinstance(e, ev.ContactOffered):
                self.check_offer(e)
            elif isinstance(e, ev.OfferEnded):
                k = self.contacts[e.contact_id]
                assert k.state == "offered" and k.agent == e.agent_id
                del self.agents[e.agent_id].load[e.contact_id]
                k.state, k.agent = "limbo", None
                if e.reason in RONA_REASONS and self.agents[e.agent_id].status == "available":
                    self.agents[e.agent_id].status = "not-responding"  # RONA
                if e.reason == "rejected":
                    k.declined.add(e.agent_id)
            elif isinstance(e, ev.ContactConnected):
                k = self.contacts[e.contact_id]
                assert k.state == "offered" and k.agent == e.agent_id
                k.state = "connected"
            elif isinstance(e, ev.ContactEnded):
                k = self.contacts[e.contact_id]
                assert k.state == "connected" and k.agent == e.agent_id
                k.state = "wrap-up"
                self.maybe_no_wrap_up(e.agent_id, e.contact_id, e.queue, e.at)
            elif isinstance(e, ev.ContactTransferred):
                if e.by_agent is not None:
                    self.maybe_no_wrap_up(e.by_agent, e.contact_id, e.from_queue, e.at)
                k = self.contacts[e.contact_id]
                k.state, k.agent = "limbo", None
                if e.by_agent is not None:
                    k.declined.add(e.by_agent)
                if e.to_agent in k.declined and e.contact_id not in self.agents[e.to_agent].load:
                    k.declined.discard(e.to_agent)
                if e.to_agent is not None:
                    k.preferred = e.to_agent
                    k.hold_until = float("inf")  # conservative: skip order checks
            elif isinstance(e, ev.WrapUpEnded):
                self.agents[e.agent_id].load.pop(e.contact_id)
                self.agents[e.agent_id].last = e.at
            elif isinstance(e, ev.ContactCompleted):
                assert self.contacts.pop(e.contact_id).state == "wrap-up"
            elif isinstance(e, ev.ContactAbandoned):
                k = self.contacts.pop(e.contact_id)
                assert k.state in ("queued", "limbo")
            elif isinstance(e, ev.ContactOverflowed):
                k = self.contacts.get(e.contact_id) or self.pending.pop(e.contact_id)
                self.contacts[e.contact_id] = k
                k.state = "limbo"
                if e.to_queue is None:
                    del self.contacts[e.contact_id]
            elif isinstance(e, ev.ContactEscalated):
                k = self.contacts[e.contact_id]
                assert steps_at(k, e.at, strict=True) <= e.step <= steps_at(k, e.at, strict=False)

    def maybe_no_wrap_up(self, aid: str, cid: str, queue: str, at: float) -> None:
        """A queue without wrap-up frees the agent at once, with no wrap-up events."""
        if Q[queue].wrapup_s <= 0:
            self.agents[aid].load.pop(cid)
            self.agents[aid].last = at

    def check_offer(self, e: ev.ContactOffered) -> None:
        k = self.contacts[e.contact_id]
        a = self.agents[e.agent_id]
        d = e.decision
        assert k.state == "queued", f"double offer of {e.contact_id}"
        assert k.queue not in self.closed, f"offer from closed queue {k.queue}"
        assert a.status == "available", (e, a.status)
        assert fits(e.agent_id, a.load, k.channel, a.phone_ok), ("capacity", e, a.load)
        assert steps_at(k, e.at, strict=True) <= d.step <= steps_at(k, e.at, strict=False)
        my_rank = rank(e.agent_id, k, d.step)
        assert my_rank is not None, ("not eligible", e)
        assert e.agent_id not in k.declined
        preferred = d.strategy == "preferred-agent" or d.requirement == "preferred agent"
        if not preferred:
            mine = (my_rank, -k.prio, k.entered, k.line)
            for yid, y in self.contacts.items():
                if yid == e.contact_id or y.state != "queued" or e.agent_id in y.declined:
                    continue
                if y.queue in self.closed:
                    continue
                if y.preferred is not None and e.at <= y.hold_until:
                    continue  # may be held for its preferred agent (timers due at
                    # the same instant fire in the order they were set)
                r = rank(e.agent_id, y, steps_at(y, e.at, strict=True))
                if r is None or not fits(e.agent_id, a.load, y.channel, a.phone_ok):
                    continue
                assert (r, -y.prio, y.entered, y.line) > mine, (
                    f"{e.contact_id} offered to {e.agent_id} before better {yid}"
                )
        if d.strategy == "longest-idle":
            for bid, b in self.agents.items():
                if bid == e.agent_id or b.status != "available" or bid in k.declined:
                    continue
                if rank(bid, k, d.step) is None or not fits(bid, b.load, k.channel, b.phone_ok):
                    continue
                assert (b.last, ORD[bid]) > (a.last, ORD[e.agent_id]), (
                    f"longest-idle chose {e.agent_id} over {bid}"
                )
        k.state, k.agent = "offered", e.agent_id
        a.load[e.contact_id] = k.channel
        a.last = e.at

    # -- rules --------------------------------------------------------------

    @rule(aid=st.sampled_from(sorted(A)), away=st.booleans(), dt=st.integers(0, 3))
    def login(self, aid: str, away: bool, dt: int) -> None:
        self.send(c.Login(self.later(dt), aid, "training" if away else None))

    @rule(aid=st.sampled_from(sorted(A)), dt=st.integers(0, 3))
    def logout(self, aid: str, dt: int) -> None:
        self.send(c.Logout(self.later(dt), aid))

    @rule(aid=st.sampled_from(sorted(A)), dt=st.integers(0, 3))
    def available(self, aid: str, dt: int) -> None:
        self.send(c.SetAvailable(self.later(dt), aid))

    @rule(aid=st.sampled_from(sorted(A)), dt=st.integers(0, 3))
    def away(self, aid: str, dt: int) -> None:
        self.send(c.SetAway(self.later(dt), aid, "break"))

    @rule(
        data=st.data(),
        queue=st.sampled_from(sorted(Q)),
        prio=st.integers(0, 3),
        extra=st.sampled_from([(), (("b", 2),), (("c", 4),), (("a", 5),)]),
        preferred=st.sampled_from([None, None, None, "a1", "a3", "a6"]),
        dt=st.integers(0, 3),
    )
    def new_contact(
        self,
        data: st.DataObject,
        queue: str,
        prio: int,
        extra: Requirement,
        preferred: str | None,
        dt: int,
    ) -> None:
        channel = data.draw(st.sampled_from(Q[queue].channels))
        self.n += 1
        cid = f"k{self.n}"
        now = self.later(dt)
        wait = data.draw(st.sampled_from([0.0, 5.0])) if preferred else None
        self.pending[cid] = MContact(
            queue,
            channel,
            prio,
            normalise(extra),
            0,
            now,
            preferred,
            now + (wait or 0.0),
        )
        self.send(c.NewContact(now, cid, queue, channel, "", prio, extra, {}, preferred, wait))
        self.pending.pop(cid, None)  # refused or already moved into the model

    def _assigned(self, state: str) -> list[tuple[str, str]]:
        return sorted((k.agent, cid) for cid, k in self.contacts.items() if k.state == state and k.agent)

    @precondition(lambda self: self._assigned("offered"))
    @rule(data=st.data(), dt=st.integers(0, 4))
    def accept(self, data: st.DataObject, dt: int) -> None:
        aid, cid = data.draw(st.sampled_from(self._assigned("offered")))
        self.send(c.Accept(self.later(dt), aid, cid))

    @precondition(lambda self: self._assigned("offered"))
    @rule(data=st.data(), dt=st.integers(0, 4))
    def reject(self, data: st.DataObject, dt: int) -> None:
        aid, cid = data.draw(st.sampled_from(self._assigned("offered")))
        self.send(c.Reject(self.later(dt), aid, cid))

    @precondition(lambda self: self._assigned("offered"))
    @rule(data=st.data(), timeout=st.sampled_from([None, 2.0, 30.0]), dt=st.integers(0, 2))
    def ringing(self, data: st.DataObject, timeout: float | None, dt: int) -> None:
        """A PBX takes over the ring timer (None: no engine expiry at all)."""
        aid, cid = data.draw(st.sampled_from(self._assigned("offered")))
        self.send(c.Ringing(self.later(dt), aid, cid, timeout))

    @precondition(lambda self: self._assigned("offered"))
    @rule(data=st.data(), reason=st.sampled_from(c.NO_ANSWER_REASONS), dt=st.integers(0, 4))
    def no_answer(self, data: st.DataObject, reason: str, dt: int) -> None:
        aid, cid = data.draw(st.sampled_from(self._assigned("offered")))
        self.send(c.NoAnswer(self.later(dt), aid, cid, reason))

    @rule(aid=st.sampled_from(sorted(A)), usable=st.booleans(), dt=st.integers(0, 2))
    def phone(self, aid: str, usable: bool, dt: int) -> None:
        self.agents[aid].phone_ok = usable  # before: the offers it causes are checked as they come
        self.send(c.DeviceState(self.later(dt), aid, usable))

    @precondition(lambda self: self._assigned("connected"))
    @rule(data=st.data(), dt=st.integers(0, 6))
    def end(self, data: st.DataObject, dt: int) -> None:
        aid, cid = data.draw(st.sampled_from(self._assigned("connected")))
        self.send(c.EndContact(self.later(dt), aid, cid))

    @precondition(lambda self: any(a.load for a in self.agents.values()))
    @rule(data=st.data(), dt=st.integers(0, 2))
    def end_wrap_up(self, data: st.DataObject, dt: int) -> None:
        pairs = sorted((aid, cid) for aid, a in self.agents.items() for cid in a.load)
        aid, cid = data.draw(st.sampled_from(pairs))
        self.send(c.EndWrapUp(self.later(dt), aid, cid))  # often refused: not in wrap-up

    @precondition(lambda self: self.contacts)
    @rule(data=st.data(), dt=st.integers(0, 4))
    def abandon(self, data: st.DataObject, dt: int) -> None:
        cid = data.draw(st.sampled_from(sorted(self.contacts)))
        self.send(c.Abandon(self.later(dt), cid))

    @precondition(lambda self: self.contacts)
    @rule(
        data=st.data(),
        queue=st.sampled_from(sorted(Q)),
        to_agent=st.sampled_from([None, None, "a1", "a4"]),
        dt=st.integers(0, 3),
    )
    def transfer(self, data: st.DataObject, queue: str, to_agent: str | None, dt: int) -> None:
        cid = data.draw(st.sampled_from(sorted(self.contacts)))
        k = self.contacts[cid]
        by = k.agent if k.state == "connected" else None
        self.send(c.Transfer(self.later(dt), cid, by, queue, to_agent, 5.0))  # to itself: refused

    @rule(queue=st.sampled_from(sorted(Q)), is_open=st.booleans(), dt=st.integers(0, 3))
    def opening_hours(self, queue: str, is_open: bool, dt: int) -> None:
        at = self.later(dt)
        self.send(c.Tick(at))  # timers due by then fire while the queue is as it was
        (self.closed.discard if is_open else self.closed.add)(queue)  # before: opening offers at once
        self.send(c.SetQueueOpen(at, queue, is_open))

    @rule(dt=st.integers(1, 15))
    def tick(self, dt: int) -> None:
        self.send(c.Tick(self.later(dt)))

    @rule(aid=st.sampled_from(sorted(A)), cid=st.sampled_from(["k1", "k2", "nope"]))
    def stray_accept(self, aid: str, cid: str) -> None:
        """Bad input from a desktop: refused, nothing changes."""
        self.send(c.Accept(self.now, aid, cid))

    # -- invariants ---------------------------------------------------------

    @invariant()
    def model_matches_engine(self) -> None:
        eng = self.engine
        assert set(eng.contacts) == set(self.contacts)
        for cid, k in self.contacts.items():
            assert eng.contacts[cid].state == k.state, (cid, k.state, eng.contacts[cid].state)
        for aid, m in self.agents.items():
            a = eng.agents[aid]
            assert set(a.assignments) == set(m.load), aid
            assert a.load.used <= a.profile.capacity
            for ch, n in a.load.counts.items():
                assert n <= a.profile.maximum[ch]

    @invariant()
    def class_tops_are_exact(self) -> None:
        """Each routing class's cached top is its best waiting contact's key."""
        for cls in self.engine.classes.values():
            keys = [k.class_key for k in cls.waiting.values()]
            assert cls.top == min(keys, default=0), cls.label
            # ... and the heap's root (RoutingClass.runner_up relies on it).
            assert cls.top == (cls.contacts[0] if cls.contacts else 0), cls.label

    @invariant()
    def no_waiting_contact_with_a_free_eligible_agent(self) -> None:
        for cid, k in self.contacts.items():
            if k.state != "queued" or self.engine.contacts[cid].hold_key or k.queue in self.closed:
                continue
            step = self.engine.contacts[cid].step
            for aid, m in self.agents.items():
                if m.status != "available" or aid in k.declined:
                    continue
                if rank(aid, k, step) is not None and fits(aid, m.load, k.channel, m.phone_ok):
                    raise AssertionError(f"{cid} waits while {aid} is free and eligible")

    def teardown(self) -> None:
        replay = Engine(CONFIG)
        for cmd, code, out in self.log:
            assert self.run(replay, cmd) == (code, out), f"replay diverged at {cmd}"
        self.check_snapshots()

    def check_snapshots(self) -> None:
        """A snapshot taken after any command, through msgpack, gives an
        engine that goes on exactly as this one did: same events, same
        statistics, same places in line (the journal's compaction rests on it)."""
        n = len(self.log)
        for k in sorted({n // 3, n // 2, n - 1} - {0}):
            base = Engine(CONFIG)
            for cmd, _, _ in self.log[:k]:
                self.run(base, cmd)
            state = msgpack.unpackb(msgpack.packb(snapshot.dump(base)), strict_map_key=False)
            restored = snapshot.load(CONFIG, state)
            for cmd, code, out in self.log[k:]:
                assert self.run(restored, cmd) == (code, out), f"restored after {k} diverged at {cmd}"
            assert restored.positions() == self.engine.positions()
            assert snapshot.dump(restored) == snapshot.dump(self.engine)
            for q in Q:
                assert restored.queue_stats(q) == self.engine.queue_stats(q)
            for aid in A:
                assert restored.agent_stats(aid) == self.engine.agent_stats(aid)
            # (next_deadline may differ: timers of finished contacts, no-ops, are not kept)


TestEngineInvariants = EngineMachine.TestCase
