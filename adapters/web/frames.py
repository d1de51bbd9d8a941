"""WebSocket frames: JSON text (or msgpack binary) in, validated fields out.

Every client frame is a map with a ``type`` and an optional ``id``; the server
answers each frame that carries an ``id`` with ``{"type": "ack", "id": ...}``
or ``{"type": "error", "id": ..., "error": {"code", "message"}}``. A frame
that cannot be read gets an error and the connection stays open: one bad
frame never costs an agent its session.

A connection answers in the encoding the client last used (text → JSON,
binary → msgpack).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import msgpack
from aiohttp import WSMsgType

from acd.codec import MalformedMessage
from acd.errors import InvalidRequest


class Unauthorized(InvalidRequest):
    code = "unauthorized"


class UnknownFrame(InvalidRequest):
    code = "unknown-frame"


MAX_TEXT = 16_000  # characters in one chat message
MAX_FRAME = 64 * 1024  # bytes; aiohttp closes the connection beyond it


def decode(kind: WSMsgType, data: Any) -> dict[str, Any]:
    """A client frame as a dict with a string ``type``; MalformedMessage if not."""
    try:
        if kind == WSMsgType.TEXT:
            obj = json.loads(data)
        else:
            obj = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise MalformedMessage(f"not valid {'JSON' if kind == WSMsgType.TEXT else 'msgpack'}: {e}") from None
    except RecursionError:
        raise MalformedMessage("the frame is nested too deeply") from None
    if not isinstance(obj, dict):
        raise MalformedMessage(f"expected an object, got {type(obj).__name__}")
    if not isinstance(obj.get("type"), str):
        raise MalformedMessage("every frame needs a string 'type'")
    return obj


def _what(frame: dict[str, Any]) -> str:
    """The frame's type for an error message (a REST body has none)."""
    return str(frame.get("type", "request"))


def valid_unicode(v: str) -> bool:
    """No lone surrogates (JSON's ``"\ud800"``): such text cannot be stored
    or sent as UTF-8, so the edge refuses it. O(len(v))."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(frame: dict[str, Any], key: str, limit: int = 200) -> str:
    """A required non-empty string field of valid Unicode (refused, not repaired)."""
    v = frame.get(key)
    if not isinstance(v, str) or not v or len(v) > limit:
        raise MalformedMessage(f"{_what(frame)}: {key!r} must be a non-empty string of at most {limit}")
    if not valid_unicode(v):
        raise MalformedMessage(f"{_what(frame)}: {key!r} is not valid Unicode (a lone surrogate)")
    return v


def opt_text(frame: dict[str, Any], key: str, limit: int = 200) -> str | None:
    return text(frame, key, limit) if frame.get(key) is not None else None


def mapping(frame: dict[str, Any], key: str) -> dict[str, str]:
    """An optional map of short strings (attributes, identity)."""
    v = frame.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict) or len(v) > 50:
        raise MalformedMessage(f"{_what(frame)}: {key!r} must be an object of at most 50 strings")
    out = {}
    for k, x in v.items():
        if not isinstance(x, (str, int, float)) or isinstance(x, bool) or len(str(x)) > 500:
            raise MalformedMessage(f"{_what(frame)}: {key}.{k} must be a string or a number")
        if not (len(str(k)) <= 100 and valid_unicode(str(k)) and valid_unicode(str(x))):
            raise MalformedMessage(
                f"{_what(frame)}: {key} keys are at most 100 characters, all valid Unicode"
            )
        out[str(k)] = str(x)
    return out


def rounded(obj: Any, digits: int = 3) -> Any:
    """Statistics for people and dashboards: floats to ``digits`` places
    (``asa_s 1.336``, not ``1.3360000000000127``), recursively. O(size)."""
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    return obj


def stats(record: Any) -> dict[str, Any]:
    """A statistics dataclass (queue, agent, explanation) as rounded JSON."""
    out: dict[str, Any] = rounded(asdict(record))
    return out


def request_id(frame: dict[str, Any]) -> str | int | None:
    rid = frame.get("id")
    return rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None


def ack(rid: str | int | None, **result: Any) -> dict[str, Any]:
    return {"type": "ack", "id": rid, **result}


def error(rid: str | int | None, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": rid, "error": {"code": code, "message": message}}


def encode(frame: dict[str, Any], binary: bool) -> str | bytes:
    """A server frame as msgpack bytes or JSON text (UTF-8 when sent)."""
    if binary:
        data: bytes = msgpack.packb(frame, use_bin_type=True)
        return data
    return json.dumps(frame, separators=(",", ":"))  # ASCII: its length is its size in bytes
