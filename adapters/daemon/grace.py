"""Grace periods: an action that runs after a delay unless cancelled first.

A dropped desktop or a reloaded web chat page gets a few seconds to come
back before the ACD gives up on it. Every pending action is a task kept here,
so shutdown cancels and awaits them all (no fire-and-forget).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("acd.grace")


class Graces:
    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: dict[str, asyncio.Task[None]] = {}  # waiting out their delay
        self._running: set[asyncio.Task[None]] = set()  # acting now: no longer cancellable

    def __contains__(self, key: str) -> bool:
        return key in self._tasks

    def start(self, key: str, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` after ``delay`` seconds unless ``cancel(key)`` comes first."""
        self.cancel(key)
        self._tasks[key] = asyncio.create_task(self._run(key, delay, action), name=f"acd-{self.name}-{key}")

    def cancel(self, key: str) -> bool:
        task = self._tasks.pop(key, None)
        if task is None:
            return False
        task.cancel()
        return True

    async def _run(self, key: str, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        await asyncio.sleep(delay)
        me = self._tasks.pop(key)  # from here on, cancel() no longer stops it
        self._running.add(me)
        try:
            await action()
        except Exception:
            log.exception("%s grace action for %s failed", self.name, key)
        finally:
            self._running.discard(me)

    async def close(self) -> None:
        """Cancel what still waits; let running actions finish."""
        waiting = list(self._tasks.values())
        self._tasks.clear()
        for t in waiting:
            t.cancel()
        await asyncio.gather(*waiting, *self._running, return_exceptions=True)
