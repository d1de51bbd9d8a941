"""AMI end to end: the daemon's link against :mod:`tests.peers.ami` (an AMI
server that talks like the transcripts) with FastAGI callers and phones from
:mod:`tests.peers.asterisk` sharing the same fake PBX."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from acd import events as ev
from acd.adapters.asterisk.ami import devices_of
from acd.adapters.daemon.config_file import JournalSettings
from acd.adapters.daemon.server import Server
from tests.adapters.test_fastagi import TIMEOUT, Centre, centre, voice_settings
from tests.peers.ami import AmiServer
from tests.peers.asterisk import Caller, Pbx

SECRET = "acdsecret"


class AmiCentre(Centre):
    def __init__(self, server: Server, pbx: Pbx, ami: AmiServer) -> None:
        super().__init__(server, pbx)
        self.ami = ami

    async def link_up(self) -> None:
        """Wait until the daemon's link has logged in (again) and resynced."""
        await asyncio.wait_for(self.ami.resynced.wait(), TIMEOUT)


@asynccontextmanager
async def ami_centre(
    secret: str = SECRET,
    asterisk: dict[str, Any] | None = None,
    queue: dict[str, Any] | None = None,
    **ami: Any,
) -> AsyncIterator[AmiCentre]:
    """The daemon (blended agents, sales takes voice and chat) with its AMI
    link pointed at an AMI peer sharing the callers' PBX; ``asterisk`` and
    ``queue`` add to the ``[asterisk]`` table and to queue sales."""
    pbx = Pbx()
    peer = AmiServer(pbx, secret=SECRET, auth_delay=ami.pop("auth_delay", 0.02))
    port = await peer.start()
    link = {"port": port, "username": "acd", "secret": secret, "reconnect_min_s": 0.05, **ami}
    try:
        s = voice_settings("blended", ("voice", "chat"), link, asterisk, **(queue or {}))
        async with centre(s, partial(AmiCentre, pbx=pbx, ami=peer)) as ctr:
            assert isinstance(ctr, AmiCentre)
            yield ctr
    finally:
        await peer.stop()


async def test_answer_is_known_when_the_phone_is_picked_up() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        phone = ctr.pbx.phone("PJSIP/6001")
        await ctr.login("v1")
        caller = await ctr.call()
        connected = await ctr.expect(ev.ContactConnected)  # from DialEnd ANSWER, mid-call
        assert connected.agent_id == "v1"
        session = ctr.server.voice.sessions[connected.contact_id]
        assert session.dest_channel is not None and session.dest_channel.startswith("PJSIP/6001-")
        phone.hang_up()
        ended = await ctr.expect(ev.ContactEnded)
        assert ended.by == "agent"
        await caller.finished()
        assert caller.variables["ACD_RESULT"] == "answered"
        assert ctr.ami.actions[:4] == ["Login", "Filter", "DeviceStateList", "CoreShowChannels"]


async def test_softphone_unregistered_gets_no_calls_until_it_registers_again() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        ctr.pbx.phone("PJSIP/6001", talk_s=0.01)
        await ctr.login("v1")
        ctr.ami.contact_status("6001", "Removed")
        ctr.ami.device_state("PJSIP/6001", "UNAVAILABLE")
        await ctr.expect(ev.AgentPhoneChanged, agent_id="v1", reason="phone-unregistered")
        caller = await ctr.call()
        queued = await ctr.expect(ev.ContactQueued)
        assert ctr.server.runner.engine.agent_stats("v1").phone == "phone-unregistered"
        assert "offer" not in ctr.server.runner.engine.explain(queued.contact_id).message
        ctr.ami.contact_status("6001", "NonQualified")
        ctr.ami.device_state("PJSIP/6001", "NOT_INUSE")  # registering again
        offer = await ctr.expect(ev.ContactOffered, contact_id=queued.contact_id)
        assert offer.agent_id == "v1"
        await caller.finished()


async def test_a_private_call_makes_the_agent_busy_for_voice_only() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        await ctr.login("v1")
        ctr.ami.device_state("PJSIP/6001", "INUSE")  # an outbound call we did not route
        await ctr.expect(ev.AgentPhoneChanged, agent_id="v1", reason="phone-busy")
        assert ctr.server.runner.engine.agent_stats("v1").phone == "phone-busy"
        caller = await ctr.call()
        await ctr.expect(ev.ContactQueued)
        ctr.ami.device_state("PJSIP/6001", "NOT_INUSE")
        ctr.pbx.phone("PJSIP/6001", talk_s=0.01)
        offer = await ctr.expect(ev.ContactOffered)
        assert offer.agent_id == "v1"
        await caller.finished()


async def test_desk_phone_login_pause_and_logout_by_user_event() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        agents = ctr.server.runner.engine.agents
        ctr.ami.user_event("ACDAgent", Agent="v2", Action="login")
        await ctr.expect(ev.AgentPresenceChanged, agent_id="v2", presence="available")
        ctr.ami.user_event("ACDAgent", Agent="v2", Action="pause", Reason="lunch")
        await ctr.expect(ev.AgentPresenceChanged, agent_id="v2", presence="away")
        assert agents["v2"].reason == "lunch"
        ctr.ami.user_event("ACDAgent", Agent="v2", Action="unpause")
        await ctr.expect(ev.AgentPresenceChanged, agent_id="v2", presence="available")
        ctr.ami.user_event("ACDAgent", Agent="v2", Action="logout")
        await ctr.expect(ev.AgentPresenceChanged, agent_id="v2", presence="logged-out")
        ctr.ami.user_event("ACDAgent", Agent="nobody", Action="login")  # refused, logged, harmless
        ctr.ami.user_event("ACDAgent", Agent="v1", Action="login")
        await ctr.expect(ev.AgentPresenceChanged, agent_id="v1", presence="available")


async def test_bad_credentials_are_reported_and_retried_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="acd.ami")
    async with ami_centre(secret="not-the-secret", reconnect_max_s=0.2) as ctr:
        while len(ctr.ami.logins) < 4:
            await asyncio.wait_for(ctr.ami.login_attempted.wait(), TIMEOUT)
            ctr.ami.login_attempted.clear()
        assert all(not ok for _, ok in ctr.ami.logins)
        assert ctr.server.ami is not None and not ctr.server.ami.connected
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("login refused: Authentication failed; retrying in 0.05 s" in m for m in errors)
        assert any("retrying in 0.2 s" in m for m in errors)  # doubled, then capped
        assert not any("not-the-secret" in r.getMessage() for r in caplog.records)
        # Calls still flow through FastAGI without AMI.
        ctr.pbx.phone("PJSIP/6001", talk_s=0.01)
        await ctr.login("v1")
        caller = await ctr.call()
        await caller.finished()
        assert caller.variables["ACD_RESULT"] == "answered"


async def test_link_dropped_mid_call_resyncs_and_learns_the_answer() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        phone = ctr.pbx.phone("PJSIP/6001")
        answered = ctr.answered()
        ctr.ami.drop(refuse=True)  # what happens now is not seen on AMI
        await ctr.login("v1")
        caller = await ctr.call()
        await asyncio.wait_for(answered.wait(), TIMEOUT)
        assert ctr.server.runner.engine.contacts[caller_contact(ctr)].state == "offered"
        ctr.ami.restore()
        await ctr.link_up()  # reconnect, DeviceStateList, CoreShowChannels
        connected = await ctr.expect(ev.ContactConnected)
        assert connected.agent_id == "v1"
        phone.hang_up()
        await caller.finished()
        assert ctr.server.ami is not None and ctr.server.ami.logins == 2


def caller_contact(ctr: Centre) -> str:
    (cid,) = ctr.server.voice.sessions
    return cid


async def test_the_link_asks_only_for_the_events_it_reads() -> None:
    """Login's Events mask and a session filter, whatever manager.conf's
    read= allows: a call routed by someone else costs the ACD nothing."""
    async with ami_centre() as ctr:
        await ctr.link_up()
        login = next(r for r in ctr.ami.requests if r["Action"] == "Login")
        assert login["Events"] == "call,user,system,dtmf"
        assert "Filter" in ctr.ami.actions
        before = ctr.server.ami.received if ctr.server.ami else 0
        for _ in range(20):
            ctr.ami.noise()
        ctr.ami.device_state("PJSIP/6003", "NOT_INUSE")  # one it reads
        await ctr.login("v1")
        ctr.ami.device_state("PJSIP/6001", "INUSE")
        await ctr.expect(ev.AgentPhoneChanged, agent_id="v1", reason="phone-busy")
        assert ctr.server.ami is not None and ctr.server.ami.received - before == 2


async def test_without_the_filter_permission_the_class_mask_still_applies() -> None:
    pbx_filter_refused = True
    async with ami_centre() as ctr:
        ctr.ami.filter_allowed = not pbx_filter_refused
        ctr.ami.drop()  # log in again, now without the permission
        ctr.ami.restore()
        await ctr.link_up()
        await ctr.login("v1")
        before = ctr.ami.delivered
        for _ in range(5):
            ctr.ami.noise()  # the Newchannel (call) passes the mask, the VarSet (dialplan) does not
        ctr.ami.device_state("PJSIP/6001", "INUSE")
        await ctr.expect(ev.AgentPhoneChanged, agent_id="v1", reason="phone-busy")
        assert ctr.ami.delivered - before == 5 + 1


async def test_a_phone_ringing_with_a_private_call_is_in_use() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        await ctr.login("v1")
        ctr.ami.device_state("PJSIP/6001", "RINGING")
        await ctr.expect(ev.AgentPhoneChanged, agent_id="v1", reason="phone-busy")


async def test_the_unregistered_reason_does_not_depend_on_event_order() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        await ctr.login("v1", "v2")
        ctr.ami.contact_status("6001", "Removed")
        ctr.ami.device_state("PJSIP/6001", "UNAVAILABLE")
        ctr.ami.device_state("PJSIP/6002", "UNAVAILABLE")  # the other order
        ctr.ami.contact_status("6002", "Removed")
        await ctr.expect(ev.AgentPhoneChanged, agent_id="v2", reason="phone-unregistered")
        engine = ctr.server.runner.engine
        assert engine.agent_stats("v1").phone == engine.agent_stats("v2").phone == "phone-unregistered"


def test_dial_strings_name_their_devices() -> None:
    assert devices_of("PJSIP/6001") == ("PJSIP/6001",)
    assert devices_of("PJSIP/6001&PJSIP/6001-mobile") == ("PJSIP/6001", "PJSIP/6001-mobile")
    assert devices_of("Local/6001@agents/n") == ("Local/6001@agents",)
    assert devices_of("PJSIP/trunk/sip:+8613800000000@carrier") == ()


async def test_an_agent_rung_on_two_phones_is_busy_when_either_is() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        assert ctr.server.ami is not None
        ctr.server.ami._devices["v1"] = devices_of("PJSIP/6001&PJSIP/7001")
        ctr.server.ami._phones["PJSIP/7001"] = "v1"
        await ctr.login("v1")
        ctr.ami.device_state("PJSIP/7001", "INUSE")
        await ctr.expect(ev.AgentPhoneChanged, agent_id="v1", reason="phone-busy")
        ctr.ami.device_state("PJSIP/7001", "NOT_INUSE")
        changed = await ctr.expect(ev.AgentPhoneChanged, agent_id="v1")
        assert changed.reason is None


@pytest.mark.parametrize("how", ["caller-left-while-down", "caller-hangs-up-after", "agent-hangs-up-after"])
async def test_a_call_bridged_across_a_crash_ends_when_asterisk_says(tmp_path: Path, how: str) -> None:
    """The ACD dies with a call bridged to an agent; Asterisk keeps the call.
    The next process recovers it connected (the journal as the crash left
    it) and learns its end from Asterisk: its absence from the resync (the
    caller left while the ACD was down), the caller's Hangup event, or the
    dialplan's retry of the same channel once the agent hung up (Dial's g)."""
    pbx = Pbx()
    peer = AmiServer(pbx, secret=SECRET, auth_delay=0.02)
    link = {"port": await peer.start(), "username": "acd", "secret": SECRET, "reconnect_min_s": 0.05}
    settings = voice_settings("blended", ("voice", "chat"), link)
    live, crashed = tmp_path / "live", tmp_path / "crashed"
    first = Server(replace(settings, journal=JournalSettings(store="directory", path=str(live))), 0, 0)
    second: Server | None = None
    caller: Caller | None = None
    retry: Caller | None = None
    try:
        await first.start()
        ctr = AmiCentre(first, pbx, peer)
        await ctr.link_up()
        phone = pbx.phone("PJSIP/6001")
        await ctr.login("v1")
        assert first.bound_agi_port is not None
        caller = Caller(pbx, first.bound_agi_port, "queue/sales")
        await caller.start()
        connected = await ctr.expect(ev.ContactConnected)
        shutil.copytree(live, crashed)  # the disk as a crash now would leave it
        peer.drop(refuse=True)  # the next process's link waits until we listen
        await first.stop()  # its own ending is not what the next one reads
        if how == "caller-left-while-down":
            caller.hang_up()
            await caller.finished()
        again = replace(settings, journal=JournalSettings(store="directory", path=str(crashed)))
        second = Server(again, 0, 0)
        await second.start()
        assert second.runner.engine.contacts[connected.contact_id].state == "connected"
        ctr = AmiCentre(second, pbx, peer)
        peer.resynced.clear()
        peer.restore()
        await ctr.link_up()
        if how == "caller-hangs-up-after":
            caller.hang_up()
        elif how == "agent-hangs-up-after":
            phone.hang_up()
            await caller.finished()  # the old session's Dial returned; the dialplan runs AGI again:
            assert second.bound_agi_port is not None
            retry = Caller(pbx, second.bound_agi_port, "queue/sales", uniqueid=caller.agi_uniqueid)
            await retry.start()
        ended = await ctr.expect(ev.ContactEnded, contact_id=connected.contact_id)
        assert ended.agent_id == "v1"
        if retry is not None:
            await retry.finished()
            assert retry.variables["ACD_RESULT"] == "answered"  # not queued again
        assert not second.voice.bridged
    finally:
        for c in (caller, retry):
            if c is not None:
                await c.close()
        if second is not None:
            await second.stop()
        await peer.stop()
