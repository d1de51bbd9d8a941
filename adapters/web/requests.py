"""The request loop every daemon WebSocket runs: read a frame, dispatch it,
answer with ``ack`` or ``error``.

One place decides what a bad frame costs (an error frame, never the
connection) and what a bug costs (an ``internal-error`` answer and a logged
traceback, never the connection either).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from acd.adapters.web import frames
from acd.adapters.web.outbox import Outbox
from acd.errors import AcdError

log = logging.getLogger("acd.requests")

Dispatch = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


IDLE = 4010  # close code: nothing sent for too long (the socket had nothing open)


def _never(error: AcdError) -> bool:
    return False


def _no_idle_limit() -> float | None:
    return None


async def answer_requests(
    ws: web.WebSocketResponse,
    box: Outbox,
    dispatch: Dispatch,
    stop_after: Callable[[AcdError], bool] = _never,
    idle_s: Callable[[], float | None] = _no_idle_limit,
) -> bool:
    """Until the socket closes (or ``stop_after(error)`` says so): each frame
    goes to ``dispatch``; its result is the ack, its AcdError the error.
    ``idle_s()``, asked before each frame, bounds the wait for it (None: no
    bound); pings and pongs do not count as frames. Returns True if the
    client went idle."""
    loop = asyncio.get_running_loop()
    while True:
        limit = idle_s()
        try:
            async with asyncio.timeout_at(loop.time() + limit if limit is not None else None):
                msg = await ws.receive()
        except TimeoutError:
            return True
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return False
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
                return False
        except Exception:  # a bug: answer, log, keep the connection
            log.exception("%s: frame failed", box.label)
            box.put(frames.error(rid, "internal-error", "the server failed to handle this frame"))
