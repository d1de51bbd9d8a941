"""What the ACD remembers of each contact, as plain data the stores keep.

:class:`ContactRecord` is one contact, whatever its channel: times (wall
clock), the queues it passed through, the agents who had it, how it ended,
wrap-up, survey, and for text channels the transcript. :func:`to_doc` and
:func:`from_doc` turn records and profiles into msgpack-ready maps and back
(sequences come back as tuples; maps stay maps, whatever keys they hold).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

OUTCOMES = ("answered", "abandoned", "overflowed")


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
    outcome: str  # one of OUTCOMES
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
