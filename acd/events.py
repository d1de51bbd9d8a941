"""Events: every state change the engine makes, as plain data.

Frozen, slotted dataclasses the adapters publish (agent desktops, supervisor
streams, Redis, metrics). ``at`` is the engine time the change happened.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    """Why an offer was made: the explanation travels with the offer.

    ``trigger``: what caused the decision (``contact`` arrived or moved,
    ``agent`` freed up or became available, ``escalation``, ``hold-expired``).
    ``score`` / ``runner_up_score``: the ranking keys compared, as text.
    """

    trigger: str
    queue: str
    step: int
    requirement: str
    strategy: str
    score: str
    runner_up: str | None
    runner_up_score: str | None
    waited_s: float


@dataclass(frozen=True, slots=True)
class AgentPresenceChanged:
    at: float
    agent_id: str
    presence: str
    previous: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AgentPhoneChanged:
    """The agent's phone became unusable (``reason``) or usable again (None)."""

    at: float
    agent_id: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class ContactQueued:
    at: float
    contact_id: str
    queue: str
    channel: str
    priority: int
    customer: str
    reason: str = "new"


@dataclass(frozen=True, slots=True)
class ContactOffered:
    at: float
    contact_id: str
    agent_id: str
    queue: str
    channel: str
    expires_at: float
    decision: Decision


@dataclass(frozen=True, slots=True)
class ContactConnected:
    at: float
    contact_id: str
    agent_id: str
    queue: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class OfferEnded:
    """An offer did not become a conversation.

    ``reason``: ``rejected``, ``timeout`` (RONA), ``agent-away``,
    ``agent-logged-out``, ``abandoned``, ``moved``. The adapter stops the
    agent's phone ringing.
    """

    at: float
    contact_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ContactEscalated:
    at: float
    contact_id: str
    queue: str
    step: int
    requirement: str


@dataclass(frozen=True, slots=True)
class ContactAbandoned:
    at: float
    contact_id: str
    queue: str
    waited_s: float
    while_offered: bool


@dataclass(frozen=True, slots=True)
class ContactEnded:
    """The conversation ended (``by``: ``agent`` or ``customer``)."""

    at: float
    contact_id: str
    agent_id: str
    queue: str
    by: str
    handle_s: float


@dataclass(frozen=True, slots=True)
class WrapUpStarted:
    at: float
    agent_id: str
    contact_id: str
    until: float


@dataclass(frozen=True, slots=True)
class WrapUpEnded:
    at: float
    agent_id: str
    contact_id: str


@dataclass(frozen=True, slots=True)
class ContactCompleted:
    """Terminal: conversation and wrap-up done."""

    at: float
    contact_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class ContactTransferred:
    at: float
    contact_id: str
    from_queue: str
    by_agent: str | None
    to_queue: str
    to_agent: str | None


@dataclass(frozen=True, slots=True)
class ContactOverflowed:
    """The queue was full or the maximum wait passed. ``to_queue`` None: the
    contact left the ACD (terminal); the adapter routes it (voicemail,
    dialplan, ticket)."""

    at: float
    contact_id: str
    queue: str
    to_queue: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ContactHandedOff:
    """The contact could not be served live (``reason``: closed, queue-full,
    max-wait) and became a work item of ``channel`` (task) in ``to_queue``,
    same id and context; a ContactQueued follows. The adapter lets the
    customer go without abandoning it."""

    at: float
    contact_id: str
    queue: str
    to_queue: str
    from_channel: str
    channel: str
    reason: str


@dataclass(frozen=True, slots=True)
class QueueOpenChanged:
    at: float
    queue: str
    open: bool


Event = (
    AgentPresenceChanged
    | AgentPhoneChanged
    | ContactQueued
    | ContactOffered
    | ContactConnected
    | OfferEnded
    | ContactEscalated
    | ContactAbandoned
    | ContactEnded
    | WrapUpStarted
    | WrapUpEnded
    | ContactCompleted
    | ContactTransferred
    | ContactOverflowed
    | ContactHandedOff
    | QueueOpenChanged
)

EVENT_TYPES: tuple[type, ...] = (
    AgentPresenceChanged,
    AgentPhoneChanged,
    ContactQueued,
    ContactOffered,
    ContactConnected,
    OfferEnded,
    ContactEscalated,
    ContactAbandoned,
    ContactEnded,
    WrapUpStarted,
    WrapUpEnded,
    ContactCompleted,
    ContactTransferred,
    ContactOverflowed,
    ContactHandedOff,
    QueueOpenChanged,
)


def _fast_init(cls: type) -> None:
    """Give a frozen slotted dataclass a quicker ``__init__`` (same signature).

    The generated one assigns each field through ``object.__setattr__``; this
    one calls the slot descriptors directly, about 40 % cheaper, and the
    engine builds three to five events per decision. Fields stay read-only:
    ``__setattr__`` still raises ``FrozenInstanceError``.
    """
    ns: dict[str, Any] = {}
    params, body = [], []
    for f in fields(cls):
        if f.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: default_factory is not supported here")
        ns[f"_set_{f.name}"] = getattr(cls, f.name).__set__
        if f.default is not MISSING:
            ns[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
        body.append(f"    _set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    type.__setattr__(cls, "__init__", init)


for _t in (*EVENT_TYPES, Decision):
    _fast_init(_t)
