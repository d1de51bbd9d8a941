"""REST request bodies: what one client may send, checked at the edge."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from acd.codec import MalformedMessage
from acd.errors import InvalidRequest


async def json_body(request: web.Request, required: bool = False) -> dict[str, Any]:
    """A JSON object body: UTF-8 (RFC 8259), ``Content-Type: application/json``
    (else 415), nesting bounded (else ``malformed-message``)."""
    if not request.can_read_body:
        if required:
            raise MalformedMessage("a JSON object body is required")
        return {}
    if request.content_type not in ("application/json", "application/octet-stream") and not (
        request.content_type.endswith("+json")
    ):
        raise UnsupportedMediaType(f"expected Content-Type: application/json, got {request.content_type!r}")
    raw = await request.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedMessage(f"the body is not JSON: {e}") from None
    except RecursionError:
        raise MalformedMessage("the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedMessage("the body must be a JSON object")
    return data


class UnsupportedMediaType(InvalidRequest):
    code = "unsupported-media-type"
