"""The request loop every daemon WebSocket runs: read a frame, dispatch it,
answer with ``ack`` or ``error``.

One place decides what a bad frame costs (an error frame, never the
connection) and what a bug costs (an ``internal-error`` answer and a logged
traceback, never the connection either).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from acd.adapters.web import frames
from acd.adapters.web.outbox import Outbox
from acd.errors import AcdError

log = logging.getLogger("acd.requests")

Dispatch = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def _never(error: AcdError) -> bool:
    return False


async def answer_requests(
    ws: web.WebSocketResponse,
    box: Outbox,
    dispatch: Dispatch,
    stop_after: Callable[[AcdError], bool] = _never,
) -> None:
    """Until the socket closes (or ``stop_after(error)`` says so): each frame
    goes to ``dispatch``; its result is the ack, its AcdError the error."""
    async for msg in ws:
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        box.binary = msg.type == WSMsgType.BINARY
        rid = None
        try:
            frame = frames.decode(msg.type, msg.data)
            rid = frames.request_id(frame)
            box.put(frames.ack(rid, **await dispatch(frame)))
        except AcdError as e:
            box.put(frames.error(rid, e.code, e.message))
            if stop_after(e):
                return
        except Exception:  # a bug: answer, log, keep the connection
            log.exception("%s: frame failed", box.label)
            box.put(frames.error(rid, "internal-error", "the server failed to handle this frame"))
