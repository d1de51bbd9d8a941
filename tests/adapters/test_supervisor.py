"""Supervisor actions and the supervisor stream through the running daemon."""

from __future__ import annotations

from tests.adapters.wsclient import AUTH, WSClient, session


async def test_supervisor_forces_away_and_logout_and_moves_a_contact() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        status, body = await s.post("/v1/agents/alice/away", {"reason": "coaching"})
        assert status == 200 and (body["status"], body["reason"]) == ("away", "coaching")
        assert (await alice.expect("presence", presence="away"))["reason"] == "coaching"
        _, cid = await s.customer("sales", "hello")
        status, body = await s.post(f"/v1/contacts/{cid}/move", {"queue": "support"})
        assert status == 200
        bob = await s.agent("bob")
        assert (await bob.expect("offer", contact=cid))["queue"] == "support"
        status, body = await s.post("/v1/agents/alice/logout")
        assert status == 200 and body["status"] == "logged-out"
        status, body = await s.post("/v1/agents/nobody/logout")
        assert status == 404 and body["error"]["code"] == "unknown-agent"
        status, body = await s.post("/v1/contacts/nope/move", {"queue": "support"})
        assert status == 404 and body["error"]["code"] == "unknown-contact"
        status, body = await s.post(f"/v1/contacts/{cid}/move", {})
        assert status == 400 and body["error"]["code"] == "malformed-message"


async def test_work_items_can_be_created_and_refusals_are_clear() -> None:
    async with session() as s:
        status, body = await s.post(
            "/v1/contacts", {"queue": "sales", "channel": "chat", "skills": {"sales": 3}}
        )
        assert status == 201
        explained = await (await s.http.get(s.url(f"/v1/contacts/{body['contact']}"), headers=AUTH)).json()
        assert "sales" in str(explained)
        status, body = await s.post("/v1/contacts", {"queue": "nope"})
        assert status == 404 and body["error"]["code"] == "unknown-queue"
        status, body = await s.post("/v1/contacts", {"queue": "sales", "skills": {"sales": "high"}})
        assert status == 400
        async with s.http.post(s.url("/v1/contacts"), data=b"{oops", headers=AUTH) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "malformed-message"
        async with s.http.post(s.url("/v1/contacts"), json={"queue": "sales"}) as r:
            assert r.status == 401  # no admin token
        assert len(s.server.hub.conversations) == 1


async def test_supervisor_stream_sends_events_and_stats_and_needs_the_token() -> None:
    async with session() as s:
        async with s.http.get(s.url("/v1/supervisor/ws")) as r:
            assert r.status == 401
        sup = WSClient(await s.http.ws_connect(s.url("/v1/supervisor/ws"), headers=AUTH))
        await sup.expect("hello")
        stats = await sup.expect("stats")
        assert [q["name"] for q in stats["queues"]] == ["sales", "support"]
        alice = await s.agent("alice")
        e = await sup.expect("event")
        assert e["event"]["type"] == "AgentPresenceChanged" and e["event"]["agent_id"] == "alice"
        await sup.ws.send_str("nonsense")
        assert (await sup.expect("error"))["error"]["code"] == "malformed-message"
        async with s.http.get(s.url("/metrics")) as r:
            text = await r.text()
        assert 'acd_websocket_connections{kind="supervisor"} 1.0' in text
        assert 'acd_websocket_connections{kind="agent"} 1.0' in text
        assert not alice.ws.closed
