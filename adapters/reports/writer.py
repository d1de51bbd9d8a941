"""The reports' writer: the engine's events become stays and agent
intervals (acd/stays.py) in the single writer, and a task of its own
hands them to the store (adapters/reports/store.py) once a second, so no
command waits on the disk. At a clean stop the last rows are written;
what a crash loses of the last second is rebuilt by replaying the journal
(docs/reports.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from acd.adapters.daemon.surveys import Asked
from acd.adapters.reports.store import ReportBackend
from acd.events import Event
from acd.stays import AgentInterval, Stay, StayRecorder, SurveyAnswer, Thresholds

log = logging.getLogger("acd.reports")

FLUSH_S = 1.0
MAX_PENDING = 1_000_000  # rows waiting for a store that cannot keep up; beyond: dropped, counted
DAY_S = 86_400.0
CHANNELS_KEPT = 100_000


class ReportWriter:
    def __init__(
        self,
        store: ReportBackend,
        thresholds: Thresholds,
        offset: Callable[[], float],
        retention_days: int,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.recorder = StayRecorder(thresholds)
        self.offset = offset
        self.retention_s = retention_days * DAY_S
        self.wall_clock = wall_clock
        self._stays: list[Stay] = []
        self._intervals: list[AgentInterval] = []
        self._answers: list[SurveyAnswer] = []
        # contact -> its channel, for a survey answer that comes after its stay: the newest CHANNELS_KEPT
        self._channel_of: OrderedDict[str, str] = OrderedDict()
        self.written = 0
        self.dropped = 0
        self.errors = 0
        self._task: asyncio.Task[None] | None = None
        self._trimmed = 0.0

    def on_events(self, events: list[Event], seconds: float) -> None:
        """In the single writer: O(events)."""
        stays, intervals = self.recorder.feed(events, self.offset())
        for s in stays:
            self._channel_of[s.contact_id] = s.channel
            if len(self._channel_of) > CHANNELS_KEPT:
                self._channel_of.popitem(last=False)
        if len(self._stays) + len(self._intervals) >= MAX_PENDING:
            self.dropped += len(stays) + len(intervals)
            return
        self._stays += stays
        self._intervals += intervals

    def live_intervals(self) -> list[AgentInterval]:
        """The presences going on now, for a live agents' report."""
        return self.recorder.open_intervals(self.wall_clock())

    def survey(self, asked: Asked, score: int) -> None:
        """A survey answer (adapters/daemon/surveys.py), counted when it came. O(1)."""
        channel = self._channel_of.get(asked.contact_id, "unknown")
        self._answers.append(
            SurveyAnswer(asked.contact_id, asked.queue, channel, asked.agent_id, score, self.wall_clock())
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="acd-reports")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            await self.flush()
            now = self.wall_clock()
            if now - self._trimmed >= DAY_S:  # retention, once a day
                self._trimmed = now
                try:
                    await self.store.forget_before(now - self.retention_s)
                except Exception:
                    log.exception("reports: retention failed")

    async def flush(self) -> None:
        stays, intervals, answers = self._stays, self._intervals, self._answers
        if not stays and not intervals and not answers:
            return
        self._stays, self._intervals, self._answers = [], [], []
        n = len(stays) + len(intervals) + len(answers)
        try:
            await self.store.put(stays, intervals, answers)
        except Exception as e:  # kept for the next attempt: a full disk must not stop routing
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                log.error("reports: cannot write %d rows (%s); kept, retried", n, e)
            self._stays, self._intervals = stays + self._stays, intervals + self._intervals
            self._answers = answers + self._answers
            return
        self.written += n
