"""What the ACD remembers of each contact, as plain data the stores keep.

:class:`ContactRecord` is one contact, whatever its channel: times (wall
clock), the queues it passed through, the agents who had it, how it ended,
wrap-up, survey, and for text channels the transcript. :func:`to_doc` and
:func:`from_doc` turn records and profiles into msgpack-ready maps and back
(sequences come back as tuples; maps stay maps, whatever keys they hold).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from acd.events import (
    ContactAbandoned,
    ContactCompleted,
    ContactConnected,
    ContactEnded,
    ContactOverflowed,
    ContactQueued,
)


@dataclass(frozen=True, slots=True)
class ContactRecord:
    contact_id: str
    profile_id: str
    channel: str
    queue: str  # the last queue
    origin: str  # voice, webchat, a gateway's name, api
    customer: str  # the customer key the contact arrived with
    queued_at: float
    ended_at: float
    outcome: str  # answered, abandoned or overflowed
    answered_at: float | None = None
    agents: tuple[str, ...] = ()  # who had it, in order
    queues: tuple[str, ...] = ()  # every queue it was in, in order
    disposition: str | None = None
    notes: str = ""
    survey: int | None = None
    summary: str = ""  # the first customer message, or the IVR's choice
    context: Mapping[str, str] = field(default_factory=dict)  # attributes it arrived with
    transcript: tuple[Mapping[str, Any], ...] = ()


T = TypeVar("T")


def to_doc(obj: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return dict(v)
    return v


def from_doc(cls: type[T], doc: Mapping[str, Any]) -> T:
    """Rebuild; fields the class no longer has are dropped, so old documents
    still load after a field is removed."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items() if k in names}
    return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Finished:
    """A contact the engine is done with, as the events told it (engine time)."""

    contact_id: str
    channel: str
    queue: str
    queued_at: float
    ended_at: float
    outcome: str
    answered_at: float | None
    agents: tuple[str, ...]
    queues: tuple[str, ...]


@dataclass(slots=True)
class _Open:
    channel: str
    queued_at: float
    queues: list[str]
    agents: list[str] = field(default_factory=list)
    answered_at: float | None = None
    ended_at: float | None = None  # the conversation's end (wrap-up follows)


class HistoryBuilder:
    """Follows the engine's events and says when each contact is finished:
    completed after its conversation (and wrap-up), abandoned while waiting
    or ringing, or overflowed out of the ACD. O(1) per event, one entry per
    open contact."""

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}

    def __len__(self) -> int:
        return len(self._open)

    def state(self) -> dict[str, list[Any]]:
        """The contacts it follows, as plain data (a journal snapshot). O(open)."""
        return {
            cid: [o.channel, o.queued_at, o.queues, o.agents, o.answered_at, o.ended_at]
            for cid, o in self._open.items()
        }

    @classmethod
    def from_state(cls, state: dict[str, list[Any]]) -> HistoryBuilder:
        b = cls()
        for cid, (channel, queued_at, queues, agents, answered_at, ended_at) in state.items():
            b._open[cid] = _Open(channel, queued_at, list(queues), list(agents), answered_at, ended_at)
        return b

    def feed(self, events: Iterable[Any]) -> list[Finished]:
        done: list[Finished] = []
        for e in events:
            if isinstance(e, ContactQueued):
                o = self._open.get(e.contact_id)
                if o is None:
                    self._open[e.contact_id] = _Open(e.channel, e.at, [e.queue])
                elif o.queues[-1] != e.queue:
                    o.queues.append(e.queue)
            elif isinstance(e, ContactConnected):
                o = self._open.get(e.contact_id)
                if o is not None:
                    o.agents.append(e.agent_id)
                    if o.answered_at is None:
                        o.answered_at = e.at
            elif isinstance(e, ContactEnded):
                o = self._open.get(e.contact_id)
                if o is not None:
                    o.ended_at = e.at
            elif isinstance(e, ContactCompleted):
                done += self._finish(e.contact_id, e.at, e.queue, "answered")
            elif isinstance(e, ContactAbandoned):
                done += self._finish(e.contact_id, e.at, e.queue, "abandoned")
            elif isinstance(e, ContactOverflowed) and e.to_queue is None:
                done += self._finish(e.contact_id, e.at, e.queue, "overflowed")
        return done

    def _finish(self, contact_id: str, at: float, queue: str, outcome: str) -> list[Finished]:
        o = self._open.pop(contact_id, None)
        if o is None:
            return []
        if outcome == "answered" and o.answered_at is None:
            outcome = "abandoned"  # completed without ever being connected
        return [
            Finished(
                contact_id,
                o.channel,
                queue,
                o.queued_at,
                o.ended_at if o.ended_at is not None else at,
                outcome,
                o.answered_at,
                tuple(o.agents),
                tuple(o.queues),
            )
        ]
