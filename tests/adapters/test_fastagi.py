"""Calls through FastAGI, end to end: the daemon on loopback, callers and
phones from :mod:`tests.peers.asterisk` speaking Asterisk's side of AGI as
the transcripts show it. No AMI here: answers are learnt when Dial returns."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from acd import commands as c
from acd import events as ev
from acd.adapters.daemon.config_file import AcdSettings, parse
from acd.adapters.daemon.server import Server
from tests.peers.asterisk import Caller, Pbx

TIMEOUT = 5.0


def voice_settings(
    profile: str = "voice",
    channels: tuple[str, ...] = ("voice",),
    ami: dict[str, Any] | None = None,
    asterisk_extra: dict[str, Any] | None = None,
    **queue: Any,
) -> AcdSettings:
    """Queue sales; agents v1..v3 with phones PJSIP/6001..6003; FastAGI on any
    free port; ``asterisk_extra`` joins the ``[asterisk]`` table."""
    asterisk: dict[str, Any] = {"fastagi_listen": "127.0.0.1:0", **(asterisk_extra or {})}
    if ami is not None:
        asterisk["ami"] = ami
    data = {
        "skills": ["sales"],
        "server": {"listen": "127.0.0.1:0"},
        "asterisk": asterisk,
        "queues": {
            "sales": {
                "channels": list(channels),
                "skills": {"sales": 1},
                "offer_timeout_s": 5,
                "wrapup_s": 0,
                **queue,
            }
        },
        "agents": {
            f"v{i}": {
                "profile": profile,
                "skills": {"sales": 3},
                "queues": {"sales": 1},
                "endpoint": f"PJSIP/600{i}",
            }
            for i in (1, 2, 3)
        },
    }
    return parse(data, "voice.toml", env={})


class Centre:
    """The daemon, its event stream and a fake Asterisk in front of it."""

    def __init__(self, server: Server, pbx: Pbx | None = None) -> None:
        self.server = server
        self.pbx = pbx or Pbx()
        self.events = server.runner.subscribe()
        self.callers: list[Caller] = []

    async def login(self, *agents: str) -> None:
        for a in agents:
            await self.server.runner.submit(partial(c.Login, agent_id=a))

    async def call(self, script: str = "queue/sales", **kw: Any) -> Caller:
        assert self.server.bound_agi_port is not None
        caller = Caller(self.pbx, self.server.bound_agi_port, script, **kw)
        self.callers.append(caller)
        await caller.start()
        return caller

    async def expect(self, kind: type[ev.Event], **match: Any) -> Any:
        """The next event of ``kind`` matching ``match``; earlier ones are skipped."""

        async def find() -> ev.Event:
            while True:
                e = await self.events.get()
                if isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items()):
                    return e

        return await asyncio.wait_for(find(), TIMEOUT)

    def dial_began(self) -> asyncio.Event:
        return self._pbx_event(lambda name, fields: name == "DialBegin")

    def answered(self) -> asyncio.Event:
        return self._pbx_event(lambda name, fields: name == "DialEnd" and fields["status"] == "ANSWER")

    def _pbx_event(self, match: Any) -> asyncio.Event:
        seen = asyncio.Event()
        self.pbx.listeners.append(lambda name, fields: seen.set() if match(name, fields) else None)
        return seen


@asynccontextmanager
async def centre(
    s: AcdSettings | None = None, make: Callable[[Server], Centre] = Centre
) -> AsyncIterator[Centre]:
    """The daemon on free ports; ``make`` wraps it (a Centre, or a subclass with more peers)."""
    server = Server(s or voice_settings(), port=0, agi_port=0)
    await server.start()
    ctr = make(server)
    try:
        yield ctr
    finally:
        for caller in ctr.callers:
            await caller.close()
        await server.stop()


async def test_answered_call_ended_by_the_agent_goes_back_to_the_dialplan() -> None:
    async with centre() as ctr:
        phone = ctr.pbx.phone("PJSIP/6001")
        answered = ctr.answered()
        await ctr.login("v1")
        caller = await ctr.call(answer_delay=0.05)
        offer = await ctr.expect(ev.ContactOffered)
        assert offer.agent_id == "v1" and offer.channel == "voice"
        await asyncio.wait_for(answered.wait(), TIMEOUT)
        phone.hang_up()
        await ctr.expect(ev.ContactConnected, contact_id=offer.contact_id)  # learnt as the Dial returns
        ended = await ctr.expect(ev.ContactEnded, contact_id=offer.contact_id)
        assert ended.by == "agent"
        await caller.finished()
        assert caller.commands[:3] == ["ANSWER", "SET MUSIC ON default", 'EXEC Dial "PJSIP/6001,5,g"']
        assert caller.variables["ACD_RESULT"] == "answered"
        assert caller.variables["ACD_AGENT"] == "v1"
        q = ctr.server.runner.engine.queue_stats("sales")
        assert (q.offered, q.answered, q.abandoned) == (1, 1, 0)
        assert ctr.server.runner.engine.agents["v1"].presence == "available"


async def test_without_ami_the_answer_is_placed_by_answeredtime_ms() -> None:
    """No answer supervision: the answer is learnt when Dial returns, and
    ANSWEREDTIME_MS puts it where it happened, so the wait is the ring and
    the handle time is the talk, not the other way round."""
    async with centre() as ctr:
        phone = ctr.pbx.phone("PJSIP/6001", ring_s=0.05, talk_s=0.6)
        await ctr.login("v1")
        await ctr.call()
        offer = await ctr.expect(ev.ContactOffered)
        connected = await ctr.expect(ev.ContactConnected, contact_id=offer.contact_id)
        ended = await ctr.expect(ev.ContactEnded, contact_id=offer.contact_id)
        talked = phone.ended[-1] - phone.rings[-1] - 0.05
        assert connected.waited_s < 0.4  # the ring, not the call
        assert abs(ended.handle_s - talked) < 0.2
        q = ctr.server.runner.engine.queue_stats("sales")
        assert q.asa_s is not None and q.asa_s < 0.4


async def test_caller_hangs_up_in_the_bridge() -> None:
    async with centre() as ctr:
        ctr.pbx.phone("PJSIP/6001")
        answered = ctr.answered()
        await ctr.login("v1")
        caller = await ctr.call()
        offer = await ctr.expect(ev.ContactOffered)
        await asyncio.wait_for(answered.wait(), TIMEOUT)
        caller.hang_up()
        ended = await ctr.expect(ev.ContactEnded, contact_id=offer.contact_id)
        assert ended.by == "customer"
        await caller.finished()
        assert "ACD_RESULT" not in caller.variables  # nobody is left to continue the dialplan


async def test_abandoned_while_queued_is_seen_from_the_unsolicited_hangup() -> None:
    async with centre() as ctr:
        caller = await ctr.call()
        queued = await ctr.expect(ev.ContactQueued)
        assert ctr.server.runner.engine.queue_stats("sales").waiting == 1
        caller.hang_up()
        gone = await ctr.expect(ev.ContactAbandoned, contact_id=queued.contact_id)
        assert not gone.while_offered
        await caller.finished()
        q = ctr.server.runner.engine.queue_stats("sales")
        assert (q.waiting, q.abandoned) == (0, 1)
        assert ctr.server.voice.sessions == {}


async def test_abandoned_while_ringing_stops_the_ring_and_frees_the_agent() -> None:
    async with centre() as ctr:
        ctr.pbx.phone("PJSIP/6001", mode="noanswer")
        ringing = ctr.dial_began()
        await ctr.login("v1")
        caller = await ctr.call()
        await asyncio.wait_for(ringing.wait(), TIMEOUT)
        caller.hang_up()
        gone = await ctr.expect(ev.ContactAbandoned)
        assert gone.while_offered
        await caller.finished()
        assert caller.dials == [("PJSIP/6001", "CANCEL")]
        agent = ctr.server.runner.engine.agents["v1"]
        assert (agent.status, agent.presence) == ("available", "available")


async def test_no_answer_is_rona_then_the_next_agent_answers() -> None:
    async with centre(voice_settings(offer_timeout_s=1)) as ctr:
        ctr.pbx.phone("PJSIP/6001", mode="noanswer")
        ctr.pbx.phone("PJSIP/6002", talk_s=0.05)
        await ctr.login("v1")
        caller = await ctr.call()
        ended = await ctr.expect(ev.OfferEnded, agent_id="v1")
        assert ended.reason == "no-answer"
        assert ctr.server.runner.engine.agents["v1"].status == "not-responding"
        await ctr.login("v2")
        await ctr.expect(ev.ContactEnded, agent_id="v2")
        await caller.finished()
        assert caller.dials == [("PJSIP/6001", "NOANSWER"), ("PJSIP/6002", "ANSWER")]
        assert caller.commands.count("SET MUSIC ON default") == 2  # music again after the failed ring
        assert caller.variables["ACD_AGENT"] == "v2"


async def test_busy_congestion_and_unavailable_phones_each_make_rona() -> None:
    async with centre() as ctr:
        ctr.pbx.phone("PJSIP/6001", mode="busy")
        ctr.pbx.phone("PJSIP/6002", mode="congestion")  # PJSIP/6003 does not exist: CHANUNAVAIL
        caller = await ctr.call()
        await ctr.expect(ev.ContactQueued)
        reasons = {}
        for agent in ("v1", "v2", "v3"):
            await ctr.login(agent)
            reasons[agent] = (await ctr.expect(ev.OfferEnded, agent_id=agent)).reason
        assert reasons == {"v1": "busy", "v2": "congestion", "v3": "unavailable"}
        engine = ctr.server.runner.engine
        assert [engine.agents[a].reason for a in ("v1", "v2", "v3")] == ["busy", "congestion", "unavailable"]
        assert [s for _, s in caller.dials] == ["BUSY", "CONGESTION", "CHANUNAVAIL"]
        caller.hang_up()
        await caller.finished()
        assert engine.queue_stats("sales").abandoned == 1


async def test_url_arguments_become_priority_and_attributes() -> None:
    async with centre() as ctr:
        caller = await ctr.call("queue/sales?priority=5&lang=en", args=("vip", "15551230001"))
        queued = await ctr.expect(ev.ContactQueued)
        assert queued.priority == 5 and queued.customer == "15551230001"
        conv = ctr.server.hub.conversations.get(queued.contact_id)
        assert conv is not None
        assert conv.attributes["lang"] == "en"
        assert conv.attributes["arg1"] == "vip"
        assert conv.attributes["uniqueid"] == caller.agi_uniqueid
        assert conv.identity == {"phone": "15551230001"}
        caller.hang_up()
        await caller.finished()


async def test_bad_route_and_unknown_queue_go_back_to_the_dialplan_with_an_error() -> None:
    async with centre() as ctr:
        bad = await ctr.call("nonsense/path")
        await bad.finished()
        assert bad.variables == {"ACD_RESULT": "error", "ACD_ERROR": "bad-agi-route"}
        unknown = await ctr.call("queue/nope")
        await unknown.finished()
        assert unknown.variables["ACD_RESULT"] == "error"
        assert unknown.commands[0].startswith("SET VARIABLE")  # not even answered
        assert ctr.server.runner.engine.contacts == {}


async def test_full_queue_overflows_to_the_dialplan() -> None:
    async with centre(voice_settings(max_size=1)) as ctr:
        first = await ctr.call()
        await ctr.expect(ev.ContactQueued)
        second = await ctr.call()
        over = await ctr.expect(ev.ContactOverflowed)
        assert (over.reason, over.to_queue) == ("queue-full", None)
        await second.finished()
        assert second.variables["ACD_RESULT"] == "overflow"
        first.hang_up()
        await first.finished()


async def test_max_wait_overflows_to_the_dialplan() -> None:
    async with centre(voice_settings(max_wait_s=0.2)) as ctr:
        caller = await ctr.call()
        over = await ctr.expect(ev.ContactOverflowed)
        assert over.reason == "max-wait"
        await caller.finished()
        assert caller.variables["ACD_RESULT"] == "overflow"


async def test_position_announcements_while_waiting() -> None:
    s = parse(
        {
            "skills": ["sales"],
            # the hub works out every caller's place this often; the calls announce it
            "server": {"listen": "127.0.0.1:0", "position_interval_s": 0.05},
            "asterisk": {"fastagi_listen": "127.0.0.1:0", "announce_every_s": 0.05},
            "queues": {"sales": {"channels": ["voice"], "skills": {"sales": 1}}},
        },
        "announce.toml",
        env={},
    )
    async with centre(s) as ctr:
        first = await ctr.call()
        await ctr.expect(ev.ContactQueued)
        second = await ctr.call()
        await ctr.expect(ev.ContactQueued)
        await first.received('STREAM FILE queue-youarenext ""')
        await second.received('SAY NUMBER 1 ""')
        assert 'STREAM FILE queue-thereare ""' in second.commands
        for caller in (first, second):
            caller.hang_up()
            await caller.finished()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_probes_that_close_or_go_silent_leave_no_descriptor_behind() -> None:
    """Connect-and-close, half an environment then close, and silence: the
    server closes every one (a silent peer after env_timeout_s), and the
    process holds as many descriptors as before."""
    async with centre() as ctr:
        calls = ctr.server.voice
        calls.env_timeout_s = 0.2
        port = ctr.server.bound_agi_port
        before = open_fds()

        async def probe(kind: str) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if kind == "half":
                writer.write(b"agi_network: yes\nagi_network_script: queue/sales\n")
            if kind in ("close", "half"):
                writer.close()
                await writer.wait_closed()
                return
            assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""  # the server hung up on silence
            writer.close()
            await writer.wait_closed()

        for batch in range(5):
            kinds = ["close"] * 60 + ["half"] * 20 + ["silent"] * 20
            await asyncio.gather(*(probe(k) for k in kinds))
            await asyncio.wait_for(asyncio.gather(*list(calls._running)), TIMEOUT)
            assert calls.probes == 100 * (batch + 1)
        assert open_fds() <= before
        caller = await ctr.call()  # and the port still serves calls
        await ctr.expect(ev.ContactQueued)
        await caller.close()
