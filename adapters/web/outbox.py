"""One writer per WebSocket: frames go out in the order they were put.

The event pump must never wait on a slow client (one stuck desktop would
stall routing for everyone), so ``put`` never blocks: frames queue here and
the outbox's own task writes them. A client that falls ``limit`` frames
behind is disconnected (it reconnects and gets a fresh state snapshot)
rather than letting memory grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from acd.adapters.web.frames import send

log = logging.getLogger("acd.outbox")

_CLOSE = object()
SLOW_CLIENT = 4008  # WebSocket close code: too far behind


class Outbox:
    def __init__(self, ws: web.WebSocketResponse, label: str, limit: int = 2000) -> None:
        self.ws = ws
        self.label = label
        self.binary = False  # answer msgpack once the client speaks it
        self.limit = limit
        self._q: asyncio.Queue[Any] = asyncio.Queue()
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=f"acd-outbox-{label}")

    @property
    def open(self) -> bool:
        return not self._closing and not self.ws.closed

    def put(self, frame: dict[str, Any]) -> None:
        """Queue a frame. O(1), never awaits."""
        if self._closing:
            return
        if self._q.qsize() >= self.limit:
            log.warning("%s is %d frames behind: disconnecting it", self.label, self.limit)
            self.put_close(SLOW_CLIENT, b"too slow")
            return
        self._q.put_nowait(frame)

    def put_close(self, code: int, message: bytes, bye: str | None = None) -> None:
        """After what is queued, send ``{"type": "bye", "reason": bye}`` (when
        given) and close, without waiting (the connection's own handler
        awaits the writer when its loop ends)."""
        if not self._closing:
            if bye is not None:
                self._q.put_nowait({"type": "bye", "reason": bye})
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
                if isinstance(item, tuple) and item[0] is _CLOSE:
                    await self.ws.close(code=item[1], message=item[2])
                    return
                if self.ws.closed:
                    continue  # drain without writing; close() still ends us
                await send(self.ws, item, self.binary)
        except (ConnectionError, RuntimeError) as e:  # the peer went away mid-write
            log.info("%s: write failed: %s", self.label, e)
            self._closing = True
