"""The queue_log file of the running daemon: a call through FastAGI (the
transcript-faithful Asterisk peer) is written as app_queue writes it, with
the call's Uniqueid; a SIGHUP-style reload after a rotation reopens the
path; an agent's free-text reason cannot forge a line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from functools import partial
from pathlib import Path

from acd import commands as c
from acd import events as ev
from acd.adapters.daemon.config_file import ReportSettings
from acd.errors import ConfigError
from tests.adapters.test_fastagi import TIMEOUT, centre, voice_settings


def fields(path: Path) -> list[list[str]]:
    return [line.split("|") for line in path.read_text().splitlines()]


async def test_a_call_and_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "log" / "queue_log"
    s = dataclasses.replace(voice_settings(), reports=ReportSettings(str(path)))
    async with centre(s) as ctr:
        phone = ctr.pbx.phone("PJSIP/6001")
        answered = ctr.answered()
        await ctr.login("v1")
        caller = await ctr.call(answer_delay=0.05)
        offer = await ctr.expect(ev.ContactOffered)
        await asyncio.wait_for(answered.wait(), TIMEOUT)
        phone.hang_up()
        await ctr.expect(ev.ContactEnded, contact_id=offer.contact_id)
        await caller.finished()
        lines = fields(path)
        assert [x[4] for x in lines] == ["QUEUESTART", "AGENTLOGIN", "ENTERQUEUE", "CONNECT", "COMPLETEAGENT"]
        enter, connect, complete = lines[2:]
        uid = caller.agi_uniqueid  # the lines join Asterisk's CDRs by it
        assert enter[1:] == [uid, "sales", "NONE", "ENTERQUEUE", "", caller.callerid, "1"]
        assert connect[1:4] == [uid, "sales", "v1"] and connect[6] == "v1"  # no display name: the id
        assert complete[1:5] == [uid, "sales", "v1", "COMPLETEAGENT"]
        hold, talk, position = (int(x) for x in complete[5:])
        assert hold == int(connect[5]) and 0 <= hold <= 1 and 0 <= talk <= 2 and position == 1
        assert int(lines[0][0]) <= int(enter[0]) <= int(complete[0])
        assert path.stat().st_mode & 0o777 == 0o640  # callers' numbers: not for everyone on the host

        path.rename(path.with_suffix(".1"))  # logrotate moves it away, then SIGHUP
        with contextlib.suppress(ConfigError):  # no file to read again here: the queue_log reopens first
            await ctr.server.reload()
        await ctr.server.runner.submit(partial(c.SetAway, agent_id="v1", reason="lunch|x\n1|forged"))
        again = fields(path)
        assert [x[4] for x in again] == ["CONFIGRELOAD", "PAUSEALL", "PAUSE"]
        assert again[1][5:] == ["lunch_x 1_forged"] and again[2][2:6] == [
            "sales",
            "v1",
            "PAUSE",
            "lunch_x 1_forged",
        ]
        assert len(fields(path.with_suffix(".1"))) == 5  # the old file kept what it had
