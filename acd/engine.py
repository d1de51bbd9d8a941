"""The routing engine: commands in, events out, no I/O.

Drive it like h11's ``Connection``: ``events = engine.handle(command)``. Each
command carries ``now``; timers that fall due up to ``now`` fire first (in
deadline order, events stamped with their deadline), then the command applies.
The engine never reads a clock, a socket or a file; the same commands in the
same order produce the same state and the same events.

If a command is refused (an :class:`~acd.errors.InvalidRequest`), nothing it
would have changed has changed; events from timers that fired before it stay
pending and are returned by the next ``handle`` (or ``drain``).

Dispatch keeps one invariant (see :mod:`acd.routing`): after every command,
no waiting contact has an available agent that is eligible for it, except an
agent that declined it or a contact held for its preferred agent. So a
decision is taken when something changes, at the cost of a heap lookup.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Sequence
from operator import attrgetter, itemgetter
from typing import Final, cast

from acd.capacity import CompiledProfile, Load
from acd.commands import (
    COMMAND_TYPES,
    NO_ANSWER_REASONS,
    Abandon,
    Accept,
    Command,
    DeviceState,
    EndContact,
    EndWrapUp,
    Login,
    Logout,
    NewContact,
    NoAnswer,
    Reject,
    Ringing,
    SetAvailable,
    SetAway,
    SetQueueOpen,
    Tick,
    Transfer,
)
from acd.errors import (
    ChannelNotAllowed,
    ConfigError,
    DuplicateContact,
    InvalidRequest,
    InvalidTransition,
    NotYourContact,
    QueueClosed,
    QueueFull,
    TransferLoop,
    UnknownAgent,
    UnknownCommand,
    UnknownContact,
    UnknownQueue,
)
from acd.events import (
    AgentPhoneChanged,
    AgentPresenceChanged,
    ContactAbandoned,
    ContactCompleted,
    ContactConnected,
    ContactEnded,
    ContactEscalated,
    ContactHandedOff,
    ContactOffered,
    ContactOverflowed,
    ContactQueued,
    ContactTransferred,
    Decision,
    Event,
    OfferEnded,
    QueueOpenChanged,
    WrapUpEnded,
    WrapUpStarted,
)
from acd.explain import Explanation, explain
from acd.records import (
    HELD_RANK,
    LINE_LIMIT,
    LINE_MASK,
    AgentState,
    Assignment,
    ClassRank,
    ContactKey,
    ContactState,
    class_rank,
    contact_key,
    key_priority,
    profile_rank,
)
from acd.routing import BEST_SKILLED, RoutingClass, seconds
from acd.settings import HANDOFF_CHANNEL, MAX_LEVEL, MAX_PRIORITY, MIN_LEVEL, QueueSpec, RoutingConfig
from acd.skills import Relaxed, Requirement, meets, merge, normalise, relax, score
from acd.states import (
    ABANDONED,
    AVAILABLE,
    CONNECTED,
    LOGGED_OUT,
    NOT_RESPONDING,
    OFFERED,
    OVERFLOWED,
    PRESENCES,
    QUEUED,
    WRAP_UP,
    agent_step,
    assignment_step,
    contact_step,
    presence,
)
from acd.stats import (
    ABANDONS,
    ANSWERS,
    OFFERS,
    AgentSnapshot,
    QueueCounters,
    QueueSnapshot,
    agent_snapshot,
    queue_snapshot,
)
from acd.timers import ESCALATION, HOLD_END, MAX_WAIT, OFFER_EXPIRY, WRAP_UP_END, Timers

_NO_CHANNELS: Final[tuple[str, ...]] = ()


# Above every ClassRank: "no best / runner-up yet" in Engine._choose.
_COMMAND_TYPES: Final = frozenset(COMMAND_TYPES)
_NO_RANK: Final[ClassRank] = (1 << 62) - 1  # the largest int mypyc keeps unboxed: compares inline
_class_rank_of = itemgetter(1)


def _compile_profiles(config: RoutingConfig) -> dict[str, CompiledProfile]:
    return {p.name: CompiledProfile(p, config.channels) for p in config.profiles}


def _line_order(c: ContactState) -> tuple[int, int]:
    """Queue order when several contacts are placed at once: priority, then
    order of entry into the queue."""
    return (-c.priority, c.line)


class Engine:
    def __init__(self, config: RoutingConfig, now: float = 0.0) -> None:
        config.validate()
        self.now = now
        self.agents: dict[str, AgentState] = {}
        self.closed: set[str] = set()  # queues outside their opening hours
        self._install(config, now, _compile_profiles(config))
        self.contacts: dict[str, ContactState] = {}
        self.timers = Timers()
        self._line = 0  # queue entries so far: the contacts' lines
        self.line_limit = LINE_LIMIT  # lines are renumbered before reaching it
        self._token = 0
        self._offer_seq = 0
        self._out: list[Event] = []
        self._dirty: list[AgentState] = []  # agents whose presence may have changed
        # Totals since start (``counters``); native ints, bumped on every command.
        self.n_commands = 0
        self.n_offers = 0
        self.n_refused = 0

    def _install(self, config: RoutingConfig, now: float, profiles: dict[str, CompiledProfile]) -> None:
        """Build every index from ``config``. Agents already in ``self.agents``
        keep their runtime record (status, assignments, statistics); new ones
        start logged out; the caller has removed the others. Routing classes
        start empty and fill as contacts are placed. O(agents x queues)."""
        self.config = config
        self.queues: dict[str, QueueSpec] = {q.name: q for q in config.queues}
        self.qstats: dict[str, QueueCounters] = {q.name: QueueCounters(q.name) for q in config.queues}
        self.closed &= self.queues.keys()
        self.profiles = profiles
        # Channels that ring a phone: closed while the agent's phone is unusable.
        self.phone_channels = frozenset(
            c.name for c in config.channels if c.name == "voice" or c.like == "voice"
        )
        old = self.agents
        self.agents = {}
        # queue -> agents serving it, and queue -> skill -> those holding it (config order)
        self.members: dict[str, list[AgentState]] = {q.name: [] for q in config.queues}
        self._by_skill: dict[str, dict[str, list[AgentState]]] = {q.name: {} for q in config.queues}
        for i, spec in enumerate(config.agents):
            a = old.get(spec.id)
            if a is None:
                a = AgentState(spec, i, self.profiles[spec.profile])
                a.status_since = now
            else:
                a.spec, a.ordinal, a.profile = spec, i, self.profiles[spec.profile]
                a.load = Load()
                for asg in a.assignments.values():
                    a.load.add(a.profile, asg.channel)
                a.classes = {}
                a.held = {}
                a.rr = {q: n for q, n in a.rr.items() if q in self.queues}
                a.avail = self._channels_now(a)
                a.stamp += 1
            a.queue_counts = [self.qstats[qn].agents for qn in spec.queues]
            self.agents[spec.id] = a
            for qn in spec.queues:
                self.members[qn].append(a)
                self.qstats[qn].agents.add(a.presence_code, 1)
                for skill in spec.skills:
                    self._by_skill[qn].setdefault(skill, []).append(a)
        self._roster = list(self.agents.values())  # by ordinal: configuration order
        self._queue_req: dict[str, Requirement] = {q.name: normalise(q.skills) for q in config.queues}
        self._skills = frozenset(config.skills)
        self.classes: dict[tuple[str, str, Requirement, tuple[str, ...]], RoutingClass] = {}
        # (queue, channel, base requirement) -> (class, priority boost) by
        # escalation step, filled as contacts reach each step. A contact keeps
        # its row while it waits: an escalation indexes it, no key is hashed.
        self._routes: dict[tuple[str, str, Requirement], list[tuple[RoutingClass, int] | None]] = {}

    # ------------------------------------------------------------------ API

    def handle(self, command: Command) -> list[Event]:
        """Apply one command; return the events it (and due timers) caused."""
        if type(command) not in _COMMAND_TYPES:
            raise UnknownCommand(f"not an engine command: {type(command).__name__}")
        now = command.now if command.now > self.now else self.now
        if self.timers.due(now):
            self._fire_due(now)
        self.now = now
        self.n_commands += 1
        try:
            self._dispatch(command, now)
        except InvalidRequest:
            self.n_refused += 1
            raise
        finally:
            self._flush_presence(now)
        return self.drain()

    @property
    def counters(self) -> dict[str, int]:
        """Commands handled, refused, and offers made, since start."""
        return {"commands": self.n_commands, "offers": self.n_offers, "refused": self.n_refused}

    def _dispatch(self, command: Command, now: float) -> None:
        """To the command's handler: isinstance tests, most frequent first,
        compile to type checks and direct native calls (a table of bound
        methods would go through Python's call protocol). O(1)."""
        if isinstance(command, Tick):
            return  # due timers have fired in handle
        if isinstance(command, Accept):
            self._on_accept(command, now)
        elif isinstance(command, EndContact):
            self._on_end_contact(command, now)
        elif isinstance(command, NewContact):
            self._on_new_contact(command, now)
        elif isinstance(command, EndWrapUp):
            self._on_end_wrap_up(command, now)
        elif isinstance(command, Ringing):
            self._on_ringing(command, now)
        elif isinstance(command, Abandon):
            self._on_abandon(command, now)
        elif isinstance(command, Reject):
            self._on_reject(command, now)
        elif isinstance(command, NoAnswer):
            self._on_no_answer(command, now)
        elif isinstance(command, SetAvailable):
            self._on_set_available(command, now)
        elif isinstance(command, SetAway):
            self._on_set_away(command, now)
        elif isinstance(command, Login):
            self._on_login(command, now)
        elif isinstance(command, Logout):
            self._on_logout(command, now)
        elif isinstance(command, DeviceState):
            self._on_device_state(command, now)
        elif isinstance(command, Transfer):
            self._on_transfer(command, now)
        elif isinstance(command, SetQueueOpen):
            self._on_set_queue_open(command, now)

    def reconfigure(self, config: RoutingConfig, now: float) -> list[Event]:
        """Apply a new configuration without losing a contact.

        Check first: a :class:`ConfigError` listing every problem, and nothing
        changed, if an agent to be removed still has a conversation open, if
        an agent's new profile lacks the channel of a contact it holds, or if
        a waiting contact's queue goes (or stops taking its channel) with no
        queue to take it: the old queue's ``overflow_to``, else the config's
        ``fallback_queue``, taking the contact's channel.

        Then: removed agents' offers are withdrawn and their wrap-ups end;
        offers of contacts that must move are withdrawn; indexes are rebuilt
        (queue totals carried over, gauges recounted); contacts that must move
        are transferred to their fallback; every other waiting contact takes
        its queue's new requirement and the escalation step it has waited
        for, and is routed again, best first. Offers in flight and wrap-ups
        keep their deadlines. O(agents x queues + contacts log contacts).
        """
        config.validate()
        now = max(now, self.now)
        if self.timers.due(now):
            self._fire_due(now)
        self.now = now
        profiles = _compile_profiles(config)
        moves = self._check_reconfigure(config, profiles)
        keep = {a.id for a in config.agents}
        for a in list(self.agents.values()):
            gone = a.id not in keep
            for asg in list(a.assignments.values()):
                if asg.state == OFFERED and (gone or asg.contact_id in moves):
                    c = self.contacts[asg.contact_id]
                    self._end_offer(c, "reconfigured", now)
                    c.state = contact_step(c.state, "requeue")
                elif asg.state == WRAP_UP and gone:
                    self._finish_wrap_up(asg, now, free=False)
            if gone and a.status != LOGGED_OUT:
                self._set_status(a, agent_step(a.status, "logout"), "removed", now)
        self._flush_presence(now)
        old_stats = self.qstats
        self._install(config, now, profiles)
        for name, counters in self.qstats.items():
            o = old_stats.get(name)
            if o is not None:
                counters.carry_totals(o)
        again: list[ContactState] = []
        for c in self.contacts.values():
            c.route = c.routes = None  # the classes were rebuilt
            q = self.qstats.get(c.queue)
            if c.state == CONNECTED:
                target = moves.get(c.id)
                if target is not None:
                    c.queue = self.agents[c.agent_id or ""].assignments[c.id].queue = target
                    q = self.qstats.get(target)
                if q is not None:
                    q.connected += 1
            elif c.state == OFFERED and q is not None:
                q.ringing += 1
                q.entered(c)
            elif c.state == QUEUED:
                c.class_key = 0
                c.cls = None
                c.hold_key = 0
                again.append(c)
        for c in sorted(again, key=_line_order):
            target = moves.get(c.id)
            if target is not None:
                c.state = contact_step(c.state, "move")
                self._out.append(ContactTransferred(now, c.id, c.queue, None, target, None))
                self._enter_queue(c, target, now, "reconfigured", (c.queue,))
            else:
                self._requalify(c, now)
                self._place(c, now, "reconfigured")
        self._flush_presence(now)
        return self.drain()

    def _check_reconfigure(
        self, config: RoutingConfig, compiled: dict[str, CompiledProfile]
    ) -> dict[str, str]:
        """The problems that forbid ``config`` now (raised together), else the
        contacts that must change queue: contact id -> new queue. O(contacts)."""
        queues = {q.name: q for q in config.queues}
        specs = {a.id: a for a in config.agents}
        problems: list[str] = []
        for a in self.agents.values():
            spec = specs.get(a.id)
            if spec is None:
                n = a.n_connected
                if n:
                    problems.append(
                        f"agents.{a.id}: removed, but {n} conversation(s) are open; remove it after"
                    )
                continue
            lacking = sorted({x.channel for x in a.assignments.values()} - compiled[spec.profile].cost.keys())
            if lacking:
                problems.append(
                    f"agents.{a.id}.profile: {spec.profile!r} has no {', '.join(lacking)}, "
                    "which the agent is handling now; change it after"
                )
        moves: dict[str, str] = {}
        for c in self.contacts.values():
            if c.state not in (QUEUED, OFFERED, CONNECTED):
                continue
            qspec = queues.get(c.queue)
            if qspec is not None and c.channel in qspec.channels:
                continue
            old = self.queues[c.queue]
            target = next(
                (
                    t
                    for t in (old.overflow_to, config.fallback_queue)
                    if t is not None and t in queues and c.channel in queues[t].channels
                ),
                None,
            )
            if target is not None:
                moves[c.id] = target
            elif c.state != CONNECTED:  # a conversation can keep an old label; a waiting contact cannot
                why = "is removed" if qspec is None else f"no longer takes {c.channel}"
                problems.append(
                    f"queues.{c.queue}: {why}, and contact {c.id!r} waits there with no queue to go to "
                    f"(set its overflow_to, or fallback_queue, to a queue taking {c.channel})"
                )
        if problems:
            raise ConfigError(problems)
        return moves

    def _requalify(self, c: ContactState, now: float) -> None:
        """A waiting contact under its queue's new rules: requirement, the
        escalation step it has waited for, fresh step and max-wait timers."""
        spec = self.queues[c.queue]
        c.extra = tuple((s, lvl) for s, lvl in c.extra if s in self._skills)
        base = self._queue_req[c.queue]
        c.base_req = merge(base, c.extra) if c.extra else base
        waited = now - c.entered
        c.step = sum(1 for st in spec.escalation if st.after <= waited)
        c.route = c.routes = None
        c.epoch += 1  # older step and max-wait timers are stale
        q = self.qstats[c.queue]
        q.waiting += 1
        q.entered(c)
        if c.step < len(spec.escalation):
            self.timers.schedule(c.entered + spec.escalation[c.step].after, ESCALATION, c.epoch, c)
        if spec.max_wait_s is not None:
            self.timers.schedule(max(now, c.entered + spec.max_wait_s), MAX_WAIT, c.epoch, c)

    def rebuild_indexes(self) -> None:
        """After a snapshot's records are put back (acd.snapshot): recount
        the gauges and the agents' presence counts and loads, and index every
        waiting contact under the key it had (in its routing class, or held
        for its agent). Nothing is offered: the snapshot was taken between
        two commands, where the dispatch invariant holds, and every routing
        class created here takes the available agents it needs.
        O(agents x queues + contacts log contacts)."""
        for a in self._roster:
            if a.presence_code:
                for counts in a.queue_counts:
                    counts.add(0, -1)
                    counts.add(a.presence_code, 1)
            a.load = Load()
            for asg in a.assignments.values():
                a.load.add(a.profile, asg.channel)
            a.avail = self._channels_now(a)
            a.stamp += 1
        for c in self.contacts.values():
            q = self.qstats[c.queue]
            if c.state == CONNECTED:
                q.connected += 1
            elif c.state == OFFERED:
                q.ringing += 1
                q.entered(c)
            elif c.state == QUEUED:
                q.waiting += 1
                q.entered(c)
                if c.hold_key:
                    self.agents[c.hold_agent or ""].held[c.hold_key] = c
                elif c.class_key:
                    cls, _ = self._class_for(c)
                    c.cls = cls
                    cls.push_contact(c, c.class_key)

    def drain(self) -> list[Event]:
        """Events produced but not yet returned (after a refused command)."""
        out = self._out
        self._out = []
        return out

    def next_deadline(self) -> float | None:
        """When the adapters should send the next ``Tick`` (None: no timer)."""
        return self.timers.next_deadline()

    def queue_stats(self, name: str) -> QueueSnapshot:
        q = self.qstats.get(name)
        if q is None:
            raise UnknownQueue(f"unknown queue {name!r}")
        return queue_snapshot(q, self.now, name not in self.closed)

    def agent_stats(self, agent_id: str) -> AgentSnapshot:
        return agent_snapshot(self._agent(agent_id), self.now)

    def positions(self) -> dict[str, int]:
        """Each waiting contact's place in line (1 = next) among the contacts
        competing for the same agents (its routing class); contacts held for
        a preferred agent are 1. O(W log W) for W waiting contacts: for a
        periodic position announcement, not for the hot path."""
        out: dict[str, int] = {}
        for cls in self.classes.values():
            for i, c in enumerate(cls.in_line(), 1):
                out[c.id] = i
        for c in self.contacts.values():
            if c.hold_key:
                out[c.id] = 1
        return out

    def explain(self, contact_id: str) -> Explanation:
        """Why is this contact still waiting? O(eligible agents + class size)."""
        c = self._contact(contact_id)
        spec = self.queues[c.queue]
        cls, _ = self._class_for(c)
        return explain(c, spec, cls.eligible, self.members[c.queue], cls.req, self.agents, self.now)

    # ------------------------------------------------------------- lookups

    def _agent(self, agent_id: str) -> AgentState:
        a = self.agents.get(agent_id)
        if a is None:
            raise UnknownAgent(f"unknown agent {agent_id!r}")
        return a

    def _contact(self, contact_id: str) -> ContactState:
        c = self.contacts.get(contact_id)
        if c is None:
            raise UnknownContact(f"unknown contact {contact_id!r}")
        return c

    def _assignment(self, a: AgentState, contact_id: str, state: str, event: str) -> Assignment:
        self._contact(contact_id)
        asg = a.assignments.get(contact_id)
        if asg is None:
            raise NotYourContact(f"contact {contact_id!r} is not offered or assigned to {a.id!r}")
        if asg.state != state:
            raise InvalidTransition("assignment", asg.state, event)
        return asg

    def _next_token(self) -> int:
        self._token += 1
        return self._token

    def _next_line(self) -> int:
        """The line of a contact entering a queue now. O(1), except once per
        ``line_limit`` entries (LINE_LIMIT: about 10**12)."""
        if self._line + 1 >= self.line_limit:
            self._renumber_lines()
        self._line += 1
        return self._line

    def _renumber_lines(self) -> None:
        """Give the contacts lines 1..n in their present order, so lines
        (and the contact keys packing them) stay within their bits, and
        re-key every index that holds them. O(n log n) for n contacts."""
        placed = [(cls, list(cls.waiting.values())) for cls in self.classes.values()]
        held = [(a, list(a.prune_held().values())) for a in self.agents.values() if a.held]
        for i, c in enumerate(sorted(self.contacts.values(), key=attrgetter("line")), 1):
            c.line = i
        self._line = len(self.contacts)
        for cls, contacts in placed:
            cls.clear_contacts()
            for c in contacts:
                c.class_key = contact_key(key_priority(c.class_key), c.line)
                cls.push_contact(c, c.class_key)
        for a, contacts in held:
            a.held = {}
            for c in contacts:
                c.hold_key = contact_key(key_priority(c.hold_key), c.line)
                a.held[c.hold_key] = c
                self.timers.schedule(c.hold_until, HOLD_END, c.hold_key, c)  # the old one is stale
        for q in self.qstats.values():
            q.oldest, q.oldest_of = [], {}
        for c in self.contacts.values():
            if c.state in (QUEUED, OFFERED):
                self.qstats[c.queue].entered(c)

    # ------------------------------------------------------------- timers

    def _fire_due(self, now: float) -> None:
        timers = self.timers
        while timers.due(now):  # in deadline order, including timers set meanwhile
            at, _, kind, token, rec = timers.pop()
            if self._dirty:
                self._flush_presence(self.now)
            self.now = at
            # The record's type follows from the kind; naming it lets the
            # compiled build read its fields natively, not as Any.
            if kind == WRAP_UP_END:
                asg = cast(Assignment, rec)
                if asg.token == token and asg.state == WRAP_UP:
                    self._finish_wrap_up(asg, at)
                continue
            c = cast(ContactState, rec)
            if kind == OFFER_EXPIRY:
                if c.offer_token == token and c.state == OFFERED:
                    self._offer_expired(c, at, "timeout")
            elif kind == ESCALATION:
                if c.epoch == token and c.state in (QUEUED, OFFERED):
                    self._escalate(c, at)
            elif kind == HOLD_END:
                if c.hold_key == token and c.state == QUEUED:
                    self._release_hold(c)
                    self._place(c, at, "hold-expired")
            elif kind == MAX_WAIT and c.epoch == token and c.state == QUEUED:
                self._overflow(c, at, "max-wait")
        if self._dirty:
            self._flush_presence(self.now)

    # --------------------------------------------------------- agent side

    def _set_status(self, a: AgentState, status: str, reason: str | None, now: float) -> None:
        elapsed = now - a.status_since
        if a.status != LOGGED_OUT:
            a.logged_in_s += elapsed
            if a.status not in (AVAILABLE, NOT_RESPONDING):
                a.away_s += elapsed
        a.status = status
        a.status_since = now
        a.reason = reason
        self._update_presence(a, now)

    def _update_presence(self, a: AgentState, now: float) -> None:
        """Note that the agent's presence may have changed. Changes are
        coalesced per command (and per timer): a desktop sees busy -> offered,
        not a zero-length available in between."""
        if not a.dirty:
            a.dirty = True
            self._dirty.append(a)

    def _flush_presence(self, now: float) -> None:
        """Emit the net presence change of every agent touched. O(touched x queues)."""
        for a in self._dirty:
            a.dirty = False
            p = presence(a.status, a.n_offered, a.n_connected, a.n_wrap)
            old = a.presence_code
            if p == old:
                continue
            for counts in a.queue_counts:
                counts.add(old, -1)
                counts.add(p, 1)
            a.presence_code = p
            self._out.append(AgentPresenceChanged(now, a.id, PRESENCES[p], PRESENCES[old], a.reason))
        self._dirty.clear()

    def _channels_now(self, a: AgentState) -> tuple[str, ...]:
        """Channels this agent may be offered now. O(1) (cached per load shape)."""
        if a.status != AVAILABLE:
            return _NO_CHANNELS
        if a.phone is not None:
            return tuple(ch for ch in a.profile.open_channels(a.load) if ch not in self.phone_channels)
        return a.profile.open_channels(a.load)

    def _reindex(self, a: AgentState) -> None:
        """Re-key the agent in every routing class of the channels it can take.

        O(k log n) for k classes of those channels; older entries go stale.
        """
        avail = self._channels_now(a)
        a.stamp += 1
        a.avail = avail
        if not avail:
            return
        for ch in avail:
            for cls, _ in a.classes.get(ch, ()):
                cls.push_agent(a)

    def _after_offer(self, a: AgentState, taken_from: RoutingClass | None) -> None:
        """After an offer: re-index only if the agent's open channels changed.
        Otherwise its keys only grew, which the heaps correct lazily; just put
        it back in the class it was popped from. O(1), or O(k log n)."""
        if self._channels_now(a) != a.avail:
            self._reindex(a)
        elif taken_from is not None and taken_from.channel in a.avail:
            taken_from.push_agent(a)

    def _agent_freed(self, a: AgentState, now: float, trigger: str) -> None:
        """The agent may take more work: offer it the best contacts it can
        take, one at a time while its capacity allows, then re-index it.
        O(k) class tops per offer, for k classes (its routing profile, not
        the centre's size)."""
        avail: Sequence[str] = self._channels_now(a)
        while avail:
            pick = self._choose(a, avail)
            if pick is None:
                break
            rank, key, c, cls, r, rc, live = pick
            waited = now - c.entered
            runner = f"priority {key_priority(r)}, waited {seconds(now - rc.entered)}s" if rc else None
            decision = Decision(  # positional: this is the hot path
                trigger,
                c.queue,
                c.step,
                cls.label if cls is not None else "preferred agent",
                "routing-profile",
                f"rank {profile_rank(rank)}, priority {key_priority(key)}, waited {seconds(waited)}s",
                rc.id if rc is not None else None,
                runner,
                waited,
            )
            self._offer(c, a, now, decision)
            if rc is None:
                break  # that was the only contact it could take
            # An offer only closes channels: look again only where contacts were.
            still = self._channels_now(a)
            avail = [ch for ch in live if ch in still]
        self._reindex(a)

    def _choose(
        self, a: AgentState, avail: Sequence[str]
    ) -> (
        tuple[
            ClassRank,
            ContactKey,
            ContactState,
            RoutingClass | None,
            ContactKey,
            ContactState | None,
            list[str],
        ]
        | None
    ):
        """The best contact the agent may take now (its key, its record, its
        source: None when held for the agent), the runner-up (key and record;
        record None: none), by (class rank, contact key), and the channels on
        which it found contacts.

        One pass over the sources: contacts held for the agent, then the top
        of each of its routing classes for the channels in ``avail``, in rank
        order, stopping where no class can rank better than the runner-up.
        O(k) for k classes; keys are unique ints. The winner's class gives
        its own runner-up (RoutingClass.runner_up: usually a peek).
        """
        closed = self.closed
        best = runner = 0  # contact keys are >= 1
        best_c: ContactState | None = None
        runner_c: ContactState | None = None
        # _NO_RANK while there is no best / runner-up: every rank beats it.
        brank = rrank = _NO_RANK
        bcls: RoutingClass | None = None
        live: list[str] = []
        if a.held:
            held = a.prune_held()
            ok = sorted(
                k for k, x in held.items() if x.channel in avail and not (closed and x.queue in closed)
            )
            if ok:
                best, best_c, brank = ok[0], held[ok[0]], HELD_RANK
                if len(ok) > 1:
                    runner, runner_c, rrank = ok[1], held[ok[1]], HELD_RANK
                live.extend(held[k].channel for k in ok)
        aid = a.id
        classes = a.classes
        for ch in avail:
            seen = False  # contacts may wait on this channel
            ranked = classes.get(ch)
            if ranked is None:
                continue  # no queue of this agent's offers the channel
            for cls, rank in ranked:
                if rank > rrank:
                    # Classes are sorted by rank: none of the rest can beat
                    # the best or the runner-up (but they may hold contacts).
                    seen = True
                    break
                top = cls.top
                if not top or (closed and cls.queue in closed):
                    continue
                seen = True
                if rank == rrank and top > runner:
                    continue  # nothing here beats the runner-up (declined ones rank lower still)
                tc = cls.waiting[top & LINE_MASK]
                if tc.declined is not None and aid in tc.declined:
                    top = cls.top_contact(aid)
                    if not top or (rank == rrank and top > runner):
                        continue
                    tc = cls.waiting[top & LINE_MASK]
                if rank < brank or (rank == brank and top < best):
                    runner, runner_c, rrank = best, best_c, brank
                    best, best_c, brank, bcls = top, tc, rank, cls
                elif rank < rrank or (rank == rrank and top < runner):
                    runner, runner_c, rrank = top, tc, rank
            if seen:
                live.append(ch)
        if best_c is None:
            return None
        if bcls is not None:
            nxt = bcls.runner_up(aid, best)
            if nxt and (brank < rrank or (brank == rrank and nxt < runner)):
                runner, runner_c = nxt, bcls.waiting[nxt & LINE_MASK]
        return brank, best, best_c, bcls, runner, runner_c, live

    # -------------------------------------------------------- contact side

    def _class_for(self, c: ContactState) -> tuple[RoutingClass, int]:
        """The routing class for the contact's queue, channel, requirement and
        step, created on first use. O(1) after the first time."""
        if c.route is not None:
            return c.route, c.route_boost
        row = c.routes
        if row is None:
            key = (c.queue, c.channel, c.base_req)
            row = self._routes.get(key)
            if row is None:
                row = self._routes[key] = [None] * (len(self.queues[c.queue].escalation) + 1)
            c.routes = row
        hit = row[c.step]
        if hit is not None:
            c.route, c.route_boost = hit
            return hit
        spec = self.queues[c.queue]
        r = relax(c.base_req, spec.escalation, c.step)
        ckey = (c.queue, c.channel, r.req, r.borrow_from)
        cls = self.classes.get(ckey)
        if cls is None:
            cls = self._new_class(spec, c.channel, r)
            self.classes[ckey] = cls
        hit = (cls, r.priority_boost)
        row[c.step] = hit
        c.route, c.route_boost = hit
        return hit

    def _new_class(self, spec: QueueSpec, channel: str, r: Relaxed) -> RoutingClass:
        """Build a class and its eligible set. O(candidates), once per distinct
        requirement: candidates are the members holding the rarest required
        skill, in the queue and in the queues it borrows from."""
        cls = RoutingClass(spec.name, channel, r.req, r.borrow_from, spec.strategy, self._roster)
        seen: set[int] = set()
        candidates: list[AgentState] = []
        for qn in (spec.name, *r.borrow_from):
            pool = self.members[qn]
            if r.req:
                by_skill = self._by_skill[qn]
                pool = min((by_skill.get(s, []) for s, _ in r.req), key=len)
            for a in pool:
                if a.ordinal not in seen:
                    seen.add(a.ordinal)
                    candidates.append(a)
        candidates.sort(key=lambda a: a.ordinal)
        fallback = self._queue_req[spec.name]
        for a in candidates:
            if channel not in a.profile.cost or not meets(a.spec.skills, r.req):
                continue
            own = a.spec.queues.get(spec.name)
            if own is not None:
                rank = class_rank(own, False, spec.weight)
            else:
                rank = class_rank(
                    min(a.spec.queues[b] for b in r.borrow_from if b in a.spec.queues), True, spec.weight
                )
            cls.eligible.append(a)
            if cls.strategy == BEST_SKILLED:
                cls.scores[a.ordinal] = score(a.spec.skills, r.req, fallback)
            # Sorted by rank (ties: creation order), for _choose's early stop.
            insort(a.classes.setdefault(channel, []), (cls, rank), key=_class_rank_of)
            if channel in a.avail:
                cls.push_agent(a)
        return cls

    def _eligible_now(self, a: AgentState, c: ContactState) -> bool:
        """Does the agent meet the contact's current requirement? O(len(req))."""
        cls, _ = self._class_for(c)
        serves = c.queue in a.spec.queues or any(b in a.spec.queues for b in cls.borrow)
        return serves and c.channel in a.profile.cost and meets(a.spec.skills, cls.req)

    def _place(self, c: ContactState, now: float, trigger: str) -> None:
        """Route a waiting contact: offer it to the best available eligible
        agent, or index it in its class (only, while its queue is closed).
        O(log n)."""
        closed = self.closed and c.queue in self.closed
        if c.hold_agent is not None and not closed and self._hold(c, now, trigger):
            return
        cls, boost = self._class_for(c)
        best, runner = cls.take_agent(c.declined) if not closed else (None, None)
        if best is not None:
            decision = Decision(
                trigger=trigger,
                queue=c.queue,
                step=c.step,
                requirement=cls.label,
                strategy=cls.strategy_name,
                score=cls.score_text(best, now),
                runner_up=runner.id if runner is not None else None,
                runner_up_score=cls.score_text(runner, now) if runner is not None else None,
                waited_s=now - c.entered,
            )
            self._offer(c, best, now, decision)
            self._after_offer(best, cls)
            return
        c.cls = cls
        c.class_key = contact_key(c.priority + boost, c.line)
        cls.push_contact(c, c.class_key)

    def _hold(self, c: ContactState, now: float, trigger: str) -> bool:
        """Offer to, or wait for, the preferred agent. False: no hold applies."""
        a = self.agents.get(c.hold_agent or "")
        if a is None or a.status == LOGGED_OUT or not self._eligible_now(a, c):
            c.hold_agent = None
            return False
        if c.channel in self._channels_now(a) and not (c.declined and a.id in c.declined):
            decision = Decision(
                trigger=trigger,
                queue=c.queue,
                step=c.step,
                requirement="preferred agent",
                strategy="preferred-agent",
                score=f"preferred, idle {seconds(now - a.last_activity)}s",
                runner_up=None,
                runner_up_score=None,
                waited_s=now - c.entered,
            )
            self._offer(c, a, now, decision)
            self._after_offer(a, None)
            return True
        if c.hold_until <= now:
            c.hold_agent = None
            return False
        _, boost = self._class_for(c)
        c.hold_key = contact_key(c.priority + boost, c.line)
        a.held[c.hold_key] = c
        self.timers.schedule(c.hold_until, HOLD_END, c.hold_key, c)
        return True

    def _release_hold(self, c: ContactState) -> None:
        c.hold_key = 0
        c.hold_agent = None

    def _unindex(self, c: ContactState) -> None:
        """Take a waiting contact out of its class or hold. O(1) (lazy)."""
        if c.class_key:
            if c.cls is not None:
                c.cls.remove_contact(c)
            c.class_key = 0
        if c.hold_key:
            self._release_hold(c)

    def _offer(self, c: ContactState, a: AgentState, now: float, decision: Decision) -> None:
        """Reserve the agent's capacity and ring. The caller re-indexes the agent."""
        c.state = contact_step(c.state, "offer")
        self._unindex(c)
        c.hold_agent = None
        q = self.qstats[c.queue]
        q.waiting -= 1
        q.ringing += 1
        q.offered += 1
        q.count(c.channel, OFFERS)
        tok = self._next_token()
        c.offer_token = tok
        c.agent_id = a.id
        a.assignments[c.id] = Assignment(a, c.id, c.queue, c.channel, OFFERED, now, tok)
        a.load.add(a.profile, c.channel)
        a.n_offered += 1
        a.offered += 1
        a.last_activity = now
        self._offer_seq += 1
        a.rr[c.queue] = self._offer_seq
        if a.busy_since is None:
            a.busy_since = now
        self.n_offers += 1
        timeout = self.queues[c.queue].offer_timeout_s
        self.timers.schedule_after(now, timeout, OFFER_EXPIRY, tok, c)
        self._out.append(ContactOffered(now, c.id, a.id, c.queue, c.channel, now + timeout, decision))
        self._update_presence(a, now)

    def _drop_assignment(self, a: AgentState, asg: Assignment, now: float) -> None:
        del a.assignments[asg.contact_id]
        asg.token = 0  # its wrap-up timer, if any, is now stale
        a.load.remove(a.profile, asg.channel)
        if asg.state == OFFERED:
            a.n_offered -= 1
        elif asg.state == CONNECTED:
            a.n_connected -= 1
        else:
            a.n_wrap -= 1
        if not a.assignments and a.busy_since is not None:
            a.busy_s += now - a.busy_since
            a.busy_since = None

    def _end_offer(self, c: ContactState, reason: str, now: float) -> AgentState:
        """Withdraw the contact's pending offer from its agent (contact side is
        the caller's). Returns the agent, not yet re-indexed."""
        a = self.agents[c.agent_id or ""]
        self._drop_assignment(a, a.assignments[c.id], now)
        c.offer_token = 0
        c.agent_id = None
        self.qstats[c.queue].ringing -= 1
        self._out.append(OfferEnded(now, c.id, a.id, reason))
        self._update_presence(a, now)
        return a

    def _requeue(self, c: ContactState, now: float, reason: str) -> None:
        """Back to the head of its queue: same priority, same entry time.
        ``reason`` is why its offer ended."""
        c.state = contact_step(c.state, "requeue")
        q = self.qstats[c.queue]
        q.waiting += 1
        self._out.append(ContactQueued(now, c.id, c.queue, c.channel, c.priority, c.customer, reason))
        spec = self.queues[c.queue]
        if spec.max_wait_s is not None and now - c.entered >= spec.max_wait_s:
            self._overflow(c, now, "max-wait")
            return
        self._place(c, now, "requeue")

    def _withdraw_offers(self, a: AgentState, reason: str, now: float) -> list[ContactState]:
        """Withdraw every pending offer of the agent; the caller requeues the
        contacts (in priority-then-FIFO order) once the agent can't take them."""
        out = []
        for asg in [x for x in a.assignments.values() if x.state == OFFERED]:
            c = self.contacts[asg.contact_id]
            self._end_offer(c, reason, now)
            out.append(c)
        out.sort(key=_line_order)
        return out

    def _enter_queue(
        self, c: ContactState, queue: str, now: float, reason: str, visited: tuple[str, ...] = ()
    ) -> None:
        """Put a (new or moved) contact in ``queue``: limits, timers, routing."""
        spec = self.queues[queue]
        q = self.qstats[queue]
        if queue in self.closed and self._leave_closed(c, spec, now, (*visited, queue)):
            return
        if spec.max_size is not None and q.waiting >= spec.max_size:
            self._leave_full(c, spec, now, (*visited, queue))
            return
        c.queue = queue
        c.base_req = merge(self._queue_req[queue], c.extra) if c.extra else self._queue_req[queue]
        c.step = 0
        c.route = c.routes = None
        c.entered = now
        c.line = self._next_line()
        c.epoch += 1
        c.state = QUEUED
        q.waiting += 1
        q.entered(c)
        self._out.append(ContactQueued(now, c.id, queue, c.channel, c.priority, c.customer, reason))
        if spec.escalation:
            self.timers.schedule_after(now, spec.escalation[0].after, ESCALATION, c.epoch, c)
        if spec.max_wait_s is not None:
            self.timers.schedule_after(now, spec.max_wait_s, MAX_WAIT, c.epoch, c)
        self._place(c, now, "contact")

    def _leave_closed(self, c: ContactState, spec: QueueSpec, now: float, visited: tuple[str, ...]) -> bool:
        """A contact reaches a closed queue: hand it off or let it leave, as
        the queue says. False: it waits there (``wait``, or a work item that
        cannot be handed off again)."""
        if spec.when_closed == "wait" or (spec.when_closed == "handoff" and c.channel == HANDOFF_CHANNEL):
            return False
        self.qstats[spec.name].overflowed += 1
        if not (spec.when_closed == "handoff" and self._hand_off(c, spec, now, "closed", visited)):
            self._turn_away(c, spec.name, now, "closed")
        return True

    def _leave_full(self, c: ContactState, spec: QueueSpec, now: float, visited: tuple[str, ...]) -> None:
        target = spec.overflow_to
        self.qstats[spec.name].overflowed += 1
        if target is not None and target not in visited and c.channel in self.queues[target].channels:
            self._out.append(ContactOverflowed(now, c.id, spec.name, target, "queue-full"))
            self._enter_queue(c, target, now, "overflow", visited)
            return
        if not self._hand_off(c, spec, now, "queue-full", visited):
            self._turn_away(c, spec.name, now, "queue-full")

    def _turn_away(self, c: ContactState, queue: str, now: float, reason: str) -> None:
        """The contact leaves the ACD from the door of ``queue`` (the adapter
        routes it on: voicemail, the dialplan, a closed message)."""
        self._out.append(ContactOverflowed(now, c.id, queue, None, reason))
        c.state = OVERFLOWED
        self.contacts.pop(c.id, None)

    def _hand_off(
        self, c: ContactState, spec: QueueSpec, now: float, reason: str, visited: tuple[str, ...]
    ) -> bool:
        """Make the contact a work item in the queue's ``handoff_to`` (same
        id, attributes, priority and skills). False: no hand-off applies (none
        configured, already a work item, or the target was visited)."""
        target = spec.handoff_to
        if target is None or target in visited or c.channel == HANDOFF_CHANNEL:
            return False
        before = c.channel
        c.channel = HANDOFF_CHANNEL
        c.route = c.routes = None
        self._out.append(ContactHandedOff(now, c.id, spec.name, target, before, HANDOFF_CHANNEL, reason))
        self._enter_queue(c, target, now, "handoff", visited)
        return True

    def _overflow(self, c: ContactState, now: float, reason: str) -> None:
        """A waiting contact passed its queue's maximum wait."""
        spec = self.queues[c.queue]
        self._unindex(c)
        q = self.qstats[c.queue]
        q.waiting -= 1
        q.overflowed += 1
        target = spec.overflow_to
        if target is not None and c.channel in self.queues[target].channels:
            c.state = contact_step(c.state, "move")
            self._out.append(ContactOverflowed(now, c.id, spec.name, target, reason))
            self._enter_queue(c, target, now, "overflow", (spec.name,))
            return
        if self._hand_off(c, spec, now, reason, (spec.name,)):
            return
        c.state = contact_step(c.state, "overflow")
        self._out.append(ContactOverflowed(now, c.id, spec.name, None, reason))
        del self.contacts[c.id]

    def _escalate(self, c: ContactState, now: float) -> None:
        spec = self.queues[c.queue]
        c.step += 1
        c.route = None  # same row (queue, channel, requirement), next step
        if c.step < len(spec.escalation):
            # Fired at entered + after[step - 1]: the gap to the next step is a fixed delay.
            gap = spec.escalation[c.step].after - spec.escalation[c.step - 1].after
            self.timers.schedule_after(now, gap, ESCALATION, c.epoch, c)
        if c.state == QUEUED and c.class_key:
            self._unindex(c)
            self._place(c, now, "escalation")
        self._out.append(ContactEscalated(now, c.id, c.queue, c.step, self._class_for(c)[0].label))

    def _offer_expired(self, c: ContactState, now: float, reason: str) -> None:
        """RONA: the agent goes not-responding, its other offers are withdrawn,
        the contact goes back to the head of its queue. ``reason``: timeout,
        or what the agent's phone said (no-answer, busy, ...)."""
        a = self.agents[c.agent_id or ""]
        if a.status == AVAILABLE:
            self._set_status(
                a, agent_step(a.status, "rona"), "no-answer" if reason == "timeout" else reason, now
            )
        self._end_offer(c, reason, now)
        a.rona += 1
        others = self._withdraw_offers(a, "agent-not-responding", now)
        self._reindex(a)
        for x in sorted([c, *others], key=_line_order):
            self._requeue(x, now, reason if x is c else "agent-not-responding")

    def _finish_wrap_up(self, asg: Assignment, now: float, silent: bool = False, free: bool = True) -> None:
        a = asg.agent
        self._drop_assignment(a, asg, now)
        q = self.qstats.get(asg.queue)  # None: the queue was removed by a reload
        if q is not None:
            q.wrap_total += now - asg.since
        a.last_activity = now
        if not silent:
            self._out.append(WrapUpEnded(now, a.id, asg.contact_id))
        if asg.closes:
            c = self.contacts.pop(asg.contact_id)
            c.state = contact_step(c.state, "close")
            self._out.append(ContactCompleted(now, c.id, c.queue))
        self._update_presence(a, now)
        if free:
            self._agent_freed(a, now, "agent")

    def _start_wrap_up(self, a: AgentState, asg: Assignment, event: str, now: float) -> None:
        asg.state = assignment_step(asg.state, event)
        a.n_connected -= 1
        a.n_wrap += 1
        a.handled += 1
        q = self.qstats.get(asg.queue)  # None: a conversation of a queue a reload removed
        if q is not None:
            q.connected -= 1
            q.handled += 1
            q.talk_total += now - asg.connected_at
        asg.since = now
        asg.token = self._next_token()
        spec = self.queues.get(asg.queue)
        wrap = spec.wrapup_s if spec is not None else 0.0
        self._update_presence(a, now)
        if wrap <= 0:  # no wrap-up configured: no wrap-up events either
            self._finish_wrap_up(asg, now, silent=True)
            return
        self._out.append(WrapUpStarted(now, a.id, asg.contact_id, now + wrap))
        self.timers.schedule_after(now, wrap, WRAP_UP_END, asg.token, asg)

    # ------------------------------------------------------------ handlers

    def _on_login(self, cmd: Login, now: float) -> None:
        a = self._agent(cmd.agent_id)
        status = agent_step(a.status, "login" if cmd.away_reason is None else "login-away")
        a.last_activity = now
        self._set_status(a, status, cmd.away_reason, now)
        self._agent_freed(a, now, "agent")

    def _on_set_available(self, cmd: SetAvailable, now: float) -> None:
        a = self._agent(cmd.agent_id)
        status = agent_step(a.status, "available")
        self._set_status(a, status, None, now)
        self._agent_freed(a, now, "agent")

    def _leave(self, a: AgentState, event: str, reason: str | None, now: float) -> None:
        status = agent_step(a.status, event)
        self._set_status(a, status, reason, now)
        why = "agent-away" if event == "away" else "agent-logged-out"
        withdrawn = self._withdraw_offers(a, why, now)
        self._reindex(a)
        for c in withdrawn:
            self._requeue(c, now, why)

    def _on_set_away(self, cmd: SetAway, now: float) -> None:
        self._leave(self._agent(cmd.agent_id), "away", cmd.reason, now)

    def _on_logout(self, cmd: Logout, now: float) -> None:
        a = self._agent(cmd.agent_id)
        self._leave(a, "logout", None, now)
        held = list(a.prune_held().values())
        a.held = {}
        for c in sorted(held, key=_line_order):
            self._release_hold(c)
            self._place(c, now, "hold-released")

    def _on_new_contact(self, cmd: NewContact, now: float) -> None:
        if cmd.contact_id in self.contacts:
            raise DuplicateContact(f"contact {cmd.contact_id!r} already exists")
        spec = self.queues.get(cmd.queue)
        if spec is None:
            raise UnknownQueue(f"unknown queue {cmd.queue!r}")
        channel = cmd.channel or spec.default_channel
        if channel not in spec.channels:
            raise ChannelNotAllowed(f"queue {cmd.queue!r} takes {', '.join(spec.channels)}, not {channel!r}")
        for skill, level in cmd.skills:
            if skill not in self._skills:
                raise InvalidRequest(f"unknown skill {skill!r}")
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise InvalidRequest(f"skill {skill!r}: level {level} is not in {MIN_LEVEL}..{MAX_LEVEL}")
        if not -MAX_PRIORITY <= cmd.priority <= MAX_PRIORITY:
            raise InvalidRequest(f"priority {cmd.priority} is not in -{MAX_PRIORITY}..{MAX_PRIORITY}")
        c = ContactState(
            cmd.contact_id,
            cmd.queue,
            channel,
            cmd.customer,
            cmd.priority,
            dict(cmd.attributes) if cmd.attributes else {},
            (),
            now,
        )
        if cmd.skills:
            c.extra = normalise(cmd.skills)
        if cmd.preferred_agent is not None and cmd.preferred_agent in self.agents:
            wait = spec.preferred_wait_s if cmd.preferred_wait_s is None else cmd.preferred_wait_s
            if wait > 0:  # 0: the queue does not prefer anyone (no hold, no jump ahead)
                c.hold_agent = cmd.preferred_agent
                c.hold_until = now + wait
        self.contacts[c.id] = c
        self._enter_queue(c, cmd.queue, now, "new")

    def _on_accept(self, cmd: Accept, now: float) -> None:
        a = self._agent(cmd.agent_id)
        asg = self._assignment(a, cmd.contact_id, OFFERED, "accept")
        c = self.contacts[cmd.contact_id]
        asg.state = assignment_step(asg.state, "accept")
        c.state = contact_step(c.state, "accept")
        # Answered when the PBX says, never before the offer (a clock skew cannot reorder them).
        at = now - min(cmd.answered_ago, now - asg.since) if cmd.answered_ago > 0 else now
        asg.connected_at = at
        c.offer_token = 0
        a.n_offered -= 1
        a.n_connected += 1
        a.answered += 1
        q = self.qstats[c.queue]
        q.ringing -= 1
        q.connected += 1
        q.answered += 1
        q.count(c.channel, ANSWERS)
        waited = at - c.entered
        q.wait_answered_total += waited
        if waited <= self.queues[c.queue].service_level_s:
            q.answered_in_sl += 1
        self._out.append(ContactConnected(now, c.id, a.id, c.queue, waited))
        self._update_presence(a, now)

    def _on_reject(self, cmd: Reject, now: float) -> None:
        a = self._agent(cmd.agent_id)
        self._assignment(a, cmd.contact_id, OFFERED, "reject")
        c = self.contacts[cmd.contact_id]
        self._end_offer(c, "rejected", now)
        a.rejected += 1
        c.declined = (c.declined or set()) | {a.id}
        self._requeue(c, now, "rejected")
        self._agent_freed(a, now, "agent")

    def _on_ringing(self, cmd: Ringing, now: float) -> None:
        a = self._agent(cmd.agent_id)
        self._assignment(a, cmd.contact_id, OFFERED, "ringing")
        c = self.contacts[cmd.contact_id]
        c.offer_token = self._next_token()  # the engine's own expiry is now stale
        if cmd.timeout_s is not None:
            self.timers.schedule_after(now, max(cmd.timeout_s, 0.0), OFFER_EXPIRY, c.offer_token, c)

    def _on_no_answer(self, cmd: NoAnswer, now: float) -> None:
        if cmd.reason not in NO_ANSWER_REASONS:
            raise InvalidRequest(f"no-answer reason must be one of {', '.join(NO_ANSWER_REASONS)}")
        a = self._agent(cmd.agent_id)
        self._assignment(a, cmd.contact_id, OFFERED, "no-answer")
        self._offer_expired(self.contacts[cmd.contact_id], now, cmd.reason)

    def _on_device_state(self, cmd: DeviceState, now: float) -> None:
        a = self._agent(cmd.agent_id)
        phone = None if cmd.usable else cmd.reason
        if phone == a.phone:
            return
        a.phone = phone
        self._out.append(AgentPhoneChanged(now, a.id, phone))
        if phone is None:
            self._agent_freed(a, now, "agent")  # calls may be waiting for this phone
        else:
            self._reindex(a)

    def _on_abandon(self, cmd: Abandon, now: float) -> None:
        c = self._contact(cmd.contact_id)
        if c.state == WRAP_UP:
            return  # the conversation is already over; the agent is wrapping up
        if c.state == CONNECTED:
            a = self.agents[c.agent_id or ""]
            self._out.append(
                ContactEnded(now, c.id, a.id, c.queue, "customer", now - a.assignments[c.id].connected_at)
            )
            c.state = contact_step(c.state, "end")
            self._start_wrap_up(a, a.assignments[c.id], "end", now)
            return
        was_offered = c.state == OFFERED
        c.state = contact_step(c.state, "abandon")
        q = self.qstats[c.queue]
        q.abandoned += 1
        q.count(c.channel, ABANDONS)
        agent = None
        if was_offered:
            agent = self._end_offer(c, "abandoned", now)
        else:
            q.waiting -= 1
            self._unindex(c)
        self._out.append(ContactAbandoned(now, c.id, c.queue, now - c.entered, was_offered))
        c.state = ABANDONED
        del self.contacts[c.id]
        if agent is not None:
            self._agent_freed(agent, now, "agent")

    def _on_end_contact(self, cmd: EndContact, now: float) -> None:
        a = self._agent(cmd.agent_id)
        asg = self._assignment(a, cmd.contact_id, CONNECTED, "end")
        c = self.contacts[cmd.contact_id]
        c.state = contact_step(c.state, "end")
        self._out.append(ContactEnded(now, c.id, a.id, c.queue, "agent", now - asg.connected_at))
        self._start_wrap_up(a, asg, "end", now)

    def _on_end_wrap_up(self, cmd: EndWrapUp, now: float) -> None:
        a = self._agent(cmd.agent_id)
        asg = a.assignments.get(cmd.contact_id)
        if asg is None:
            raise NotYourContact(f"{a.id!r} has no wrap-up for contact {cmd.contact_id!r}")
        if asg.state != WRAP_UP:
            raise InvalidTransition("assignment", asg.state, "end-wrap-up")
        self._finish_wrap_up(asg, now)

    def _check_loop(self, c: ContactState, queue: str, agent: str | None) -> dict[str, int]:
        """Refuse a transfer back to a queue or agent the contact already left
        more than ``max_transfer_returns`` times; else return (a copy of) the
        places it left, for the caller to update. O(1)."""
        left = dict(c.left) if c.left else {}
        limit = self.config.max_transfer_returns
        for place in (f"queue {queue}" if queue != c.queue else None, f"agent {agent}" if agent else None):
            if place is not None and left.get(place, 0) > limit:
                raise TransferLoop(
                    f"contact {c.id!r} was transferred away from {place} {left[place]} times; "
                    f"taking it back again is a transfer loop (max_transfer_returns = {limit})"
                )
        return left

    def _on_set_queue_open(self, cmd: SetQueueOpen, now: float) -> None:
        """Opening routes the queue's waiting contacts, best first, and lets
        its members take contacts held for them: O(W log W + members x k) for
        the W contacts waiting there, once per opening."""
        if cmd.queue not in self.queues:
            raise UnknownQueue(f"unknown queue {cmd.queue!r}")
        if (cmd.queue not in self.closed) == cmd.open:
            return
        self._out.append(QueueOpenChanged(now, cmd.queue, cmd.open))
        if not cmd.open:
            self.closed.add(cmd.queue)
            return
        self.closed.discard(cmd.queue)
        waiting = [c for cls in self.classes.values() if cls.queue == cmd.queue for c in cls.waiting.values()]
        for c in sorted(waiting, key=_line_order):
            self._unindex(c)
            self._place(c, now, "queue-opened")
        for a in self.members[cmd.queue]:
            if a.held and a.avail:
                self._agent_freed(a, now, "queue-opened")

    def _on_transfer(self, cmd: Transfer, now: float) -> None:
        c = self._contact(cmd.contact_id)
        if cmd.to_queue is None and cmd.to_agent is None:
            raise InvalidRequest("a transfer needs to_queue or to_agent")
        target = cmd.to_queue or c.queue
        spec = self.queues.get(target)
        if spec is None:
            raise UnknownQueue(f"unknown queue {target!r}")
        if c.channel not in spec.channels:
            raise ChannelNotAllowed(f"queue {target!r} does not take {c.channel!r} contacts")
        if cmd.to_agent is not None:
            self._agent(cmd.to_agent)
        if spec.max_size is not None and self.qstats[target].waiting >= spec.max_size:
            raise QueueFull(f"queue {target!r} is full ({spec.max_size} waiting)")
        if target in self.closed:
            raise QueueClosed(f"queue {target!r} is closed")
        if cmd.by_agent is not None and cmd.by_agent == cmd.to_agent:
            raise InvalidRequest("an agent cannot transfer a contact to itself")
        left = self._check_loop(c, target, cmd.to_agent)
        # Never back to an agent who passed it on (it may still be wrapping it
        # up); an explicit transfer to an agent lifts a past decline, unless
        # that agent still holds the contact.
        declined = set(c.declined or ())
        if cmd.by_agent is not None:
            declined.add(cmd.by_agent)
        if cmd.to_agent is not None and c.id not in self.agents[cmd.to_agent].assignments:
            declined.discard(cmd.to_agent)
        from_queue = c.queue
        if cmd.by_agent is not None:
            a = self._agent(cmd.by_agent)
            asg = self._assignment(a, c.id, CONNECTED, "transfer")
            c.state = contact_step(c.state, "transfer")
            asg.closes = False
            c.agent_id = None
            self._out.append(ContactTransferred(now, c.id, from_queue, a.id, target, cmd.to_agent))
            self._start_wrap_up(a, asg, "transfer", now)
        else:
            if c.state not in (QUEUED, OFFERED):
                raise InvalidTransition("contact", c.state, "move")
            freed = None
            if c.state == OFFERED:
                freed = self._end_offer(c, "moved", now)
            else:
                self._unindex(c)
                self.qstats[from_queue].waiting -= 1
            c.state = contact_step(c.state, "move")
            self._out.append(ContactTransferred(now, c.id, from_queue, None, target, cmd.to_agent))
            if freed is not None:
                self._agent_freed(freed, now, "agent")
        c.declined = declined or None
        if target != from_queue:
            left[f"queue {from_queue}"] = left.get(f"queue {from_queue}", 0) + 1
        if cmd.by_agent is not None:
            left[f"agent {cmd.by_agent}"] = left.get(f"agent {cmd.by_agent}", 0) + 1
        c.left = left
        if cmd.to_agent is not None:
            c.hold_agent = cmd.to_agent
            wait = spec.preferred_wait_s if cmd.wait_s is None else cmd.wait_s
            c.hold_until = now + wait
        self._enter_queue(c, target, now, "transfer", (from_queue,) if target != from_queue else ())
