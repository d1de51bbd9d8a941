"""Errors with stable codes.

Two sides, as in h11: :class:`InvalidRequest` is the caller's fault (an unknown
agent, acting on someone else's contact, a transition the state machine does
not allow); :class:`PeerProtocolError` is a peer misbehaving on the wire (the
adapters raise it). Every error carries a ``code`` string that is part of the
API: adapters map codes to HTTP statuses and WebSocket error frames, clients
branch on them. Never change a code once released.
"""

from __future__ import annotations

from typing import ClassVar


class AcdError(Exception):
    """Base of every error the ACD raises on purpose."""

    code: ClassVar[str] = "acd-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidRequest(AcdError):
    """The caller asked for something that is not possible; nothing changed."""

    code = "invalid-request"


class PeerProtocolError(AcdError):
    """A peer (PBX, gateway, client) broke the protocol."""

    code = "peer-protocol-error"


class ConfigError(InvalidRequest):
    """A configuration is invalid. ``problems`` lists every error found."""

    code = "invalid-config"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems) if problems else "invalid configuration")
        self.problems = list(problems)


class UnknownAgent(InvalidRequest):
    code = "unknown-agent"


class UnknownContact(InvalidRequest):
    code = "unknown-contact"


class UnknownQueue(InvalidRequest):
    code = "unknown-queue"


class UnknownSkill(InvalidRequest):
    code = "unknown-skill"


class JournalBacklog(InvalidRequest):
    """The journal cannot be written (Redis or the disk away) and holds as
    much unwritten as it may: no new contact until it writes again."""

    code = "journal-unavailable"


class DuplicateContact(InvalidRequest):
    code = "duplicate-contact"


class QueueFull(InvalidRequest):
    code = "queue-full"


class QueueClosed(InvalidRequest):
    """The queue is outside its opening hours."""

    code = "queue-closed"


class TransferLoop(InvalidRequest):
    """The transfer would bring a contact back to a queue or agent it already
    left more often than ``max_transfer_returns`` allows."""

    code = "transfer-loop"


class NotYourContact(InvalidRequest):
    """An agent tried to act on a contact that is not assigned/offered to it."""

    code = "not-your-contact"


class ChannelNotAllowed(InvalidRequest):
    """The agent's capacity profile does not allow this channel at all."""

    code = "channel-not-allowed"


class InvalidTransition(InvalidRequest):
    """A state machine has no transition for ``event`` in ``state``."""

    code = "invalid-transition"

    def __init__(self, machine: str, state: str, event: str) -> None:
        super().__init__(f"{machine}: no transition for {event!r} in state {state!r}")
        self.machine = machine
        self.state = state
        self.event = event


class UnknownCommand(InvalidRequest):
    code = "unknown-command"
