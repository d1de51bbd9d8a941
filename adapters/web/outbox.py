"""One writer per WebSocket: frames go out in the order they were put.

The event pump must never wait on a slow client (one stuck desktop would
stall routing for everyone), so ``put`` never blocks: frames are encoded at
once and queue here, and the outbox's own task writes them. What a socket
may hold unsent is bounded in bytes (``[limits] outbox_bytes``) as well as
frames: a client that falls that far behind is disconnected with close code
4008 (it reconnects and gets a fresh state snapshot) rather than letting
memory grow with what it does not read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from aiohttp import web

from acd.adapters.web.frames import encode

log = logging.getLogger("acd.outbox")

_CLOSE = object()
SLOW_CLIENT = 4008  # WebSocket close code: too far behind
DEFAULT_BYTES = 8 * 1024 * 1024


class Outbox:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        label: str,
        limit: int = 2000,
        max_bytes: int = DEFAULT_BYTES,
        refusals: Counter[str] | None = None,
    ) -> None:
        self.ws = ws
        self.label = label
        self.binary = False  # answer msgpack once the client speaks it
        self.limit = limit
        self.max_bytes = max_bytes
        self.refusals = refusals
        self.queued_bytes = 0
        self._q: asyncio.Queue[Any] = asyncio.Queue()
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=f"acd-outbox-{label}")

    @property
    def open(self) -> bool:
        return not self._closing and not self.ws.closed

    def put(self, frame: dict[str, Any]) -> None:
        """Encode and queue a frame. O(size of the frame), never awaits."""
        if self._closing:
            return
        try:
            data = encode(frame, self.binary)
        except (TypeError, ValueError) as e:  # a bug upstream: this frame is lost, not the socket
            log.error(
                "%s: a %s frame could not be encoded: %s", self.label, frame.get("type"), type(e).__name__
            )
            return
        if self._q.qsize() >= self.limit or self.queued_bytes + len(data) > self.max_bytes:
            log.warning(
                "%s is too far behind (%d frames, %d bytes unsent): disconnecting it",
                self.label,
                self._q.qsize(),
                self.queued_bytes,
            )
            if self.refusals is not None:
                self.refusals["outbox_bytes"] += 1
            self.put_close(SLOW_CLIENT, b"too slow")
            return
        self.queued_bytes += len(data)
        self._q.put_nowait(data)

    def put_close(self, code: int, message: bytes, bye: str | None = None) -> None:
        """After what is queued, send ``{"type": "bye", "reason": bye}`` (when
        given) and close, without waiting (the connection's own handler
        awaits the writer when its loop ends)."""
        if not self._closing:
            if bye is not None:
                self._q.put_nowait(encode({"type": "bye", "reason": bye}, self.binary))
            self._closing = True
            self._q.put_nowait((_CLOSE, code, message))

    async def close(self, code: int = 1000, message: bytes = b"", bye: str | None = None) -> None:
        """Send what is queued (and the bye), close the socket, end the writer."""
        self.put_close(code, message, bye)
        await self._task

    async def _run(self) -> None:
        try:
            while True:
                item = await self._q.get()
                if isinstance(item, tuple):
                    await self.ws.close(code=item[1], message=item[2])
                    return
                self.queued_bytes -= len(item)
                if self.ws.closed:
                    continue  # drain without writing; close() still ends us
                if isinstance(item, bytes):
                    await self.ws.send_bytes(item)
                else:
                    await self.ws.send_str(item)
        except (ConnectionError, RuntimeError) as e:  # the peer went away mid-write
            log.debug("%s: the peer left mid-write: %s", self.label, e)  # normal: a page closed
            self._closing = True
