"""The single writer: one task owns the engine.

Adapters never call the engine directly: they ``submit`` a command and await
its events. One task takes commands off a queue, stamps them with the clock,
hands them to the engine and resolves the caller's future, so nothing awaits
halfway through a state change (wazo-agentd's ServiceProxy, in asyncio form).
A second task sleeps until the engine's next deadline and submits a ``Tick``.

With a journal, every applied command is appended to it (refused ones
change nothing and are not) before its events reach the listeners.

Events go to listeners synchronously, before the caller's future resolves
(the hub puts frames in outboxes, metrics count): so a desktop always sees
the events its request caused before the acknowledgement, and no extra
queue hop adds latency. A listener must not block; one that raises is
logged and the others still run. ``subscribe`` gives a queue of events for
consumers that prefer to await them.

Reads need no queue: ``Engine.handle`` never awaits, so any synchronous read
from a coroutine on the same loop sees the state between two commands.

The clock is injected (``loop.time`` by default): engine time is seconds on a
monotonic clock, never wall time, so a clock step never reorders timers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from acd.codec import to_wire
from acd.commands import Command, NewContact, Tick
from acd.engine import Engine
from acd.errors import InvalidRequest, JournalBacklog
from acd.events import Event
from acd.journal import Journal

log = logging.getLogger("acd.runner")


_STOP = object()


class EngineRunner:
    def __init__(self, engine: Engine, clock: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self._clock = clock
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribers: list[asyncio.Queue[Event]] = []
        self._listeners: list[Callable[[list[Event], float], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self.served = 0
        self.refused = 0
        self.journal: Journal | None = None  # where applied commands go (adapters/durable)
        # True while the journal holds too much unwritten: new contacts are refused.
        self.backlogged: Callable[[], bool] = lambda: False

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._writer(), name="acd-engine-writer"),
            asyncio.create_task(self._ticker(), name="acd-engine-ticker"),
        ]

    async def stop(self) -> None:
        """Finish queued commands, then stop both tasks."""
        await self._queue.put(_STOP)
        writer, ticker = self._tasks
        await writer
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        self._tasks = []

    def listen(self, fn: Callable[[list[Event], float], None]) -> None:
        """Call ``fn(events, engine_seconds)`` after every command, in the writer."""
        self._listeners.append(fn)

    def subscribe(self) -> asyncio.Queue[Event]:
        q: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Event]) -> None:
        if q in self._subscribers:
            self._subscribers.remove(q)

    async def submit(self, make: Callable[[float], Command | list[Event]]) -> list[Event]:
        """Run ``make(now)`` through the engine; return its events or raise
        its InvalidRequest. ``make`` builds the command with the writer's
        clock, so commands are stamped in the order they are applied; or it
        calls the engine itself and returns the events (a reconfiguration),
        still in the single writer."""
        fut: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        await self._queue.put((make, fut))
        return await fut

    async def attempt(self, make: Callable[[float], Command], what: str) -> bool:
        """``submit``, for a command that may find the state moved on (the
        contact ended, the agent logged out meanwhile): a refusal is logged
        with ``what`` and returns False instead of raising."""
        try:
            await self.submit(make)
        except InvalidRequest as e:
            log.info("%s: %s", what, e.message)
            return False
        return True

    def _publish(self, events: list[Event], seconds: float) -> None:
        if not events:
            return
        for fn in self._listeners:
            try:
                fn(events, seconds)
            except Exception:  # one broken consumer must not stop routing
                log.exception("event listener %r failed", fn)
        for q in self._subscribers:
            for e in events:
                q.put_nowait(e)

    async def _writer(self) -> None:
        while True:
            item = await self._queue.get()
            if item is _STOP:
                return
            make, fut = item
            t0 = self.now()
            started = time.perf_counter()  # engine time: loop.time() ticks in ms under uvloop
            try:
                events = make(t0)
                if not isinstance(events, list):  # a command, not a direct engine call
                    cmd = events
                    if isinstance(cmd, NewContact) and self.backlogged():
                        raise JournalBacklog("the journal cannot be written now: no new contact, retry later")
                    events = self.engine.handle(cmd)
                    if self.journal is not None:  # applied: on record before its effects are scheduled
                        self.journal.append({"k": "cmd", "w": time.time(), "c": to_wire(cmd)})
            except Exception as e:  # refused, or a bug: tell the caller, keep serving everyone else
                if not isinstance(e, InvalidRequest):
                    log.exception("command failed unexpectedly")
                self.refused += 1
                self._publish(self.engine.drain(), 0.0)
                if not fut.done():
                    fut.set_exception(e)
            else:
                self.served += 1
                self._publish(events, time.perf_counter() - started)
                if not fut.done():
                    fut.set_result(events)
            self._wake.set()  # the next deadline may have moved

    async def _ticker(self) -> None:
        while True:
            self._wake.clear()  # before reading the deadline: a change after this wakes us
            deadline = self.engine.next_deadline()
            delay = None if deadline is None else max(0.0, deadline - self.now())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
                continue  # something changed: look at the deadline again
            except TimeoutError:
                pass
            try:
                await self.submit(Tick)
            except InvalidRequest:  # pragma: no cover - a Tick is never refused
                log.exception("tick refused")
