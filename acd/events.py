"""Events: every state change the engine makes, as plain data.

Slotted dataclasses the adapters publish (agent desktops, supervisor streams,
Redis, metrics). ``at`` is the engine time the change happened.

Events are read-only: every field is ``Final``, so mypy rejects any
assignment, and the compiled build (``setup.py``) refuses one at run time.
They are not ``frozen=True``: a frozen dataclass sets each field through
``object.__setattr__`` and cannot compile to a native class, and the engine
builds four or five events per decision (1.6 us each frozen, 0.06 us
compiled). Hence the explicit ``__init__``: it is the one mypyc compiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(init=False, unsafe_hash=True, slots=True)
class Decision:
    """Why an offer was made: the explanation travels with the offer.

    ``trigger``: what caused the decision (``contact`` arrived or moved,
    ``agent`` freed up or became available, ``escalation``, ``hold-expired``).
    ``score`` / ``runner_up_score``: the ranking keys compared, as text.
    """

    trigger: Final[str]
    queue: Final[str]
    step: Final[int]
    requirement: Final[str]
    strategy: Final[str]
    score: Final[str]
    runner_up: Final[str | None]
    runner_up_score: Final[str | None]
    waited_s: Final[float]

    def __init__(
        self,
        trigger: str,
        queue: str,
        step: int,
        requirement: str,
        strategy: str,
        score: str,
        runner_up: str | None,
        runner_up_score: str | None,
        waited_s: float,
    ) -> None:
        self.trigger = trigger
        self.queue = queue
        self.step = step
        self.requirement = requirement
        self.strategy = strategy
        self.score = score
        self.runner_up = runner_up
        self.runner_up_score = runner_up_score
        self.waited_s = waited_s


@dataclass(init=False, unsafe_hash=True, slots=True)
class AgentPresenceChanged:
    at: Final[float]
    agent_id: Final[str]
    presence: Final[str]
    previous: Final[str]
    reason: Final[str | None]

    def __init__(
        self, at: float, agent_id: str, presence: str, previous: str, reason: str | None = None
    ) -> None:
        self.at = at
        self.agent_id = agent_id
        self.presence = presence
        self.previous = previous
        self.reason = reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class AgentPhoneChanged:
    """The agent's phone became unusable (``reason``) or usable again (None)."""

    at: Final[float]
    agent_id: Final[str]
    reason: Final[str | None]

    def __init__(self, at: float, agent_id: str, reason: str | None) -> None:
        self.at = at
        self.agent_id = agent_id
        self.reason = reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactQueued:
    at: Final[float]
    contact_id: Final[str]
    queue: Final[str]
    channel: Final[str]
    priority: Final[int]
    customer: Final[str]
    reason: Final[str]

    def __init__(
        self,
        at: float,
        contact_id: str,
        queue: str,
        channel: str,
        priority: int,
        customer: str,
        reason: str = "new",
    ) -> None:
        self.at = at
        self.contact_id = contact_id
        self.queue = queue
        self.channel = channel
        self.priority = priority
        self.customer = customer
        self.reason = reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactOffered:
    at: Final[float]
    contact_id: Final[str]
    agent_id: Final[str]
    queue: Final[str]
    channel: Final[str]
    expires_at: Final[float]
    decision: Final[Decision]

    def __init__(
        self,
        at: float,
        contact_id: str,
        agent_id: str,
        queue: str,
        channel: str,
        expires_at: float,
        decision: Decision,
    ) -> None:
        self.at = at
        self.contact_id = contact_id
        self.agent_id = agent_id
        self.queue = queue
        self.channel = channel
        self.expires_at = expires_at
        self.decision = decision


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactConnected:
    at: Final[float]
    contact_id: Final[str]
    agent_id: Final[str]
    queue: Final[str]
    waited_s: Final[float]

    def __init__(self, at: float, contact_id: str, agent_id: str, queue: str, waited_s: float) -> None:
        self.at = at
        self.contact_id = contact_id
        self.agent_id = agent_id
        self.queue = queue
        self.waited_s = waited_s


@dataclass(init=False, unsafe_hash=True, slots=True)
class OfferEnded:
    """An offer did not become a conversation.

    ``reason``: ``rejected``, ``timeout`` (RONA), ``agent-away``,
    ``agent-logged-out``, ``abandoned``, ``moved``. The adapter stops the
    agent's phone ringing.
    """

    at: Final[float]
    contact_id: Final[str]
    agent_id: Final[str]
    reason: Final[str]

    def __init__(self, at: float, contact_id: str, agent_id: str, reason: str) -> None:
        self.at = at
        self.contact_id = contact_id
        self.agent_id = agent_id
        self.reason = reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactEscalated:
    at: Final[float]
    contact_id: Final[str]
    queue: Final[str]
    step: Final[int]
    requirement: Final[str]

    def __init__(self, at: float, contact_id: str, queue: str, step: int, requirement: str) -> None:
        self.at = at
        self.contact_id = contact_id
        self.queue = queue
        self.step = step
        self.requirement = requirement


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactAbandoned:
    at: Final[float]
    contact_id: Final[str]
    queue: Final[str]
    waited_s: Final[float]
    while_offered: Final[bool]

    def __init__(self, at: float, contact_id: str, queue: str, waited_s: float, while_offered: bool) -> None:
        self.at = at
        self.contact_id = contact_id
        self.queue = queue
        self.waited_s = waited_s
        self.while_offered = while_offered


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactEnded:
    """The conversation ended (``by``: ``agent`` or ``customer``)."""

    at: Final[float]
    contact_id: Final[str]
    agent_id: Final[str]
    queue: Final[str]
    by: Final[str]
    handle_s: Final[float]

    def __init__(
        self, at: float, contact_id: str, agent_id: str, queue: str, by: str, handle_s: float
    ) -> None:
        self.at = at
        self.contact_id = contact_id
        self.agent_id = agent_id
        self.queue = queue
        self.by = by
        self.handle_s = handle_s


@dataclass(init=False, unsafe_hash=True, slots=True)
class WrapUpStarted:
    at: Final[float]
    agent_id: Final[str]
    contact_id: Final[str]
    until: Final[float]

    def __init__(self, at: float, agent_id: str, contact_id: str, until: float) -> None:
        self.at = at
        self.agent_id = agent_id
        self.contact_id = contact_id
        self.until = until


@dataclass(init=False, unsafe_hash=True, slots=True)
class WrapUpEnded:
    at: Final[float]
    agent_id: Final[str]
    contact_id: Final[str]

    def __init__(self, at: float, agent_id: str, contact_id: str) -> None:
        self.at = at
        self.agent_id = agent_id
        self.contact_id = contact_id


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactCompleted:
    """Terminal: conversation and wrap-up done."""

    at: Final[float]
    contact_id: Final[str]
    queue: Final[str]

    def __init__(self, at: float, contact_id: str, queue: str) -> None:
        self.at = at
        self.contact_id = contact_id
        self.queue = queue


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactTransferred:
    at: Final[float]
    contact_id: Final[str]
    from_queue: Final[str]
    by_agent: Final[str | None]
    to_queue: Final[str]
    to_agent: Final[str | None]

    def __init__(
        self,
        at: float,
        contact_id: str,
        from_queue: str,
        by_agent: str | None,
        to_queue: str,
        to_agent: str | None,
    ) -> None:
        self.at = at
        self.contact_id = contact_id
        self.from_queue = from_queue
        self.by_agent = by_agent
        self.to_queue = to_queue
        self.to_agent = to_agent


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactOverflowed:
    """The queue was full or the maximum wait passed. ``to_queue`` None: the
    contact left the ACD (terminal); the adapter routes it (voicemail,
    dialplan, ticket)."""

    at: Final[float]
    contact_id: Final[str]
    queue: Final[str]
    to_queue: Final[str | None]
    reason: Final[str]

    def __init__(self, at: float, contact_id: str, queue: str, to_queue: str | None, reason: str) -> None:
        self.at = at
        self.contact_id = contact_id
        self.queue = queue
        self.to_queue = to_queue
        self.reason = reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class ContactHandedOff:
    """The contact could not be served live (``reason``: closed, queue-full,
    max-wait) and became a work item of ``channel`` (task) in ``to_queue``,
    same id and context; a ContactQueued follows. The adapter lets the
    customer go without abandoning it."""

    at: Final[float]
    contact_id: Final[str]
    queue: Final[str]
    to_queue: Final[str]
    from_channel: Final[str]
    channel: Final[str]
    reason: Final[str]

    def __init__(
        self,
        at: float,
        contact_id: str,
        queue: str,
        to_queue: str,
        from_channel: str,
        channel: str,
        reason: str,
    ) -> None:
        self.at = at
        self.contact_id = contact_id
        self.queue = queue
        self.to_queue = to_queue
        self.from_channel = from_channel
        self.channel = channel
        self.reason = reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class QueueOpenChanged:
    at: Final[float]
    queue: Final[str]
    open: Final[bool]

    def __init__(self, at: float, queue: str, open: bool) -> None:
        self.at = at
        self.queue = queue
        self.open = open


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
