"""The staffing forecast of each queue, live (acd/forecast.py).

Arrivals are counted from the engine's events (a new contact, or one moved
in by an overflow, a hand-off or a transfer; not one that went back in
line in the same queue), over the last 15 minutes; the handle time is the
queue's measured average; the target is its configured service level.
Erlang C then says how many agents it needs now. Read by ``GET /v1/queues``
and the wallboard.

Erlang A also counts the callers who give up: their patience is measured
over the same window (abandons over the time everyone waited, answered or
not: the estimate of an exponential patience with the answered ones
censored). It costs up to a tenth of a second per queue, so a task
computes it every ``A_EVERY_S`` on a worker thread, queue after queue, and
the forecast shows the last result (with its age); never on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from typing import Any

from acd import events as ev
from acd.adapters.daemon.runner import EngineRunner
from acd.forecast import Arrivals, agents_needed, agents_needed_a

log = logging.getLogger("acd.staffing")
A_EVERY_S = 30.0

ARRIVING = frozenset({"new", "overflow", "handoff", "transfer"})  # ContactQueued reasons that add work


class _Waits:
    """The waits that ended in a window (answered or given up), with their
    running totals: O(1) amortised to add and to trim."""

    __slots__ = ("ended", "gave_up", "waited")

    def __init__(self) -> None:
        self.ended: deque[tuple[float, float, bool]] = deque()  # (at, waited s, gave up)
        self.waited = 0.0
        self.gave_up = 0

    def add(self, at: float, waited: float, gave_up: bool) -> None:
        self.ended.append((at, waited, gave_up))
        self.waited += waited
        self.gave_up += gave_up

    def trim(self, before: float) -> None:
        while self.ended and self.ended[0][0] <= before:
            _, waited, gave_up = self.ended.popleft()
            self.waited -= waited
            self.gave_up -= gave_up
        if not self.ended:  # no sum of subtractions drifts from nothing
            self.waited = 0.0


class StaffingForecast:
    def __init__(self, runner: EngineRunner, window_s: float = 900.0) -> None:
        self.runner = runner
        self.window_s = window_s
        self.arrivals = Arrivals(runner.now(), window_s)
        self._waits: dict[str, _Waits] = {}  # queue -> the waits that ended in the window
        self._a: dict[str, dict[str, Any]] = {}  # queue -> the last Erlang A figures
        self._task: asyncio.Task[None] | None = None
        runner.listen(self.on_events)

    def on_events(self, events: list[ev.Event], seconds: float) -> None:
        """O(events)."""
        for e in events:
            if isinstance(e, ev.ContactQueued):
                if e.reason in ARRIVING:
                    self.arrivals.add(e.queue, e.at)
            elif isinstance(e, (ev.ContactConnected, ev.ContactAbandoned)):
                w = self._waits.get(e.queue)
                if w is None:
                    w = self._waits[e.queue] = _Waits()
                w.add(e.at, e.waited_s, isinstance(e, ev.ContactAbandoned))

    def patience_s(self, queue: str, now: float) -> float | None:
        """Mean patience over the window: time waited by all / abandons;
        None before any abandon. O(1) amortised."""
        w = self._waits.get(queue)
        if w is None:
            return None
        w.trim(now - self.window_s)
        return w.waited / w.gave_up if w.gave_up else None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._erlang_a(), name="acd-staffing")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _erlang_a(self) -> None:
        while True:
            await asyncio.sleep(A_EVERY_S)
            for queue in list(self.runner.engine.queues):
                try:
                    await self._refresh(queue)
                except Exception:  # a forecast must never stop anything
                    log.exception("staffing: Erlang A for %s failed", queue)

    async def _refresh(self, queue: str) -> None:
        """Erlang A for one queue, on a worker thread."""
        engine, now = self.runner.engine, self.runner.now()
        spec = engine.queues.get(queue)
        if spec is None:
            return
        stats = engine.queue_stats(queue)
        rate, patience = self.arrivals.rate(queue, now), self.patience_s(queue, now)
        if stats.aht_s is None or patience is None or rate <= 0:
            self._a.pop(queue, None)
            return
        args = (rate, stats.aht_s, patience, spec.service_level_pct, spec.service_level_s)
        got = await asyncio.to_thread(agents_needed_a, *args)
        if got is None:
            self._a.pop(queue, None)
            return
        n, figures = got
        self._a[queue] = {
            "agents_needed": n,
            "patience_s": round(patience, 1),
            "expected_service_level_pct": round(figures.service_level * 100, 2),
            "expected_abandon_pct": round(figures.abandon_probability * 100, 2),
            "expected_asa_s": round(figures.asa_s, 1) if math.isfinite(figures.asa_s) else None,
            "at": now,
        }

    def for_queue(self, queue: str) -> dict[str, Any]:
        """The forecast of one queue; ``agents_needed`` None until a handled
        contact gives a handle time. O(agents needed)."""
        engine = self.runner.engine
        spec, stats = engine.queues[queue], engine.queue_stats(queue)
        rate = self.arrivals.rate(queue, self.runner.now())
        out: dict[str, Any] = {
            "arrivals_per_hour": round(rate * 3600, 1),
            "aht_s": stats.aht_s,
            "target_pct": spec.service_level_pct,
            "threshold_s": spec.service_level_s,
            "model": "erlang-c",
        }
        a = self._a.get(queue)
        if a is not None:  # its time on the engine's clock becomes an age
            a = {**{k: v for k, v in a.items() if k != "at"}, "age_s": round(self.runner.now() - a["at"], 1)}
        out["erlang_a"] = a
        if stats.aht_s is None:
            return {**out, "traffic_erlangs": None, "agents_needed": None}
        s = agents_needed(rate, stats.aht_s, spec.service_level_pct, spec.service_level_s)
        met = s.agents is not None
        return {
            **out,
            "traffic_erlangs": s.traffic_erlangs,
            "agents_needed": s.agents,  # None: more than acd.forecast.MAX_AGENTS
            "expected_service_level_pct": s.service_level_pct if met else None,
            "expected_wait_probability": s.wait_probability if met else None,
            "expected_asa_s": s.asa_s if met else None,
        }
