"""Opening hours in the shell: keep each queue's open/closed state in the
engine in step with its schedule.

The engine's clock is monotonic and knows no calendar, so this task reads
the wall clock, asks each queue's :class:`~acd.hours.Schedule` whether it is
open, and submits ``SetQueueOpen`` when that differs from the engine. It
then sleeps until the next change of any schedule, or ``recheck_s`` at
most, so a wall-clock step (NTP, a VM resumed) is caught within a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from functools import partial

from acd import commands as cmds
from acd.adapters.daemon.runner import EngineRunner
from acd.errors import InvalidRequest
from acd.hours import Schedule

log = logging.getLogger("acd.hours")

RECHECK_S = 60.0
LATE_S = 0.001  # wake just after a change, never just before it


class OpeningHours:
    def __init__(
        self,
        runner: EngineRunner,
        schedules: Mapping[str, Schedule],
        wall_clock: Callable[[], float] = time.time,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self.runner = runner
        self.schedules = dict(schedules)  # queue -> its schedule
        self.wall_clock = wall_clock
        self.recheck_s = recheck_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.sync()  # closed queues are closed before the first contact arrives
        self._task = asyncio.create_task(self._run(), name="acd-opening-hours")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def update(self, schedules: Mapping[str, Schedule]) -> None:
        """A reload: new schedules apply at once (a queue that lost its
        schedule opens)."""
        self.schedules = dict(schedules)
        self._wake.set()

    async def sync(self) -> float | None:
        """Open or close every queue as its schedule says now; return the
        wall time of the next change (None: no schedule ever changes).
        O(queues)."""
        now = self.wall_clock()
        engine = self.runner.engine
        wanted = {q: s.is_open(now) for q, s in self.schedules.items() if q in engine.queues}
        wanted.update({q: True for q in engine.closed if q not in wanted})
        for queue, is_open in wanted.items():
            if (queue not in engine.closed) != is_open:
                try:
                    await self.runner.submit(partial(cmds.SetQueueOpen, queue=queue, open=is_open))
                except InvalidRequest as e:  # a reload removed the queue meanwhile
                    log.info("queue %s: %s", queue, e.message)
                    continue
                log.info("queue %s is now %s (its opening hours)", queue, "open" if is_open else "closed")
        changes = [c for s in self.schedules.values() if (c := s.next_change(now)) is not None]
        return min(changes) if changes else None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                nxt = await self.sync()
            except Exception:  # keep the schedule running whatever one sync hit
                log.exception("opening hours: sync failed")
                nxt = None
            delay = self.recheck_s
            if nxt is not None:
                delay = min(delay, max(0.0, nxt - self.wall_clock()) + LATE_S)
            with contextlib.suppress(TimeoutError):  # woken early by a reload, or the time came
                async with asyncio.timeout(delay):
                    await self._wake.wait()
