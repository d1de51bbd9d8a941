"""Agents and customers end to end through the running daemon, over real
loopback WebSockets: authentication, offers with the screen pop, accept,
messages in order both ways, end and wrap-up, capacity, blending, RONA,
transfer, ownership, malformed frames, disconnect grace, resume, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import aiohttp
import pytest

from acd import events as ev
from tests.adapters.wsclient import WSClient, WSError, pw, session, settings


async def next_event(q: asyncio.Queue[ev.Event], pred: Callable[[ev.Event], bool]) -> ev.Event:
    async with asyncio.timeout(5):
        while True:
            e = await q.get()
            if pred(e):
                return e


async def test_auth_is_required_and_bad_passwords_are_refused() -> None:
    async with session() as s:
        c = WSClient(await s.http.ws_connect(s.url("/v1/agent/ws")))
        await c.expect("hello")
        reply = await c.request("login")
        assert reply["type"] == "error" and reply["error"]["code"] == "unauthorized"
        reply = await c.request("auth", agent="alice", password="wrong")
        assert reply["error"]["code"] == "unauthorized"
        reply = await c.request("auth", agent="nobody", password="x")
        assert reply["error"]["code"] == "unauthorized"
        # The third failure closes the connection (policy violation).
        msg = await c.ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert c.ws.close_code == 1008
        # A good password still works on a new connection.
        ok = await s.agent("alice", login=False)
        assert ok.ws.closed is False


async def test_a_chat_end_to_end() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        await alice.expect("presence", presence="available")
        cust, cid = await s.customer("sales", "I want to buy", verified={"name": "Wang", "email": "w@x.cn"})
        offer = await alice.expect("offer", contact=cid)
        assert offer["channel"] == "chat" and offer["queue"] == "sales"
        customer = offer["customer"]
        assert customer["key"] == "w@x.cn" and customer["identity"] == {"name": "Wang", "email": "w@x.cn"}
        assert customer["identifiers"] == ["email:w@x.cn"] and customer["profile"] == {"name": "Wang"}
        assert offer["history"] == []  # a first contact
        assert [m["text"] for m in offer["transcript"]] == ["I want to buy"]
        assert offer["decision"]["strategy"] == "longest-idle"
        await alice.call("accept", contact=cid)
        await alice.expect("connected", contact=cid)
        joined = await cust.expect("agent-joined")
        assert joined["agent"]["name"] == "alice"
        # Messages keep their order end to end, both ways.
        for i in range(5):
            await cust.call("message", text=f"c{i}")
        for i in range(5):
            await alice.call("message", contact=cid, text=f"a{i}")
        got = [(await alice.expect("message", contact=cid))["text"] for _ in range(5)]
        assert got == [f"c{i}" for i in range(5)]
        seqs = [(await cust.expect("message"))["seq"] for _ in range(5)]
        assert seqs == sorted(seqs) and seqs[0] == 7  # 1 first message + 5 customer messages before
        await alice.call("end", contact=cid)
        assert (await cust.expect("ended"))["by"] == "agent"
        assert (await alice.expect("wrap-up", contact=cid))["seconds"] == 30
        await alice.call("wrap-up-done", contact=cid)
        await alice.expect("wrap-up-ended", contact=cid)
        assert cid not in s.server.hub.conversations.by_id
        state = await alice.call("state")
        assert state["contacts"] == [] and state["presence"] == "available"


async def test_an_agent_acts_only_on_its_own_contacts() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        bob = await s.agent("bob", login=False)
        _, cid = await s.customer("sales")
        await alice.expect("offer", contact=cid)
        for frame in ({"type": "accept"}, {"type": "reject"}, {"type": "end"}, {"type": "wrap-up-done"}):
            reply = await bob.request(frame["type"], contact=cid)
            assert reply["error"]["code"] == "not-your-contact", frame
        reply = await bob.request("message", contact=cid, text="hi")
        assert reply["error"]["code"] == "not-your-contact"
        reply = await bob.request("transfer", contact=cid, queue="support")
        assert reply["error"]["code"] in ("not-your-contact", "invalid-transition")
        # Offered but not accepted: even the offered agent may not write yet.
        reply = await alice.request("message", contact=cid, text="hi")
        assert reply["error"]["code"] == "not-your-contact"
        await alice.call("accept", contact=cid)


async def test_malformed_frames_get_an_error_and_the_connection_survives() -> None:
    async with session() as s:
        alice = await s.agent("alice", login=False)
        await alice.ws.send_str("{not json")
        e = await alice.expect("error")
        assert e["error"]["code"] == "malformed-message" and e["id"] is None
        await alice.ws.send_str("[1, 2]")
        assert (await alice.expect("error"))["error"]["code"] == "malformed-message"
        await alice.ws.send_bytes(b"\xc1\xc1")
        assert (await alice.expect("error"))["error"]["code"] == "malformed-message"
        bad_frames: list[tuple[str, dict[str, object]]] = [
            ("fly", {}),
            ("accept", {}),
            ("message", {"contact": "x", "text": 5}),
        ]
        for kind, fields in bad_frames:
            reply = await alice.request(kind, **fields)
            assert reply["type"] == "error", kind
        assert reply["error"]["code"] == "malformed-message"
        assert (await alice.call("ping"))["pong"] is True


async def test_msgpack_frames_are_answered_in_msgpack() -> None:
    async with session() as s:
        alice = await s.agent("alice", binary=True)
        await alice.expect("presence", presence="available")
        assert (await alice.call("state"))["status"] == "available"


async def test_chat_capacity_and_position_announcements() -> None:
    async with session() as s:
        bob = await s.agent("bob")  # chat profile: 3 chats at once
        ids = []
        for i in range(4):
            _, cid = await s.customer("support", f"q{i}")
            ids.append(cid)
        for cid in ids[:3]:
            await bob.expect("offer", contact=cid)
            await bob.call("accept", contact=cid)
        fourth = s.server.hub.conversations.by_id[ids[3]]
        assert fourth.agent_id is None and not bob.seen("offer", contact=ids[3])
        cust4 = fourth.sink
        assert cust4 is not None
        await bob.call("end", contact=ids[0])
        await bob.call("wrap-up-done", contact=ids[0])
        await bob.expect("offer", contact=ids[3])


async def test_waiting_customer_hears_position_and_forecast() -> None:
    async with session() as s:
        cust1, _ = await s.customer("support", "first")
        cust2, _ = await s.customer("support", "second")
        p1 = await cust1.expect("position")
        p2 = await cust2.expect("position")
        assert (p1["position"], p2["position"]) == (1, 2)
        assert p2["estimated_wait_s"] is None  # nothing handled yet: no forecast
        await cust1.call("end")
        assert (await cust2.expect("position"))["position"] == 1


async def test_blended_agent_gets_a_call_while_chatting_but_no_chat_during_a_call() -> None:
    async with session() as s:
        alice = await s.agent("alice")  # blended
        _, chat1 = await s.customer("sales", "chat one")
        await alice.expect("offer", contact=chat1)
        await alice.call("accept", contact=chat1)
        call_in = {"queue": "sales", "channel": "voice", "customer": "+8613800000000"}
        status, body = await s.post("/v1/contacts", call_in)
        assert status == 201
        call = body["contact"]
        offer = await alice.expect("offer", contact=call)
        assert offer["channel"] == "voice"
        await alice.call("accept", contact=call)
        _, chat2 = await s.customer("sales", "chat two")
        state = await alice.call("state")
        assert {c["contact"] for c in state["contacts"]} == {chat1, call}
        assert not alice.seen("offer", contact=chat2)
        await alice.call("end", contact=call)
        await alice.call("wrap-up-done", contact=call)
        await alice.expect("offer", contact=chat2)


async def test_unanswered_offer_goes_to_the_next_agent() -> None:
    carol = {"carol": {"profile": "chat", "skills": {"support": 2}, "queues": {"support": 1}}}
    base = settings(carol)
    sales, support = base.routing.queues
    routing = replace(base.routing, queues=(sales, replace(support, offer_timeout_s=0.2)))
    async with session(replace(base, routing=routing)) as s:
        bob = await s.agent("bob")
        carol_ = await s.agent("carol", login=False)
        _, cid = await s.customer("support")
        await bob.expect("offer", contact=cid)
        await carol_.call("login")
        ended = await bob.expect("offer-ended", contact=cid)
        assert ended["reason"] == "timeout"
        assert (await bob.expect("presence", presence="not-responding"))["reason"] == "no-answer"
        await carol_.expect("offer", contact=cid)


async def test_transfer_carries_the_transcript_to_the_next_agent() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        _, cid = await s.customer("sales", "my order is broken")
        await alice.expect("offer", contact=cid)
        await alice.call("accept", contact=cid)
        await alice.call("message", contact=cid, text="passing you to support")
        bob = await s.agent("bob")
        await bob.call("away", reason="lunch")
        await alice.call("transfer", contact=cid, queue="support")
        assert (await alice.expect("transferred", contact=cid))["queue"] == "support"
        await alice.expect("wrap-up", contact=cid)
        await bob.call("available")
        offer = await bob.expect("offer", contact=cid)
        assert [m["text"] for m in offer["transcript"]] == ["my order is broken", "passing you to support"]
        assert offer["queue"] == "support"
        reply = await alice.request("message", contact=cid, text="still here?")
        assert reply["error"]["code"] == "not-your-contact"


async def test_disconnect_grace_keeps_conversations_and_restores_the_agent() -> None:
    async with session(settings(agent_grace_s=30)) as s:
        alice = await s.agent("alice")
        cust, cid = await s.customer("sales")
        await alice.expect("offer", contact=cid)
        await alice.call("accept", contact=cid)
        first = WSClient(await s.http.ws_connect(s.url("/v1/agent/ws")))
        await first.expect("hello")
        ack = await first.call("auth", agent="alice", password=pw("alice"))
        # The older desktop is told it was replaced.
        assert (await alice.expect("bye"))["reason"] == "replaced"
        await first.ws.close()
        a = s.server.runner.engine.agent_stats("alice")
        assert (a.status, a.reason) == ("away", "disconnected")
        await cust.call("message", text="are you there?")
        back = WSClient(await s.http.ws_connect(s.url("/v1/agent/ws")))
        await back.expect("hello")
        ack = await back.call("auth", token=ack["token"])
        assert ack["status"] == "available"
        [conv] = ack["contacts"]
        assert conv["contact"] == cid and conv["state"] == "connected"
        assert conv["transcript"][-1]["text"] == "are you there?"
        await back.call("message", contact=cid, text="yes")
        assert (await cust.expect("message"))["text"] == "yes"


async def test_after_the_grace_chats_requeue_and_the_agent_is_logged_out() -> None:
    async with session() as s:  # agent grace 0.3 s
        alice = await s.agent("alice")
        cust, cid = await s.customer("sales")
        await alice.expect("offer", contact=cid)
        await alice.call("accept", contact=cid)
        bob = await s.agent("bob")
        events = s.server.runner.subscribe()
        await alice.ws.close()
        offer = await bob.expect("offer", contact=cid)  # after the grace, back to sales
        assert offer["queue"] == "sales"
        assert (await cust.expect("transferred"))["queue"] == "sales"
        await next_event(
            events, lambda e: isinstance(e, ev.AgentPresenceChanged) and e.presence == "logged-out"
        )
        assert s.server.runner.engine.agent_stats("alice").status == "logged-out"
        # The session token died with the session.
        again = WSClient(await s.http.ws_connect(s.url("/v1/agent/ws")))
        await again.expect("hello")
        with pytest.raises(WSError, match="unauthorized"):
            await again.call("auth", token="whatever")


async def test_customer_resumes_after_a_page_reload_or_is_abandoned() -> None:
    async with session() as s:  # customer grace 0.3 s
        c = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
        await c.expect("hello")
        ack = await c.call("start", queue="support", text="hello?")
        await c.ws.close()
        c2 = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
        await c2.expect("hello")
        resumed = await c2.call("resume", token=ack["resume_token"])
        assert [m["text"] for m in resumed["transcript"]] == ["hello?"]
        await c2.call("message", text="still waiting")
        await c2.ws.close()
        # Still in its grace: an agent is offered it; then the customer is
        # given up on, the offer is withdrawn, the abandon counted.
        bob = await s.agent("bob")
        offer = await bob.expect("offer", contact=ack["contact"])
        assert [m["text"] for m in offer["transcript"]] == ["hello?", "still waiting"]
        assert (await bob.expect("offer-ended", contact=ack["contact"]))["reason"] == "abandoned"
        assert s.server.runner.engine.queue_stats("support").abandoned == 1
        reply = await c2.request("resume", token=ack["resume_token"]) if not c2.ws.closed else None
        assert reply is None


async def test_unknown_queue_and_bad_channel_are_refused_and_nothing_is_kept() -> None:
    async with session() as s:
        c = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
        await c.expect("hello")
        reply = await c.request("start", queue="nope", text="x")
        assert reply["error"]["code"] == "unknown-queue"
        reply = await c.request("start", queue="support", channel="voice", text="x")
        assert reply["error"]["code"] == "channel-not-allowed"
        reply = await c.request("message", text="x")
        assert reply["error"]["code"] == "no-conversation"
        assert len(s.server.hub.conversations) == 0


async def test_shutdown_says_goodbye_to_connected_agents_and_customers() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        cust, _ = await s.customer("support")
        await s.server.stop()
        assert (await alice.expect("bye"))["reason"] == "shutdown"
        assert (await cust.expect("bye"))["reason"] == "shutdown"
        s.server.stop = _noop  # type: ignore[method-assign]


async def _noop() -> None:
    return None
