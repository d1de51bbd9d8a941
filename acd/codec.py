"""Commands and events as plain data, and as msgpack bytes.

``to_wire`` gives a dict with a ``type`` tag; ``from_wire`` rebuilds the frozen
dataclass. msgpack turns tuples into lists, so sequences come back as tuples
(every sequence field of a command or event is a tuple). Pure functions: the
journal and the wire protocols live in the adapters.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import msgpack

from acd.commands import COMMAND_TYPES
from acd.errors import InvalidRequest
from acd.events import EVENT_TYPES, Decision

_TYPES: dict[str, type] = {t.__name__: t for t in (*COMMAND_TYPES, *EVENT_TYPES, Decision)}
_NAMES: dict[type, frozenset[str]] = {}


class MalformedMessage(InvalidRequest):
    code = "malformed-message"


def to_wire(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(obj).__name__}
    for f in fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = to_wire(v) if type(v).__name__ in _TYPES else v
    return out


def _tuples(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_tuples(x) for x in v)
    return v


def from_wire(data: dict[str, Any]) -> Any:
    """Rebuild a command or event; a bad shape raises MalformedMessage."""
    if not isinstance(data, dict):
        raise MalformedMessage(f"expected a map, got {type(data).__name__}")
    cls = _TYPES.get(str(data.get("type")))
    if cls is None:
        raise MalformedMessage(f"unknown message type {data.get('type')!r}")
    kwargs: dict[str, Any] = {}
    names = _NAMES.get(cls)
    if names is None:  # dataclasses.fields is slow: a replay rebuilds 100,000s of these
        names = _NAMES[cls] = frozenset(f.name for f in fields(cls))
    for k, v in data.items():
        if k == "type":
            continue
        if k not in names:
            raise MalformedMessage(f"{cls.__name__}: unknown field {k!r}")
        kwargs[k] = from_wire(v) if isinstance(v, dict) and "type" in v else _tuples(v)
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise MalformedMessage(f"{cls.__name__}: {e}") from None


def pack(obj: Any) -> bytes:
    return msgpack.packb(to_wire(obj), use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes) -> Any:
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise MalformedMessage(f"not msgpack: {e}") from None
    return from_wire(raw)
