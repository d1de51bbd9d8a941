"""Callback and agent-leg control end to end: a caller's key press seen as
an AMI DTMFEnd, the place kept in the queue, the agent rung by an async AMI
Originate whose answered leg runs our FastAGI and dials the customer; and
AMI Hangup stopping an agent's phone when the engine takes a call away from
it. Peers: :mod:`tests.peers.ami` and :mod:`tests.peers.asterisk`."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from functools import partial
from pathlib import Path

import aiohttp

from acd import commands as c
from acd import events as ev
from acd.adapters.daemon.config_file import JournalSettings
from acd.adapters.daemon.server import Server
from tests.adapters.test_ami import ami_centre
from tests.adapters.test_fastagi import TIMEOUT, Centre, voice_settings
from tests.peers.ami import AmiServer
from tests.peers.asterisk import Caller, Pbx

ALICE, BOB = "15551230001", "15551230002"
CALLBACK = {"queues": {"sales": {"callback": True}}, "sound_callback_offer": "acd-press-1-callback"}


async def test_callback_keeps_the_place_then_rings_the_agent_and_the_customer() -> None:
    async with ami_centre(asterisk=CALLBACK) as ctr:
        await ctr.link_up()
        agent_phone = ctr.pbx.phone("PJSIP/6001", ring_s=0.01)
        customer = ctr.pbx.phone(f"Local/{ALICE}@acd-callback")
        alice = await ctr.call(callerid=ALICE)
        first = await ctr.expect(ev.ContactQueued)
        bob = await ctr.call(callerid=BOB)
        await ctr.expect(ev.ContactQueued)
        await alice.received('STREAM FILE acd-press-1-callback ""')  # told about the key
        ctr.ami.dtmf(alice, "2")  # not the callback key: nothing happens
        ctr.ami.dtmf(alice, "1")
        await alice.finished()
        assert alice.variables["ACD_RESULT"] == "callback"
        assert 'STREAM FILE auth-thankyou ""' in alice.commands
        engine = ctr.server.runner.engine
        assert engine.contacts[first.contact_id].state == "queued"  # still in line, first
        assert engine.queue_stats("sales").waiting == 2 and engine.queue_stats("sales").abandoned == 0

        answered = ctr.answered()  # the customer picks up
        await ctr.login("v1")
        offer = await ctr.expect(ev.ContactOffered)
        assert (offer.contact_id, offer.agent_id) == (first.contact_id, "v1")
        connected = await ctr.expect(ev.ContactConnected, contact_id=first.contact_id)
        assert connected.agent_id == "v1"
        originate = next(f for f in ctr.ami.requests if f.get("Action") == "Originate")
        port = ctr.server.bound_agi_port
        assert originate["Channel"] == "PJSIP/6001" and originate["Async"] == "true"
        assert originate["Application"] == "AGI"
        assert originate["Data"] == f"agi://127.0.0.1:{port}/callback/{first.contact_id}"
        assert originate["CallerID"] == f'"Callback" <{ALICE}>'
        assert originate["Timeout"] == "5000"
        assert agent_phone.rings
        (leg,) = ctr.ami.legs
        await leg.received(f'EXEC Dial "Local/{ALICE}@acd-callback,30,g"')
        await asyncio.wait_for(answered.wait(), TIMEOUT)
        customer.hang_up()  # the customer ends the call
        ended = await ctr.expect(ev.ContactEnded, contact_id=first.contact_id)
        assert ended.by == "customer"
        await leg.finished()
        assert leg.variables["ACD_RESULT"] == "answered"
        assert ctr.server.voice.callbacks.pending == {}

        # Bob, who never left, is next, the ordinary way.
        bob_answered = ctr.answered()
        bob_offer = await ctr.expect(ev.ContactOffered)
        assert bob_offer.agent_id == "v1" and bob_offer.contact_id != first.contact_id
        await asyncio.wait_for(bob_answered.wait(), TIMEOUT)
        agent_phone.hang_up()
        await bob.finished()
        q = engine.queue_stats("sales")
        assert (q.offered, q.answered, q.abandoned, q.waiting) == (2, 2, 0, 0)


async def test_callback_not_answered_by_one_agent_goes_to_the_next() -> None:
    async with ami_centre(asterisk={**CALLBACK, "callback_ring_s": 1}, queue={"offer_timeout_s": 1}) as ctr:
        await ctr.link_up()
        ctr.pbx.phone("PJSIP/6001", mode="noanswer")
        ctr.pbx.phone("PJSIP/6002", mode="busy")
        ctr.pbx.phone("PJSIP/6003", ring_s=0.01)
        customer = ctr.pbx.phone(f"Local/{ALICE}@acd-callback", mode="noanswer")
        alice = await ctr.call(callerid=ALICE)
        queued = await ctr.expect(ev.ContactQueued)
        ctr.ami.dtmf(alice, "1")
        await alice.finished()
        await ctr.login("v1")
        missed = await ctr.expect(ev.OfferEnded, contact_id=queued.contact_id)
        assert (missed.agent_id, missed.reason) == ("v1", "no-answer")  # OriginateResponse Reason 3
        await ctr.login("v2")
        busy = await ctr.expect(ev.OfferEnded, contact_id=queued.contact_id)
        assert (busy.agent_id, busy.reason) == ("v2", "busy")  # Reason 5
        await ctr.login("v3")
        connected = await ctr.expect(ev.ContactConnected, contact_id=queued.contact_id)
        assert connected.agent_id == "v3"
        (leg,) = ctr.ami.legs
        ended = await ctr.expect(ev.ContactEnded, contact_id=queued.contact_id)
        assert ended.by == "agent"  # nobody answered at the customer's end
        await leg.finished()
        assert leg.variables["ACD_RESULT"] == "callback-failed"
        assert customer.rings
        engine = ctr.server.runner.engine
        assert engine.agents["v1"].status == "not-responding"


async def test_callback_needs_a_caller_id_and_a_waiting_call() -> None:
    async with ami_centre(asterisk=CALLBACK) as ctr:
        await ctr.link_up()
        anonymous = await ctr.call(callerid="anonymous")
        queued = await ctr.expect(ev.ContactQueued)
        await anonymous.received('STREAM FILE acd-press-1-callback ""')
        ctr.ami.dtmf(anonymous, "1")  # no number to call back: ignored, the call waits on
        ctr.pbx.phone("PJSIP/6001", talk_s=0.01)
        await ctr.login("v1")
        await ctr.expect(ev.ContactEnded, contact_id=queued.contact_id)
        await anonymous.finished()
        assert anonymous.variables["ACD_RESULT"] == "answered"


async def test_withdrawn_offer_stops_the_phone_ringing() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        ctr.pbx.phone("PJSIP/6001", mode="noanswer")
        ctr.pbx.phone("PJSIP/6002", talk_s=0.01)
        ringing = ctr.dial_began()
        await ctr.login("v1")
        caller = await ctr.call()
        await asyncio.wait_for(ringing.wait(), TIMEOUT)
        session = next(iter(ctr.server.voice.sessions.values()))
        dest = session.dest_channel
        assert dest is not None and dest.startswith("PJSIP/6001-")
        await ctr.server.runner.submit(partial(c.SetAway, agent_id="v1", reason="break"))
        withdrawn = await ctr.expect(ev.OfferEnded)
        assert withdrawn.reason == "agent-away"
        await caller.received("SET MUSIC ON default", times=2)  # the Dial returned at once: on hold again
        assert caller.dials == [("PJSIP/6001", "CHANUNAVAIL")]
        assert {"Action": "Hangup", "Channel": dest}.items() <= ctr.ami.requests[-1].items()
        await ctr.login("v2")
        await caller.finished()
        assert caller.variables["ACD_AGENT"] == "v2"


async def test_call_ended_from_the_desktop_hangs_up_the_agent_and_returns_the_caller() -> None:
    async with ami_centre() as ctr:
        await ctr.link_up()
        ctr.pbx.phone("PJSIP/6001")  # would talk forever
        await ctr.login("v1")
        caller = await ctr.call()
        connected = await ctr.expect(ev.ContactConnected)
        cid = connected.contact_id
        await ctr.server.runner.submit(partial(c.EndContact, agent_id="v1", contact_id=cid))
        await caller.finished()
        assert caller.variables["ACD_RESULT"] == "answered"
        assert ctr.ami.actions.count("Hangup") == 1
        assert cid not in ctr.server.runner.engine.contacts  # no wrap-up here: completed


async def test_keepalive_pings_and_a_silent_link_is_replaced() -> None:
    async with ami_centre(ping_s=0.05) as ctr:
        await ctr.link_up()
        while ctr.ami.actions.count("Ping") < 2:
            await asyncio.wait_for(ctr.ami.pinged.wait(), TIMEOUT)
            ctr.ami.pinged.clear()
        link = ctr.server.ami
        assert link is not None and link.connected
        text = await metrics(ctr.server.bound_port)
        assert "acd_ami_connected 1.0" in text and "acd_ami_logins_total 1.0" in text
        ctr.ami.silent = True  # the TCP link stays up, Asterisk answers nothing
        ctr.ami.resynced.clear()
        await asyncio.wait_for(ctr.ami.session_closed.wait(), TIMEOUT)
        ctr.ami.silent = False
        await ctr.link_up()  # the unanswered Ping ended the session; a new one logged in
        assert link.logins == 2


async def metrics(port: int) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
        return await r.text()


async def test_a_callback_survives_a_restart(tmp_path: Path) -> None:
    """The caller hung up to be called back; the ACD restarts (its journal
    on); the callback is still owed, and the agent is rung for it."""
    pbx = Pbx()
    peer = AmiServer(pbx, secret="acdsecret", auth_delay=0.02)
    port = await peer.start()
    link = {"port": port, "username": "acd", "secret": "acdsecret", "reconnect_min_s": 0.05}
    s = voice_settings("blended", ("voice", "chat"), link, CALLBACK)
    s = replace(s, journal=JournalSettings(store="directory", path=str(tmp_path / "journal")))
    running: list[Server] = []  # stopped on the way out, failing or not (else the loop never closes)
    try:
        first_run = Server(s, port=0, agi_port=0)
        await first_run.start()
        running.append(first_run)
        ctr = Centre(first_run, pbx)
        await asyncio.wait_for(peer.resynced.wait(), TIMEOUT)
        alice = Caller(pbx, ctr.server.bound_agi_port or 0, "queue/sales", callerid=ALICE)
        await alice.start()
        queued = await ctr.expect(ev.ContactQueued)
        await alice.received('STREAM FILE acd-press-1-callback ""')
        peer.dtmf(alice, "1")
        await alice.finished()
        assert alice.variables["ACD_RESULT"] == "callback"
        await running.pop().stop()

        peer.resynced.clear()
        second_run = Server(s, port=0, agi_port=0)
        await second_run.start()
        running.append(second_run)
        again = Centre(second_run, pbx)
        assert queued.contact_id in again.server.voice.callbacks.pending  # still owed
        await asyncio.wait_for(peer.resynced.wait(), TIMEOUT)
        pbx.phone("PJSIP/6001", ring_s=0.01)
        await again.login("v1")
        offer = await again.expect(ev.ContactOffered, contact_id=queued.contact_id)
        assert offer.agent_id == "v1"
        await again.expect(ev.ContactConnected, contact_id=queued.contact_id)  # the agent's leg answered
        originates = [f for f in peer.requests if f.get("Action") == "Originate"]
        assert originates and originates[-1]["Data"].endswith(f"/callback/{queued.contact_id}")
    finally:
        for leg in peer.legs:
            await leg.close()
        for server in running:
            await server.stop()
        await peer.stop()
