"""Mutable runtime records the engine keeps for agents and contacts.

Slotted plain classes, not dataclasses: they are mutated on the hot path and
never leave the engine (events and snapshots are what adapters see).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from acd.capacity import CompiledProfile, Load
from acd.settings import MAX_PRIORITY, MAX_WEIGHT, AgentSpec
from acd.skills import Requirement
from acd.states import LOGGED_OUT, PRESENCES

if TYPE_CHECKING:
    from acd.routing import RoutingClass
    from acd.stats import PresenceCounts

# Per agent and routing class: how this agent ranks the class's contacts
# against its other classes, smallest first: (rank in its routing profile,
# borrowed 0/1, -queue weight) packed into one int by class_rank, so the
# agent's scan of its classes compares ints, not tuples.
ClassRank = int
_WEIGHT_BITS: Final = MAX_WEIGHT.bit_length() + 1
# Contacts held for an agent (preferred agent) rank before all of its queues.
HELD_RANK: Final[ClassRank] = 0


def class_rank(own: int, borrowed: bool, weight: int) -> ClassRank:
    """Pack the ranking so int order is tuple order. Profile ranks are >= 1,
    so every class ranks after HELD_RANK."""
    return (((own << 1) | borrowed) << _WEIGHT_BITS) + (MAX_WEIGHT - weight)


def profile_rank(rank: ClassRank) -> int:
    """The routing-profile rank a ClassRank was packed from (0: held)."""
    return rank >> (_WEIGHT_BITS + 1)


# A waiting contact's place in a routing class (or in an agent's held set) is
# one int, its *contact key*: (-priority, line) packed so that int order is
# that tuple's order. The line is the engine's count of queue entries when
# the contact entered its queue, so equal priorities are served in order of
# entry (FIFO). A key stays below 2**62: compiled code keeps it unboxed, the
# cycle collector does not track it, and two keys compare in one machine
# instruction, where the tuple holding the record that it replaces was a
# tracked object per placement that survived into the older generations. The
# class maps the line (the low bits) back to the contact.
ContactKey = int
LINE_BITS: Final = 40
LINE_LIMIT: Final = 1 << LINE_BITS  # the engine renumbers the lines before they reach it
LINE_MASK: Final = LINE_LIMIT - 1
# priority + escalation boosts lie within +-2 * MAX_PRIORITY < 2**21 (validated),
# so the biased priority takes 22 bits, above the line's 40.
_PRIORITY_BIAS: Final = 1 << 21
assert 2 * MAX_PRIORITY < _PRIORITY_BIAS


def contact_key(priority: int, line: int) -> ContactKey:
    """Smaller is served first: higher priority, then earlier entry.
    ``priority`` includes any escalation boost. O(1)."""
    return ((_PRIORITY_BIAS - priority) << LINE_BITS) | line


def key_priority(key: ContactKey) -> int:
    """The (boosted) priority a key was packed with."""
    return _PRIORITY_BIAS - (key >> LINE_BITS)


class Assignment:
    """One agent's hold on one contact: offered, connected or wrap-up."""

    __slots__ = (
        "agent",
        "channel",
        "closes",
        "connected_at",
        "contact_id",
        "queue",
        "since",
        "state",
        "token",
    )

    def __init__(
        self,
        agent: AgentState,
        contact_id: str,
        queue: str,
        channel: str,
        state: str,
        since: float,
        token: int,
    ) -> None:
        self.agent = agent
        self.contact_id = contact_id
        self.queue = queue
        self.channel = channel
        self.state = state
        self.since = since
        self.token = token
        self.connected_at = 0.0
        self.closes = True  # wrap-up end completes the contact (False after a transfer)


class AgentState:
    __slots__ = (
        "answered",
        "assignments",
        "avail",
        "away_s",
        "busy_s",
        "busy_since",
        "classes",
        "dirty",
        "handled",
        "held",
        "id",
        "last_activity",
        "load",
        "logged_in_s",
        "n_connected",
        "n_offered",
        "n_wrap",
        "offered",
        "ordinal",
        "phone",
        "presence_code",
        "profile",
        "queue_counts",
        "reason",
        "rejected",
        "rona",
        "rr",
        "spec",
        "stamp",
        "status",
        "status_since",
    )

    def __init__(self, spec: AgentSpec, ordinal: int, profile: CompiledProfile) -> None:
        self.spec = spec
        self.id = spec.id
        self.ordinal = ordinal
        self.profile = profile
        self.status = LOGGED_OUT
        self.presence_code = 0  # what a desktop shows: its index in acd.states.PRESENCES
        self.dirty = False  # presence may have changed during this command
        # The agent counts of each queue this agent serves.
        self.queue_counts: list[PresenceCounts] = []
        self.reason: str | None = None
        self.load = Load()
        # The agent's phone as the PBX reports it: None while usable, else why
        # not (unregistered, unreachable, busy with a call the ACD did not route).
        self.phone: str | None = None
        self.assignments: dict[str, Assignment] = {}
        self.n_offered = 0
        self.n_connected = 0
        self.n_wrap = 0
        # Channels the agent may be offered right now, in profile order.
        self.avail: tuple[str, ...] = ()
        # Routing classes this agent is eligible for, per channel.
        self.classes: dict[str, list[tuple[RoutingClass, ClassRank]]] = {}
        # Bumped on every change to availability or ranking keys: heap entries
        # carrying an older stamp are stale (lazy deletion).
        self.stamp = 0
        self.last_activity = float("-inf")
        self.rr: dict[str, int] = {}
        # Contacts holding for this agent (preferred agent / transfer to agent).
        # contact key -> contact; an entry is live while the key is the
        # contact's hold_key (lazy deletion, as in the class heaps).
        self.held: dict[ContactKey, ContactState] = {}
        # Statistics
        self.offered = 0
        self.answered = 0
        self.handled = 0
        self.rejected = 0
        self.rona = 0
        self.status_since = 0.0
        self.logged_in_s = 0.0
        self.away_s = 0.0
        self.busy_s = 0.0
        self.busy_since: float | None = None

    @property
    def presence(self) -> str:
        return PRESENCES[self.presence_code]

    def prune_held(self) -> dict[ContactKey, ContactState]:
        """Drop the stale entries of ``held`` (the contact was placed again,
        offered or left) and return it. O(held)."""
        self.held = {k: c for k, c in self.held.items() if c.hold_key == k}
        return self.held


class ContactState:
    __slots__ = (
        "agent_id",
        "attributes",
        "base_req",
        "channel",
        "class_key",
        "cls",
        "customer",
        "declined",
        "entered",
        "epoch",
        "extra",
        "hold_agent",
        "hold_key",
        "hold_until",
        "id",
        "left",
        "line",
        "offer_token",
        "priority",
        "queue",
        "route",
        "route_boost",
        "routes",
        "state",
        "step",
    )

    def __init__(
        self,
        contact_id: str,
        queue: str,
        channel: str,
        customer: str,
        priority: int,
        attributes: dict[str, str],
        base_req: Requirement,
        now: float,
    ) -> None:
        self.id = contact_id
        self.queue = queue
        self.channel = channel
        self.customer = customer
        self.priority = priority
        self.attributes = attributes
        self.base_req = base_req
        self.state = ""
        self.step = 0
        self.entered = now  # entry into the current queue: wait time and steps count from here
        self.line = 0  # the engine's count of queue entries at that entry: FIFO order
        self.cls: RoutingClass | None = None
        # The class (and priority boost) for the current queue, channel,
        # requirement and step: Engine._class_for's cache, cleared (None) when
        # any of them changes. Two fields, not a tuple: no allocation.
        self.route: RoutingClass | None = None
        self.route_boost = 0
        # Engine._class_for's row for the queue, channel and requirement: the
        # (class, boost) of each escalation step. None when any of them changes.
        self.routes: list[tuple[RoutingClass, int] | None] | None = None
        self.class_key = 0  # its key in cls, 0 while not in a class
        self.epoch = 0  # bumped on entering a queue: older step/max-wait timers are stale
        self.offer_token = 0
        self.hold_agent: str | None = None
        self.hold_key = 0  # its key in the held set of hold_agent, 0 while not held
        self.hold_until = 0.0
        self.extra: Requirement = ()  # the contact's own requirements, on top of the queue's
        self.agent_id: str | None = None
        self.declined: set[str] | None = None
        # "queue q" / "agent a" -> times a transfer took it away from there
        self.left: dict[str, int] | None = None
