"""Commands: what the adapters ask of the engine.

Plain frozen, slotted dataclasses (h11's ``_events.py`` style) that msgpack can
carry (see :mod:`acd.codec`): the daemon journals them, and replaying the same
commands in the same order rebuilds the same state and the same events.
Every command carries ``now`` (seconds, any epoch, never decreasing).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Tick:
    """Fire every timer due at or before ``now`` (offer expiry, wrap-up end,
    escalation steps, preferred-agent holds, maximum wait)."""

    now: float


@dataclass(frozen=True, slots=True)
class Login:
    """Log an agent in, available, or away with ``away_reason``."""

    now: float
    agent_id: str
    away_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Logout:
    """Pending offers are withdrawn; connected contacts stay with the agent
    until they end (a logout never drops a customer)."""

    now: float
    agent_id: str


@dataclass(frozen=True, slots=True)
class SetAvailable:
    now: float
    agent_id: str


@dataclass(frozen=True, slots=True)
class SetAway:
    """Away with a reason code; pending offers are withdrawn and requeued."""

    now: float
    agent_id: str
    reason: str = "away"


@dataclass(frozen=True, slots=True)
class NewContact:
    """A contact arrives in ``queue``.

    ``skills`` adds to the queue's requirements (the highest minimum wins).
    ``preferred_agent`` waits up to ``preferred_wait_s`` (default: the queue's)
    for that agent before anyone else may take it.
    """

    now: float
    contact_id: str
    queue: str
    channel: str | None = None
    customer: str = ""
    priority: int = 0
    skills: tuple[tuple[str, int], ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    preferred_agent: str | None = None
    preferred_wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class Accept:
    now: float
    agent_id: str
    contact_id: str


@dataclass(frozen=True, slots=True)
class Reject:
    """The agent declines the offer; the contact goes back to the head of its
    queue and is not offered to this agent again."""

    now: float
    agent_id: str
    contact_id: str


@dataclass(frozen=True, slots=True)
class Ringing:
    """A PBX now rings the agent's phone for this offer and will report the
    outcome (Accept, NoAnswer, Abandon). The engine's offer expiry moves to
    ``now + timeout_s``; None leaves the ring timer to the PBX alone (a
    FastAGI Dial carries its own timeout, and a call answered without
    answer supervision is only known when the Dial returns)."""

    now: float
    agent_id: str
    contact_id: str
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceState:
    """The agent's phone as the PBX sees it. Not ``usable`` (unregistered,
    unreachable, busy with a call the ACD did not route: ``reason``) closes
    the agent's voice-like channels until it is usable again; chats go on."""

    now: float
    agent_id: str
    usable: bool
    reason: str = "phone-unavailable"


NO_ANSWER_REASONS = ("no-answer", "busy", "congestion", "unavailable")


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """The offer failed at the agent's device (``reason``: no-answer, busy,
    congestion, unavailable): as an offer timeout (RONA), the agent goes
    not-responding and the contact back to the head of its queue."""

    now: float
    agent_id: str
    contact_id: str
    reason: str = "no-answer"


@dataclass(frozen=True, slots=True)
class Abandon:
    """The customer left. Queued or offered: abandoned. Connected: the
    conversation ends normally and the agent wraps up."""

    now: float
    contact_id: str


@dataclass(frozen=True, slots=True)
class EndContact:
    """The agent ends a connected conversation; wrap-up starts."""

    now: float
    agent_id: str
    contact_id: str


@dataclass(frozen=True, slots=True)
class EndWrapUp:
    """Finish wrap-up early."""

    now: float
    agent_id: str
    contact_id: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move a contact to a queue, or to an agent (who is waited for up to
    ``wait_s``, then the target queue takes it).

    ``by_agent`` set: that agent must hold the contact connected; it goes to
    wrap-up. ``by_agent`` None: a supervisor move of a waiting contact.
    """

    now: float
    contact_id: str
    by_agent: str | None = None
    to_queue: str | None = None
    to_agent: str | None = None
    wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class SetQueueOpen:
    """Open or close a queue (its opening hours, kept by the adapters). A
    closed queue offers nothing; what a new contact does there is the
    queue's ``when_closed``. Waiting contacts stay and are routed when it
    opens."""

    now: float
    queue: str
    open: bool


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

COMMAND_TYPES: tuple[type, ...] = (
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
