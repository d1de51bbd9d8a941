"""The public web chat, driven as an attacker would, through the running
daemon over real sockets: claimed identities, channels, starts and sockets
per address, idle sockets, foreign origins, transcript and outbox bounds,
lone surrogates, and messages sent while the offer rings."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from acd.adapters.security.identity_token import sign
from tests.adapters.wsclient import AUTH, IDENTITY_SECRET, Session, WSClient, WSError, session, settings

SALES: dict[str, Any] = {
    "channels": ["voice", "chat"],
    "skills": {"sales": 1},
    "preferred_wait_s": 30,
    "wrapup_s": 30,
}


async def upgrade_status(s: Session, path: str, headers: dict[str, str] | None = None) -> int:
    """The status of a refused WebSocket upgrade (and its JSON error body)."""
    ws_headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    ws_headers["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    async with s.http.get(s.url(path), headers={**ws_headers, **(headers or {})}) as r:
        assert "code" in (await r.json())["error"]
        return r.status


async def test_a_claimed_identity_reveals_nothing_and_merges_nothing() -> None:
    rules = [{"name": "vip", "when_profile": {"tier": ["gold"]}, "raise_priority": 10}]
    async with session(settings(extra={"rules": rules, "queues": {"sales": SALES}})) as s:
        bob = await s.agent("bob")
        victim, first = await s.customer("sales", "hi", verified={"email": "li@x.cn", "tier": "gold"})
        await s.serve(bob, first)
        await victim.ws.close()
        profile = s.server.customer_desk.customers
        before = await profile.find("email", "li@x.cn")
        await bob.call("away", reason="lunch")  # the one who would be preferred: out of the way
        alice = await s.agent("alice")
        attacker, cid = await s.customer(
            "sales", "what did I buy?", identity={"email": "li@x.cn", "phone": "+8613800000001"}
        )
        # A claimed e-mail would have held the chat for bob (preferred_wait_s = 30):
        # alice gets it at once.
        offer = await alice.expect("offer", contact=cid)
        customer = offer["customer"]
        assert customer["verified"] is False and customer["identity"] == {}
        assert customer["claimed"] == {"email": "li@x.cn", "phone": "+8613800000001"}
        assert "profile" not in customer and "identifiers" not in customer
        assert offer["history"] == [] and offer["rules"] == [] and offer["priority"] == 0
        assert offer["decision"]["strategy"] != "preferred-agent"
        after = await profile.find("email", "li@x.cn")
        assert after.identifiers == before.identifiers and after.id == before.id
        async with s.http.get(s.url("/v1/customers?kind=phone&value=%2B8613800000001"), headers=AUTH) as r:
            assert r.status == 404  # no profile for what was only claimed
        await attacker.ws.close()


async def test_identity_tokens_that_are_forged_expired_or_unsigned_are_refused() -> None:
    async with session() as s:
        c = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
        await c.expect("hello")
        now = time.time()
        forged = sign({"email": "li@x.cn", "exp": now + 60}, "not-the-secret-" * 3)
        expired = sign({"email": "li@x.cn", "iat": now - 4000, "exp": now - 10}, IDENTITY_SECRET)
        head, body, _ = sign({"email": "li@x.cn", "exp": now + 60}, IDENTITY_SECRET).split(".")
        unsigned = f"{head.replace('SFMyNTY', 'bm9uZQ')}.{body}."  # alg none
        for token in (forged, expired, unsigned, "garbage"):
            reply = await c.request("start", queue="sales", text="hi", identity_token=token)
            assert reply["error"]["code"] == "bad-identity-token", token
        assert s.server.guard.failures["identity-token"] == 4


async def test_a_web_chat_starts_only_the_channels_it_is_allowed() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        c = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
        await c.expect("hello")
        for channel in ("voice", "task", "email"):
            reply = await c.request("start", queue="sales", text="hi", channel=channel)
            assert reply["error"]["code"] == "channel-not-allowed"
        assert s.server.runner.engine.contacts == {}
        await c.call("start", queue="sales", text="hi")
        assert (await alice.expect("offer"))["channel"] == "chat"


async def test_starts_and_sockets_per_address_are_bounded() -> None:
    limits = {"chat_start_burst": 2, "chat_starts_per_minute": 1, "chat_sockets_per_address": 3}
    async with session(settings(extra={"limits": limits})) as s:
        clients = []
        for i in range(3):
            c = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
            await c.expect("hello")
            clients.append(c)
            reply = await c.request("start", queue="sales", text=f"hi {i}")
            assert reply["type"] == ("ack" if i < 2 else "error")
        assert reply["error"]["code"] == "rate-limited"
        assert await upgrade_status(s, "/v1/chat/ws") == 429
        await clients[0].ws.close()
        async with asyncio.timeout(5):
            while s.server.webchat.sockets.get("127.0.0.1") == 3:
                await asyncio.sleep(0.01)  # the server sees the close: nothing to await but its count
        again = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
        await again.expect("hello")
        async with s.http.get(s.url("/metrics")) as r:
            text = await r.text()
        assert 'acd_limit_refusals_total{limit="chat_starts_per_minute"} 1.0' in text
        assert 'acd_limit_refusals_total{limit="chat_sockets_per_address"} 1.0' in text


async def test_an_idle_socket_without_a_conversation_is_closed() -> None:
    async with session(settings(extra={"limits": {"chat_idle_s": 5}})) as s:
        s.server.hub.limits = s.server.hub.limits.__class__(chat_idle_s=0.2)
        c = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
        await c.expect("hello")
        assert (await c.expect("bye"))["reason"] == "idle"
        msg = await c.ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert c.ws.close_code == 4010


async def test_a_foreign_page_cannot_open_the_sockets() -> None:
    extra = {"limits": {"allowed_origins": ["https://shop.example.com"]}}
    async with session(settings(extra=extra)) as s:
        for path in ("/v1/chat/ws", "/v1/agent/ws"):
            assert await upgrade_status(s, path, {"Origin": "https://evil.example.net"}) == 403
            for origin in ("https://shop.example.com", s.url("")):
                ok = await s.http.ws_connect(s.url(path), headers={"Origin": origin.rstrip("/")})
                await ok.close()


async def test_a_transcript_is_bounded_in_characters() -> None:
    async with session(settings(extra={"limits": {"transcript_chars": 1000}})) as s:
        chat, _ = await s.customer("sales", "x" * 600)
        with pytest.raises(WSError, match="conversation-full"):
            await chat.call("message", text="y" * 500)
        await chat.call("message", text="z" * 400)


async def test_a_socket_that_never_reads_is_cut_off_at_its_byte_bound() -> None:
    limits = {"outbox_bytes": 64 * 1024, "transcript_chars": 10_000_000}
    async with session(settings(extra={"limits": limits})) as s:
        alice = await s.agent("alice")
        chat, cid = await s.customer("sales", "hi")
        await alice.expect("offer", contact=cid)
        await alice.call("accept", contact=cid)
        box = next(b for b in s.server.hub.connections["customer"])
        # The customer's page stops reading; the agent writes 16,000 characters at a
        # time until the kernel's buffers are full and the outbox holds the rest.
        chat.ws._response.connection.transport.pause_reading()  # type: ignore[union-attr]
        for _ in range(2000):
            if not box.open:
                break
            await alice.call("message", contact=cid, text="w" * 16_000)
        assert not box.open and box.queued_bytes <= 64 * 1024
        assert s.server.hub.refusals["outbox_bytes"] == 1


async def test_a_lone_surrogate_is_refused_and_the_desktop_keeps_working() -> None:
    async with session() as s:
        alice = await s.agent("alice", binary=True)
        chat, cid = await s.customer("sales", "hi")
        await alice.expect("offer", contact=cid)
        await alice.call("accept", contact=cid)
        await chat.ws.send_str('{"type": "message", "id": 9, "text": "bad \\ud800 text"}')
        reply = await chat.expect("error")
        assert reply["error"]["code"] == "malformed-message"
        await chat.call("message", text="good text")
        assert (await alice.expect("message", contact=cid))["text"] == "good text"


async def test_a_message_sent_while_the_offer_rings_reaches_the_agent_in_order() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        chat, cid = await s.customer("sales", "first")
        offer = await alice.expect("offer", contact=cid)
        assert [m["text"] for m in offer["transcript"]] == ["first"]
        await chat.call("message", text="second, while it rings")
        await alice.call("accept", contact=cid)
        await chat.call("message", text="third, live")
        got = [await alice.expect("message", contact=cid) for _ in range(2)]
        assert [(m["seq"], m["text"]) for m in got] == [(2, "second, while it rings"), (3, "third, live")]


async def test_customers_see_the_agents_display_name_never_its_login() -> None:
    carol_spec = {"name": "Carol W.", "profile": "chat", "skills": {"support": 2}, "queues": {"support": 1}}
    async with session(settings(extra_agents={"carol": carol_spec})) as s:
        carol = await s.agent("carol")
        chat, cid = await s.customer("support", "hi")
        await carol.expect("offer", contact=cid)
        await carol.call("accept", contact=cid)
        assert (await chat.expect("agent-joined"))["agent"] == {"name": "Carol W."}
        await carol.call("message", contact=cid, text="hello, Carol here")
        m = await chat.expect("message")
        assert m["agent"] == "Carol W." and "carol" not in str(m).replace("Carol", "")


async def test_a_page_away_when_the_agent_ends_sees_the_end_on_resume() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        c = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
        await c.expect("hello")
        ack = await c.call("start", queue="sales", text="hi")
        cid = ack["contact"]
        await alice.expect("offer", contact=cid)
        await alice.call("accept", contact=cid)
        await alice.call("message", contact=cid, text="one moment")
        await c.ws.close()  # the page reloads ...
        await alice.call("end", contact=cid)  # ... and the agent ends meanwhile
        await alice.call("wrap-up-done", contact=cid)
        again = WSClient(await s.http.ws_connect(s.url("/v1/chat/ws")))
        await again.expect("hello")
        resumed = await again.call("resume", token=ack["resume_token"])
        assert resumed["ended"] is True and resumed["agent"] is None
        assert [m["text"] for m in resumed["transcript"]] == ["hi", "one moment"]
        assert resumed["transcript"][1]["agent"] == "alice"  # her display name is her id here


async def test_supervisor_events_carry_unix_times() -> None:
    async with session() as s:
        sup = WSClient(await s.http.ws_connect(s.url("/v1/supervisor/ws"), headers=AUTH))
        await sup.expect("hello")
        alice = await s.agent("alice")
        e = await sup.expect("event")
        assert abs(e["event"]["at"] - time.time()) < 60
        await alice.ws.close()
