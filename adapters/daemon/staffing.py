"""The staffing forecast of each queue, live (acd/forecast.py).

Arrivals are counted from the engine's events (a new contact, or one moved
in by an overflow, a hand-off or a transfer; not one that went back in
line in the same queue), over the last 15 minutes; the handle time is the
queue's measured average; the target is its configured service level.
Erlang C then says how many agents it needs now. Read by ``GET /v1/queues``.
"""

from __future__ import annotations

from typing import Any

from acd import events as ev
from acd.adapters.daemon.runner import EngineRunner
from acd.forecast import Arrivals, agents_needed

ARRIVING = frozenset({"new", "overflow", "handoff", "transfer"})  # ContactQueued reasons that add work


class StaffingForecast:
    def __init__(self, runner: EngineRunner, window_s: float = 900.0) -> None:
        self.runner = runner
        self.arrivals = Arrivals(runner.now(), window_s)
        runner.listen(self.on_events)

    def on_events(self, events: list[ev.Event], seconds: float) -> None:
        """O(events)."""
        for e in events:
            if type(e) is ev.ContactQueued and e.reason in ARRIVING:
                self.arrivals.add(e.queue, e.at)

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
