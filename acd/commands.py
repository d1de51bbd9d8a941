"""Commands: what the adapters ask of the engine.

Plain slotted dataclasses (h11's ``_events.py`` style) that msgpack can carry
(see :mod:`acd.codec`): the daemon journals them, and replaying the same
commands in the same order rebuilds the same state and the same events.
Every command carries ``now`` (seconds, any epoch, never decreasing).

Read-only as events are (:mod:`acd.events`): every field is ``Final``, and
the explicit ``__init__`` is what mypyc compiles, so the engine reads a
command's fields from a C struct instead of through Python's attribute
lookup (several reads per command, on every command).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(init=False, unsafe_hash=True, slots=True)
class Tick:
    """Fire every timer due at or before ``now`` (offer expiry, wrap-up end,
    escalation steps, preferred-agent holds, maximum wait)."""

    now: Final[float]

    def __init__(self, now: float) -> None:
        self.now = now


@dataclass(init=False, unsafe_hash=True, slots=True)
class Login:
    """Log an agent in, available, or away with ``away_reason``."""

    now: Final[float]
    agent_id: Final[str]
    away_reason: Final[str | None]

    def __init__(self, now: float, agent_id: str, away_reason: str | None = None) -> None:
        self.now = now
        self.agent_id = agent_id
        self.away_reason = away_reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class Logout:
    """Pending offers are withdrawn; connected contacts stay with the agent
    until they end (a logout never drops a customer)."""

    now: Final[float]
    agent_id: Final[str]

    def __init__(self, now: float, agent_id: str) -> None:
        self.now = now
        self.agent_id = agent_id


@dataclass(init=False, unsafe_hash=True, slots=True)
class SetAvailable:
    now: Final[float]
    agent_id: Final[str]

    def __init__(self, now: float, agent_id: str) -> None:
        self.now = now
        self.agent_id = agent_id


@dataclass(init=False, unsafe_hash=True, slots=True)
class SetAway:
    """Away with a reason code; pending offers are withdrawn and requeued."""

    now: Final[float]
    agent_id: Final[str]
    reason: Final[str]

    def __init__(self, now: float, agent_id: str, reason: str = "away") -> None:
        self.now = now
        self.agent_id = agent_id
        self.reason = reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class NewContact:
    """A contact arrives in ``queue``.

    ``skills`` adds to the queue's requirements (the highest minimum wins).
    ``preferred_agent`` waits up to ``preferred_wait_s`` (default: the queue's)
    for that agent before anyone else may take it.
    """

    now: Final[float]
    contact_id: Final[str]
    queue: Final[str]
    channel: Final[str | None]
    customer: Final[str]
    priority: Final[int]
    skills: Final[tuple[tuple[str, int], ...]]
    attributes: Final[dict[str, str]]
    preferred_agent: Final[str | None]
    preferred_wait_s: Final[float | None]

    def __init__(
        self,
        now: float,
        contact_id: str,
        queue: str,
        channel: str | None = None,
        customer: str = "",
        priority: int = 0,
        skills: tuple[tuple[str, int], ...] = (),
        attributes: dict[str, str] | None = None,
        preferred_agent: str | None = None,
        preferred_wait_s: float | None = None,
    ) -> None:
        self.now = now
        self.contact_id = contact_id
        self.queue = queue
        self.channel = channel
        self.customer = customer
        self.priority = priority
        self.skills = skills
        self.attributes = {} if attributes is None else attributes
        self.preferred_agent = preferred_agent
        self.preferred_wait_s = preferred_wait_s


@dataclass(init=False, unsafe_hash=True, slots=True)
class Accept:
    """The agent took the offer. ``answered_ago``: it happened that many
    seconds before ``now`` (a PBX that reports the answer only when the call
    ends, as Dial's ANSWEREDTIME_MS does); bounded by when it was offered."""

    now: Final[float]
    agent_id: Final[str]
    contact_id: Final[str]
    answered_ago: Final[float]

    def __init__(self, now: float, agent_id: str, contact_id: str, answered_ago: float = 0.0) -> None:
        self.now = now
        self.agent_id = agent_id
        self.contact_id = contact_id
        self.answered_ago = answered_ago


@dataclass(init=False, unsafe_hash=True, slots=True)
class Reject:
    """The agent declines the offer; the contact goes back to the head of its
    queue and is not offered to this agent again."""

    now: Final[float]
    agent_id: Final[str]
    contact_id: Final[str]

    def __init__(self, now: float, agent_id: str, contact_id: str) -> None:
        self.now = now
        self.agent_id = agent_id
        self.contact_id = contact_id


@dataclass(init=False, unsafe_hash=True, slots=True)
class Ringing:
    """A PBX now rings the agent's phone for this offer and will report the
    outcome (Accept, NoAnswer, Abandon). The engine's offer expiry moves to
    ``now + timeout_s``; None leaves the ring timer to the PBX alone (a
    FastAGI Dial carries its own timeout, and a call answered without
    answer supervision is only known when the Dial returns)."""

    now: Final[float]
    agent_id: Final[str]
    contact_id: Final[str]
    timeout_s: Final[float | None]

    def __init__(self, now: float, agent_id: str, contact_id: str, timeout_s: float | None = None) -> None:
        self.now = now
        self.agent_id = agent_id
        self.contact_id = contact_id
        self.timeout_s = timeout_s


@dataclass(init=False, unsafe_hash=True, slots=True)
class DeviceState:
    """The agent's phone as the PBX sees it. Not ``usable`` (unregistered,
    unreachable, busy with a call the ACD did not route: ``reason``) closes
    the agent's voice-like channels until it is usable again; chats go on."""

    now: Final[float]
    agent_id: Final[str]
    usable: Final[bool]
    reason: Final[str]

    def __init__(self, now: float, agent_id: str, usable: bool, reason: str = "phone-unavailable") -> None:
        self.now = now
        self.agent_id = agent_id
        self.usable = usable
        self.reason = reason


NO_ANSWER_REASONS: Final = ("no-answer", "busy", "congestion", "unavailable")


@dataclass(init=False, unsafe_hash=True, slots=True)
class NoAnswer:
    """The offer failed at the agent's device (``reason``: no-answer, busy,
    congestion, unavailable): as an offer timeout (RONA), the agent goes
    not-responding and the contact back to the head of its queue."""

    now: Final[float]
    agent_id: Final[str]
    contact_id: Final[str]
    reason: Final[str]

    def __init__(self, now: float, agent_id: str, contact_id: str, reason: str = "no-answer") -> None:
        self.now = now
        self.agent_id = agent_id
        self.contact_id = contact_id
        self.reason = reason


@dataclass(init=False, unsafe_hash=True, slots=True)
class Abandon:
    """The customer left. Queued or offered: abandoned. Connected: the
    conversation ends normally and the agent wraps up."""

    now: Final[float]
    contact_id: Final[str]

    def __init__(self, now: float, contact_id: str) -> None:
        self.now = now
        self.contact_id = contact_id


@dataclass(init=False, unsafe_hash=True, slots=True)
class EndContact:
    """The agent ends a connected conversation; wrap-up starts."""

    now: Final[float]
    agent_id: Final[str]
    contact_id: Final[str]

    def __init__(self, now: float, agent_id: str, contact_id: str) -> None:
        self.now = now
        self.agent_id = agent_id
        self.contact_id = contact_id


@dataclass(init=False, unsafe_hash=True, slots=True)
class EndWrapUp:
    """Finish wrap-up early."""

    now: Final[float]
    agent_id: Final[str]
    contact_id: Final[str]

    def __init__(self, now: float, agent_id: str, contact_id: str) -> None:
        self.now = now
        self.agent_id = agent_id
        self.contact_id = contact_id


@dataclass(init=False, unsafe_hash=True, slots=True)
class Transfer:
    """Move a contact to a queue, or to an agent (who is waited for up to
    ``wait_s``, then the target queue takes it).

    ``by_agent`` set: that agent must hold the contact connected; it goes to
    wrap-up. ``by_agent`` None: a supervisor move of a waiting contact.
    """

    now: Final[float]
    contact_id: Final[str]
    by_agent: Final[str | None]
    to_queue: Final[str | None]
    to_agent: Final[str | None]
    wait_s: Final[float | None]

    def __init__(
        self,
        now: float,
        contact_id: str,
        by_agent: str | None = None,
        to_queue: str | None = None,
        to_agent: str | None = None,
        wait_s: float | None = None,
    ) -> None:
        self.now = now
        self.contact_id = contact_id
        self.by_agent = by_agent
        self.to_queue = to_queue
        self.to_agent = to_agent
        self.wait_s = wait_s


@dataclass(init=False, unsafe_hash=True, slots=True)
class SetQueueOpen:
    """Open or close a queue (its opening hours, kept by the adapters). A
    closed queue offers nothing; what a new contact does there is the
    queue's ``when_closed``. Waiting contacts stay and are routed when it
    opens."""

    now: Final[float]
    queue: Final[str]
    open: Final[bool]

    def __init__(self, now: float, queue: str, open: bool) -> None:
        self.now = now
        self.queue = queue
        self.open = open


Command = (
    Tick
    | Login
    | Logout
    | SetAvailable
    | SetAway
    | NewContact
    | Accept
    | Reject
    | Ringing
    | NoAnswer
    | DeviceState
    | Abandon
    | EndContact
    | EndWrapUp
    | Transfer
    | SetQueueOpen
)

COMMAND_TYPES: Final[tuple[type, ...]] = (
    Tick,
    Login,
    Logout,
    SetAvailable,
    SetAway,
    NewContact,
    Accept,
    Reject,
    Ringing,
    NoAnswer,
    DeviceState,
    Abandon,
    EndContact,
    EndWrapUp,
    Transfer,
    SetQueueOpen,
)
