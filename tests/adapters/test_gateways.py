"""A messaging gateway end to end over real loopback HTTP: signed webhooks
in, signed callbacks out (to a real aiohttp server standing in for the
gateway), replays and bad signatures refused, order kept."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from aiohttp import web

from acd.adapters.daemon import config_file
from acd.adapters.web.gateways import SIGNATURE, TIMESTAMP, check_signature, sign
from tests.adapters.wsclient import Session, running, settings

SECRET = "gateway-secret-for-tests"


class CallbackPeer:
    """The gateway's side: receives the ACD's callbacks and checks them."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.bad = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            check_signature(SECRET, request.headers[TIMESTAMP], body, request.headers[SIGNATURE], time.time())
        except Exception:
            self.bad += 1
            return web.Response(status=401)
        await self.got.put(json.loads(body))
        return web.Response(status=204)

    async def next(self, type_: str) -> dict[str, Any]:
        async with asyncio.timeout(5):
            while True:
                item = await self.got.get()
                if item["type"] == type_:
                    return item


@asynccontextmanager
async def gateway_centre(survey: bool = False) -> AsyncIterator[tuple[Session, CallbackPeer]]:
    peer = CallbackPeer()
    app = web.Application()
    app.router.add_post("/out", peer.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = settings()
    gw = config_file.GatewaySettings("wechat", SECRET, "support", "chat", f"http://127.0.0.1:{port}/out")
    try:
        options = {"support": config_file.QueueOptions(survey=True)} if survey else {}
        async with running(replace(base, gateways={"wechat": gw}, queue_options=options)) as server:
            s = Session(server)
            try:
                yield s, peer
            finally:
                await s.close()
    finally:
        await runner.cleanup()


async def post(
    s: Session, body: dict[str, Any], *, secret: str = SECRET, ts: float | None = None
) -> tuple[int, Any]:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time() if ts is None else ts))
    headers = {TIMESTAMP: stamp, SIGNATURE: sign(secret, stamp, raw), "Content-Type": "application/json"}
    async with s.http.post(s.url("/v1/gateways/wechat/messages"), data=raw, headers=headers) as r:
        return r.status, await r.json()


async def test_signed_messages_start_and_join_a_conversation_and_replies_come_back_in_order() -> None:
    async with gateway_centre() as (s, peer):
        status, body = await post(s, {"message_id": "m1", "user": "openid-1", "text": "where is my parcel"})
        assert status == 202
        cid = body["contact"]
        status, body = await post(s, {"message_id": "m2", "user": "openid-1", "text": "order 42"})
        assert (status, body) == (202, {"contact": cid, "seq": 2})
        bob = await s.agent("bob")
        offer = await bob.expect("offer", contact=cid)
        assert [m["text"] for m in offer["transcript"]] == ["where is my parcel", "order 42"]
        assert offer["origin"] == "wechat" and offer["customer"]["key"] == "wechat:openid-1"
        await bob.call("accept", contact=cid)
        joined = await peer.next("agent-joined")
        assert (joined["gateway"], joined["user"], joined["contact"]) == ("wechat", "openid-1", cid)
        for i in range(10):
            await bob.call("message", contact=cid, text=f"reply {i}")
        texts = [(await peer.next("message"))["text"] for _ in range(10)]
        assert texts == [f"reply {i}" for i in range(10)]
        await post(s, {"message_id": "m3", "user": "openid-1", "text": "thanks"})
        assert (await bob.expect("message", contact=cid))["text"] == "thanks"
        await post(s, {"message_id": "m4", "user": "openid-1", "type": "end"})
        assert (await bob.expect("ended", contact=cid))["by"] == "customer"
        assert peer.bad == 0


async def test_bad_signatures_stale_timestamps_and_replays_are_refused() -> None:
    async with gateway_centre() as (s, _):
        msg = {"message_id": "m1", "user": "u", "text": "hi"}
        status, body = await post(s, msg, secret="not-the-secret-at-all")
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        status, body = await post(s, msg, ts=time.time() - 3600)
        assert status == 401 and "clock" in body["error"]["message"]
        assert len(s.server.hub.conversations) == 0
        assert (await post(s, msg))[0] == 202
        status, body = await post(s, msg)
        assert (status, body["error"]["code"]) == (409, "replayed")
        status, body = await post(s, {"message_id": "m2", "user": "u"})
        assert (status, body["error"]["code"]) == (400, "malformed-message")
        # The malformed message did not burn its id: a corrected retry works.
        assert (await post(s, {"message_id": "m2", "user": "u", "text": "again"}))[0] == 202
        async with s.http.post(s.url("/v1/gateways/nope/messages"), data=b"{}") as r:
            assert r.status == 404
        conv = next(iter(s.server.hub.conversations.by_id.values()))
        assert [m.text for m in conv.transcript] == ["hi", "again"]


async def test_a_message_signed_for_the_future_cannot_be_replayed_later() -> None:
    """A timestamp may lie up to the window ahead: its id must be remembered
    until that signature is stale, not the window after receipt."""
    async with gateway_centre() as (s, _):
        clock = {"now": time.time()}
        for gw in s.server.gateways.gateways.values():
            gw.wall_clock = lambda: clock["now"]
        s.server.gateways.wall_clock = lambda: clock["now"]
        msg = {"message_id": "future", "user": "u", "text": "hi"}
        signed_at = clock["now"] + 295
        assert (await post(s, msg, ts=signed_at))[0] == 202
        clock["now"] += 310  # the window after receipt is over; the signature is still fresh
        status, body = await post(s, msg, ts=signed_at)
        assert (status, body["error"]["code"]) == (409, "replayed")


async def test_a_non_finite_timestamp_is_refused() -> None:
    async with gateway_centre() as (s, _):
        raw = json.dumps({"message_id": "n", "user": "u", "text": "hi"}).encode()
        for stamp in ("nan", "inf", "-inf", "1e999"):
            headers = {TIMESTAMP: stamp, SIGNATURE: sign(SECRET, stamp, raw)}
            async with s.http.post(s.url("/v1/gateways/wechat/messages"), data=raw, headers=headers) as r:
                assert r.status == 401, stamp
        assert len(s.server.hub.conversations) == 0


async def test_a_gateway_user_answers_the_survey_with_a_digit() -> None:
    async with gateway_centre(survey=True) as (s, peer):
        status, body = await post(
            s, {"message_id": "s1", "user": "openid-9", "text": "is it open on Sunday?"}
        )
        cid = body["contact"]
        bob = await s.agent("bob")
        await bob.expect("offer", contact=cid)
        await bob.call("accept", contact=cid)
        await bob.call("end", contact=cid)
        question = await peer.next("survey")
        assert (question["user"], question["contact"], question["scale"]) == ("openid-9", cid, [1, 5])
        status, body = await post(
            s, {"message_id": "s2", "user": "openid-9", "text": " \uff15 "}
        )  # a full-width 5
        assert (status, body) == (202, {"contact": cid, "survey": 5})
        assert (await peer.next("message"))["text"] == "Thank you for your feedback."
        status, body = await post(s, {"message_id": "s3", "user": "openid-9", "text": "4"})
        assert status == 202 and body["contact"] != cid  # answered once: a new conversation
        assert s.server.surveys.stats()["agents"]["bob"] == {
            "answers": 1,
            "average": 5.0,
            "by_score": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1},
        }
