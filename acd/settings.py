"""Typed, frozen routing settings: channels, capacity profiles, skills, queues, agents.

This is the engine's view of the configuration. The daemon parses operator
files into these objects at the edge (issue 3); the engine only ever sees a
validated :class:`RoutingConfig`. Everything is immutable: a reload builds a new
object and swaps it in.

Conventions (stated once, used everywhere):

* Contact ``priority``: higher is more urgent (Asterisk ``QUEUE_PRIO``);
  within +-1,000,000, and so are a queue's escalation boosts added up.
* Queue ``weight``: higher is served first by an agent who ranks two queues
  equally (Asterisk queue ``weight``); within +-1,000,000.
* Agent per-queue ``rank``: 1 is served first (Amazon Connect routing-profile
  priority).
* Skill levels (proficiency) are 1-5, 5 is best.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Final

from acd.errors import ConfigError

MIN_LEVEL: Final = 1
MAX_LEVEL: Final = 5
# Queue weights are bounded so an agent's ranking of a class (its rank, the
# weight) packs into one small int: see acd.records.class_rank.
MAX_WEIGHT: Final = 1_000_000
# Contact priorities, and the sum of a queue's escalation boosts, are bounded
# so a contact's place in line packs into one small int: see
# acd.records.contact_key.
MAX_PRIORITY: Final = 1_000_000

STRATEGIES: Final = ("longest-idle", "least-occupied", "best-skilled", "round-robin")

# What a closed queue does with a new contact: keep it until the queue opens,
# hand it off as a work item to its ``handoff_to`` queue, or let it leave the
# ACD (the adapter plays a closed message, goes to voicemail ...).
WHEN_CLOSED: Final = ("wait", "handoff", "leave")
# The channel a handed-off contact becomes: a ticket-like work item.
HANDOFF_CHANNEL: Final = "task"


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel is data, not an enum value.

    ``like`` names another channel whose capacity rules apply when a profile
    does not mention this one (``wechat`` like ``chat``). ``exclusive``: while a
    contact of this channel is active, nothing else is offered unless a profile
    says otherwise (voice).
    """

    name: str
    like: str | None = None
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """What one contact of a channel costs in a profile, and how many at once."""

    cost: int
    max: int


@dataclass(frozen=True, slots=True)
class CapacityProfile:
    """One weighted capacity model for every mix of channels.

    ``blocks[c]`` lists the channels that may NOT be offered while a contact of
    channel ``c`` is active (offered, connected or in wrap-up). A channel not in
    ``blocks`` blocks nothing, except an exclusive channel, which blocks every
    other channel.
    """

    name: str
    capacity: int
    rules: Mapping[str, ChannelRule]
    blocks: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """Relax or widen a queue's requirements once a contact has waited ``after`` s.

    Steps are cumulative: step 2 applies step 1's changes too.

    * ``accept_level``: every required minimum level is lowered to at most this.
    * ``drop_skills``: these skills are no longer required.
    * ``any_member``: no skill is required at all: any agent serving the queue.
    * ``borrow_from``: agents serving these queues become eligible too (they
      must still meet the remaining requirements).
    * ``priority_boost``: added to the contact's priority (aging).
    """

    after: float
    accept_level: int | None = None
    drop_skills: tuple[str, ...] = ()
    any_member: bool = False
    borrow_from: tuple[str, ...] = ()
    priority_boost: int = 0


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    channels: tuple[str, ...] = ("voice",)
    skills: Mapping[str, int] = field(default_factory=dict)
    weight: int = 0
    strategy: str = "longest-idle"
    service_level_pct: float = 80.0
    service_level_s: float = 20.0
    offer_timeout_s: float = 20.0
    wrapup_s: float = 0.0
    max_size: int | None = None
    max_wait_s: float | None = None
    overflow_to: str | None = None
    escalation: tuple[EscalationStep, ...] = ()
    preferred_wait_s: float = 0.0
    # Closed (opening hours) / full / past max wait, with no usable
    # overflow_to: the contact becomes a work item of HANDOFF_CHANNEL there.
    handoff_to: str | None = None
    when_closed: str = "wait"

    @property
    def default_channel(self) -> str:
        return self.channels[0]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """An agent as configured. ``queues`` maps queue name to rank (1 first)."""

    id: str
    name: str = ""
    skills: Mapping[str, int] = field(default_factory=dict)
    profile: str = "blended"
    queues: Mapping[str, int] = field(default_factory=dict)
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    channels: tuple[ChannelSpec, ...]
    profiles: tuple[CapacityProfile, ...]
    skills: tuple[str, ...]
    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentSpec, ...]
    # Where the contacts of a queue removed by a reload go, when that queue
    # had no usable overflow_to.
    fallback_queue: str | None = None
    # How often a transfer may bring a contact back to a queue or an agent it
    # was transferred away from (0: never); beyond, the transfer is refused.
    max_transfer_returns: int = 1

    def channel(self, name: str) -> ChannelSpec | None:
        for c in self.channels:
            if c.name == name:
                return c
        return None

    def validate(self) -> RoutingConfig:
        """Return self if valid, else raise :class:`ConfigError` with every problem."""
        problems = list(_problems(self))
        if problems:
            raise ConfigError(problems)
        return self


def _dupes(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for n in names:
        if n in seen and n not in out:
            out.append(n)
        seen.add(n)
    return out


def _check_levels(where: str, levels: Mapping[str, int], skills: set[str]) -> list[str]:
    out: list[str] = []
    for skill, level in levels.items():
        if skill not in skills:
            out.append(f"{where}: unknown skill {skill!r} (declared: {sorted(skills)})")
        if not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
            out.append(f"{where}.{skill}: level {level!r} is not in {MIN_LEVEL}..{MAX_LEVEL}")
    return out


def _problems(cfg: RoutingConfig) -> list[str]:
    out: list[str] = []
    channels = {c.name for c in cfg.channels}
    skills = set(cfg.skills)
    queues = {q.name for q in cfg.queues}
    profiles = {p.name for p in cfg.profiles}
    for kind, names in (
        ("channel", [c.name for c in cfg.channels]),
        ("profile", [p.name for p in cfg.profiles]),
        ("skill", list(cfg.skills)),
        ("queue", [q.name for q in cfg.queues]),
        ("agent", [a.id for a in cfg.agents]),
    ):
        out += [f"duplicate {kind} {n!r}" for n in _dupes(names)]
    for c in cfg.channels:
        if c.like is not None and c.like not in channels:
            out.append(f"channels.{c.name}.like: unknown channel {c.like!r}")
        if c.like == c.name:
            out.append(f"channels.{c.name}.like: a channel cannot be like itself")
    for p in cfg.profiles:
        where = f"profiles.{p.name}"
        if p.capacity <= 0:
            out.append(f"{where}.capacity: must be > 0, got {p.capacity}")
        for ch, rule in p.rules.items():
            if ch not in channels:
                out.append(f"{where}.channels.{ch}: unknown channel")
            if rule.cost <= 0 or rule.cost > p.capacity:
                out.append(f"{where}.channels.{ch}.cost: must be in 1..{p.capacity}")
            if rule.max < 1:
                out.append(f"{where}.channels.{ch}.max: must be >= 1")
        for ch, blocked in p.blocks.items():
            for b in sorted({ch, *blocked}):
                if b not in channels:
                    out.append(f"{where}.blocks.{ch}: unknown channel {b!r}")
    for q in cfg.queues:
        where = f"queues.{q.name}"
        if not q.channels:
            out.append(f"{where}.channels: at least one channel is required")
        out += [f"{where}.channels: unknown channel {c!r}" for c in q.channels if c not in channels]
        out += _check_levels(f"{where}.skills", q.skills, skills)
        if q.strategy not in STRATEGIES:
            out.append(f"{where}.strategy: {q.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if q.offer_timeout_s <= 0:
            out.append(f"{where}.offer_timeout: must be > 0")
        if q.wrapup_s < 0:
            out.append(f"{where}.wrapup: must be >= 0")
        if not -MAX_WEIGHT <= q.weight <= MAX_WEIGHT:
            out.append(f"{where}.weight: must be in -{MAX_WEIGHT}..{MAX_WEIGHT}")
        if not 0 <= q.service_level_pct <= 100:
            out.append(f"{where}.service_level_pct: must be in 0..100")
        if q.max_size is not None and q.max_size < 1:
            out.append(f"{where}.max_size: must be >= 1")
        if q.max_wait_s is not None and q.max_wait_s <= 0:
            out.append(f"{where}.max_wait: must be > 0")
        if q.overflow_to is not None and q.overflow_to not in queues:
            out.append(f"{where}.overflow_to: unknown queue {q.overflow_to!r}")
        if q.overflow_to == q.name:
            out.append(f"{where}.overflow_to: a queue cannot overflow to itself")
        if q.when_closed not in WHEN_CLOSED:
            out.append(f"{where}.when_closed: {q.when_closed!r} is not one of {', '.join(WHEN_CLOSED)}")
        if q.when_closed == "handoff" and q.handoff_to is None:
            out.append(f"{where}.when_closed: handoff needs handoff_to (a queue taking {HANDOFF_CHANNEL})")
        if q.handoff_to is not None:
            target = next((t for t in cfg.queues if t.name == q.handoff_to), None)
            if target is None:
                out.append(f"{where}.handoff_to: unknown queue {q.handoff_to!r}")
            elif target.name == q.name:
                out.append(f"{where}.handoff_to: a queue cannot hand off to itself")
            elif HANDOFF_CHANNEL not in target.channels:
                out.append(
                    f"{where}.handoff_to: queue {target.name!r} must take the {HANDOFF_CHANNEL!r} channel"
                )
        boost = max((abs(b) for b in accumulate(st.priority_boost for st in q.escalation)), default=0)
        if boost > MAX_PRIORITY:
            out.append(f"{where}.escalation: priority boosts add up to {boost} in size, over {MAX_PRIORITY}")
        last = 0.0
        for i, st in enumerate(q.escalation):
            sw = f"{where}.escalation[{i}]"
            if st.after <= last:
                out.append(f"{sw}.after: {st.after:g} must be greater than the previous step's ({last:g})")
            last = max(last, st.after)
            if st.accept_level is not None and not MIN_LEVEL <= st.accept_level <= MAX_LEVEL:
                out.append(f"{sw}.accept_level: must be in {MIN_LEVEL}..{MAX_LEVEL}")
            out += [f"{sw}.drop_skills: unknown skill {s!r}" for s in st.drop_skills if s not in skills]
            out += [f"{sw}.borrow_from: unknown queue {b!r}" for b in st.borrow_from if b not in queues]
    if cfg.max_transfer_returns < 0:
        out.append(f"max_transfer_returns: must be >= 0, got {cfg.max_transfer_returns}")
    if cfg.fallback_queue is not None and cfg.fallback_queue not in queues:
        out.append(f"fallback_queue: unknown queue {cfg.fallback_queue!r}")
    for a in cfg.agents:
        where = f"agents.{a.id}"
        if not a.id:
            out.append("agents: an agent id must not be empty")
        out += _check_levels(f"{where}.skills", a.skills, skills)
        if a.profile not in profiles:
            out.append(f"{where}.profile: unknown profile {a.profile!r} (known: {sorted(profiles)})")
        for qn, rank in a.queues.items():
            if qn not in queues:
                out.append(f"{where}.queues: unknown queue {qn!r}")
            if not isinstance(rank, int) or rank < 1:
                out.append(f"{where}.queues.{qn}: rank must be an integer >= 1")
    return out


DEFAULT_CHANNELS = (
    ChannelSpec("voice", exclusive=True),
    ChannelSpec("chat"),
    ChannelSpec("email"),
    ChannelSpec("task"),
    ChannelSpec("wechat", like="chat"),
)

DEFAULT_PROFILES = (
    CapacityProfile("voice", 100, {"voice": ChannelRule(100, 1)}),
    CapacityProfile(
        "chat",
        100,
        {"chat": ChannelRule(25, 3), "email": ChannelRule(25, 1), "task": ChannelRule(25, 1)},
    ),
    # A call may be offered while chats are open; no new chat during a call
    # (voice is exclusive, so it blocks every other channel by default).
    CapacityProfile(
        "blended",
        200,
        {
            "voice": ChannelRule(100, 1),
            "chat": ChannelRule(25, 3),
            "email": ChannelRule(25, 1),
            "task": ChannelRule(25, 1),
        },
    ),
)


def default_config() -> RoutingConfig:
    """A small blended centre that works out of the box: two queues, four agents."""
    return RoutingConfig(
        channels=DEFAULT_CHANNELS,
        profiles=DEFAULT_PROFILES,
        skills=("sales", "support", "english", "mandarin"),
        queues=(
            QueueSpec(
                "sales",
                channels=("voice", "chat", "wechat"),
                skills={"sales": 2},
                weight=1,
                wrapup_s=10,
                escalation=(
                    EscalationStep(30, accept_level=1),
                    EscalationStep(60, any_member=True),
                ),
            ),
            QueueSpec(
                "support",
                channels=("voice", "chat", "wechat", "email"),
                skills={"support": 2},
                strategy="least-occupied",
                wrapup_s=10,
                escalation=(EscalationStep(45, borrow_from=("sales",)),),
            ),
        ),
        agents=(
            AgentSpec("alice", "Alice", {"sales": 4, "english": 5}, "blended", {"sales": 1}),
            AgentSpec("bob", "Bob", {"support": 3, "english": 4}, "blended", {"support": 1}),
            AgentSpec("chen", "Chen", {"support": 4, "mandarin": 5}, "chat", {"support": 1}),
            AgentSpec("dana", "Dana", {"sales": 2, "support": 2}, "voice", {"sales": 1, "support": 2}),
        ),
    ).validate()
