"""Opening hours in the shell: the OpeningHours task closes a queue at
night and opens it in the morning as the (driven) wall clock says; a call
arriving at night is handed off as a task and routed the next morning."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from acd import commands as cmds
from acd import events as ev
from acd.adapters.daemon.opening_hours import OpeningHours
from acd.adapters.daemon.runner import EngineRunner
from acd.engine import Engine
from acd.hours import Schedule
from acd.settings import AgentSpec, QueueSpec
from tests.core.world import config

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = (((9 * 60, 18 * 60),),) * 5 + ((), ())


def wall(d: int, hh: int, mm: int = 0) -> float:
    return datetime(2026, 11, d, hh, mm, tzinfo=SHANGHAI).timestamp()  # 23 Nov 2026 is a Monday


async def test_a_night_call_is_handed_off_and_routed_when_the_followups_open() -> None:
    sales = QueueSpec("sales", ("voice",), {"sales": 1}, when_closed="handoff", handoff_to="followups")
    followups = QueueSpec("followups", ("task",), {"sales": 1})
    agent = AgentSpec("li", "Li", {"sales": 3}, "blended", {"sales": 1, "followups": 1})
    engine = Engine(config([sales, followups], [agent]))
    runner = EngineRunner(engine)
    events = runner.subscribe()
    now = [wall(23, 22)]  # Monday 22:00
    office = Schedule("office", SHANGHAI, DAY)
    hours = OpeningHours(runner, {"sales": office, "followups": office}, wall_clock=lambda: now[0])
    await runner.start()
    try:
        await hours.start()
        assert engine.closed == {"sales", "followups"}
        assert await hours.sync() == wall(24, 9)  # the next change: Tuesday 09:00
        await runner.submit(lambda t: cmds.Login(t, "li"))  # on duty late, but not for follow-ups
        out = await runner.submit(lambda t: cmds.NewContact(t, "call-1", "sales", "voice", "+8613800000000"))
        assert [e.reason for e in out if isinstance(e, ev.ContactHandedOff)] == ["closed"]
        assert not [e for e in out if isinstance(e, ev.ContactOffered)]
        now[0] = wall(24, 9)
        await hours.sync()
        assert engine.closed == set()
        seen: list[tuple[str, str, str, str]] = []
        while not seen:
            e = await asyncio.wait_for(events.get(), 5)
            if isinstance(e, ev.ContactOffered):
                seen.append((e.contact_id, e.agent_id, e.channel, e.decision.trigger))
        assert seen == [("call-1", "li", "task", "queue-opened")]
        now[0] = wall(24, 18)
        hours.update({"followups": office})  # a reload drops sales' schedule: it opens
        assert await hours.sync() == wall(25, 9)
        assert engine.closed == {"followups"}
    finally:
        await hours.stop()
        await runner.stop()
