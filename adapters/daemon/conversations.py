"""Conversations: the customer side of each contact the daemon holds.

The engine decides who serves a contact; this registry remembers what the
adapters need around it: where the customer is (a web chat socket, a
messaging gateway, a phone), who they said they are, the transcript in
order, and which agent may write to them right now (the one connected, and
only while connected). Message order within a conversation is the order of
``add``: one event loop, one list, sequence numbers from 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from acd.errors import InvalidRequest
from acd.history import from_doc, to_doc
from acd.identity import Profile
from acd.journal import Journal

MAX_MESSAGES = 2000  # per conversation; a runaway client cannot grow memory forever
MAX_NOTES = 200
SCREEN_POP_MESSAGES = 50


class ConversationFull(InvalidRequest):
    code = "conversation-full"


class CustomerSink(Protocol):
    """Where frames for the customer go (a web chat socket, a gateway)."""

    def deliver(self, conv: Conversation, frame: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Message:
    seq: int
    at: float  # wall-clock seconds (Unix time), for people to read
    sender: str  # "customer" | "agent" | "system"
    text: str
    agent_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """For agents and supervisors: ``agent`` is the writer's agent id."""
        out: dict[str, Any] = {"seq": self.seq, "at": self.at, "from": self.sender, "text": self.text}
        if self.agent_id is not None:
            out["agent"] = self.agent_id
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(d["seq"], d["at"], d["from"], d["text"], d.get("agent"))

    def for_customer(self, agent_name: Callable[[str], str]) -> dict[str, Any]:
        """For the customer: ``agent`` is the writer's display name, never a login id."""
        out = self.to_dict()
        if self.agent_id is not None:
            out["agent"] = agent_name(self.agent_id)
        return out


@dataclass(slots=True)
class Conversation:
    contact_id: str
    channel: str
    queue: str
    priority: int
    customer: str  # the customer key (phone, chat user, e-mail ...)
    origin: str  # "webchat", a gateway's name, "api", "voice"
    # verified: from a source the ACD can check (caller id, a signed gateway
    # webhook, a signed identity token, the admin API); only these find a customer
    identity: dict[str, str] = field(default_factory=dict)
    # claimed: typed by an anonymous visitor; shown to agents as unverified, nothing more
    claimed: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    sink: CustomerSink | None = None
    external_user: str | None = None  # a gateway's user id
    agent_id: str | None = None  # the connected agent: the only one who may write
    ended: bool = False  # the conversation is over (wrap-up may still run)
    transcript: list[Message] = field(default_factory=list)
    profile: Profile | None = None  # the customer, once identified
    history: list[dict[str, Any]] = field(default_factory=list)  # their latest earlier contacts
    last_agent: str | None = None  # who served this customer last (recently): preferred
    rules: tuple[str, ...] = ()  # the routing rules that matched it
    handed_off: bool = False  # a work item now: the customer has gone, the contact goes on
    # Agents only: internal notes (transfer context, wrap-up) and the wrap-up code.
    notes: list[Message] = field(default_factory=list)
    disposition: str | None = None
    consultant: str | None = None  # the agent the connected agent consults about it (warm transfer)
    max_chars: int = 100_000  # [limits] transcript_chars
    chars: int = 0  # characters in the transcript so far
    offered_seq: int = 0  # the last message the current offer's screen pop carried
    resume_digest: str | None = None  # a web chat page's resume token (its SHA-256)
    journal: Journal | None = None  # set once the conversation is on record: its changes follow

    def add(self, sender: str, text: str, at: float, agent_id: str | None = None) -> Message:
        if len(self.transcript) >= MAX_MESSAGES:
            raise ConversationFull(f"conversation {self.contact_id!r} reached {MAX_MESSAGES} messages")
        if self.chars + len(text) > self.max_chars:
            raise ConversationFull(
                f"conversation {self.contact_id!r} reached {self.max_chars} characters of messages"
            )
        m = Message(len(self.transcript) + 1, at, sender, text, agent_id)
        self.transcript.append(m)
        self.chars += len(text)
        if self.journal is not None:
            self.journal.append({"k": "msg", "id": self.contact_id, "m": m.to_dict()})
        return m

    def note(self, agent_id: str, text: str, at: float) -> Message:
        """An internal note: agents see it, the customer never does."""
        if len(self.notes) >= MAX_NOTES:
            raise ConversationFull(f"conversation {self.contact_id!r} reached {MAX_NOTES} notes")
        m = Message(len(self.notes) + 1, at, "agent", text, agent_id)
        self.notes.append(m)
        if self.journal is not None:
            self.journal.append({"k": "msg", "id": self.contact_id, "m": m.to_dict(), "note": True})
        return m

    def unnote(self, m: Message) -> None:
        """Take back a note whose request was refused (a refused request changes nothing)."""
        self.notes.remove(m)
        if self.journal is not None:
            self.journal.append({"k": "unnote", "id": self.contact_id, "seq": m.seq})

    def set_disposition(self, code: str) -> None:
        self.disposition = code
        if self.journal is not None:
            self.journal.append({"k": "disp", "id": self.contact_id, "d": code})

    def record(self) -> dict[str, Any]:
        """What the journal keeps of the customer side, as it is now."""
        return {
            "contact_id": self.contact_id,
            "channel": self.channel,
            "queue": self.queue,
            "priority": self.priority,
            "customer": self.customer,
            "origin": self.origin,
            "identity": self.identity,
            "claimed": self.claimed,
            "attributes": self.attributes,
            "external_user": self.external_user,
            "profile": to_doc(self.profile) if self.profile is not None else None,
            "history": self.history,
            "last_agent": self.last_agent,
            "rules": list(self.rules),
            "max_chars": self.max_chars,
            "resume_digest": self.resume_digest,
            "disposition": self.disposition,
            "transcript": [m.to_dict() for m in self.transcript],
            "notes": [m.to_dict() for m in self.notes],
        }

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> Conversation:
        conv = cls(
            contact_id=doc["contact_id"],
            channel=doc["channel"],
            queue=doc["queue"],
            priority=doc["priority"],
            customer=doc["customer"],
            origin=doc["origin"],
            identity=dict(doc["identity"]),
            claimed=dict(doc["claimed"]),
            attributes=dict(doc["attributes"]),
            external_user=doc["external_user"],
            profile=from_doc(Profile, doc["profile"]) if doc["profile"] is not None else None,
            history=list(doc["history"]),
            last_agent=doc["last_agent"],
            rules=tuple(doc["rules"]),
            disposition=doc["disposition"],
            max_chars=doc["max_chars"],
            resume_digest=doc["resume_digest"],
        )
        conv.transcript = [Message.from_dict(m) for m in doc["transcript"]]
        conv.notes = [Message.from_dict(m) for m in doc["notes"]]
        conv.chars = sum(len(m.text) for m in conv.transcript)
        conv.offered_seq = len(conv.transcript)  # whoever holds it now has seen it
        return conv

    def to_customer(self, frame: dict[str, Any]) -> None:
        if self.sink is not None:
            self.sink.deliver(self, frame)

    def screen_pop(self) -> dict[str, Any]:
        """What an agent's desktop shows with an offer."""
        customer: dict[str, Any] = {
            "key": self.customer,
            "identity": self.identity,
            "verified": bool(self.identity),
            "claimed": self.claimed,
        }
        if self.profile is not None:
            customer.update(
                id=self.profile.id,
                identifiers=list(self.profile.identifiers),
                profile=dict(self.profile.attributes),
            )
        return {
            "customer": customer,
            "attributes": self.attributes,
            "origin": self.origin,
            "transcript": [m.to_dict() for m in self.transcript[-SCREEN_POP_MESSAGES:]],
            "notes": [m.to_dict() for m in self.notes],
            "rules": list(self.rules),
            "disposition": self.disposition,
            "history": self.history,
        }


class Conversations:
    def __init__(self) -> None:
        self.by_id: dict[str, Conversation] = {}
        # called with each conversation removed (adapters drop what they keep for it)
        self.on_remove: list[Callable[[Conversation], None]] = []
        # (gateway, user id) -> the open conversation's contact id
        self.by_user: dict[tuple[str, str], str] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, contact_id: str) -> Conversation | None:
        return self.by_id.get(contact_id)

    def add(self, conv: Conversation) -> None:
        self.by_id[conv.contact_id] = conv
        if conv.external_user is not None:
            self.by_user[(conv.origin, conv.external_user)] = conv.contact_id

    def of_user(self, gateway: str, user: str) -> Conversation | None:
        cid = self.by_user.get((gateway, user))
        return self.by_id.get(cid) if cid is not None else None

    def remove(self, contact_id: str) -> Conversation | None:
        conv = self.by_id.pop(contact_id, None)
        if conv is not None:
            key = (conv.origin, conv.external_user or "")
            if self.by_user.get(key) == contact_id:  # not a newer conversation of the same user
                del self.by_user[key]
            for fn in self.on_remove:
                fn(conv)
        return conv
