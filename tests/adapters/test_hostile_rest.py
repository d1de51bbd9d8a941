"""The REST API as a careless integrator or a fuzzer drives it: a refused
request changes nothing, retries are idempotent, every error is the
documented JSON, and a supervisor can end what nobody else can."""

from __future__ import annotations

from typing import Any

from acd.adapters.daemon.hub import estimated_wait, staffed
from tests.adapters.wsclient import AUTH, Session, session


async def post_raw(s: Session, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with s.http.post(s.url(path), data=data, headers={**AUTH, **headers}) as r:
        return r.status, await r.json()


async def test_a_refused_duplicate_leaves_the_original_untouched() -> None:
    async with session() as s:
        status, body = await s.post(
            "/v1/contacts",
            {"id": "w1", "queue": "sales", "channel": "chat", "priority": 5, "text": "original"},
        )
        assert status == 201
        status, body = await s.post("/v1/contacts", {"id": "w1", "queue": "support", "text": "impostor"})
        assert (status, body["error"]["code"]) == (409, "duplicate-contact")
        alice = await s.agent("alice")
        offer = await alice.expect("offer", contact="w1")
        assert offer["priority"] == 5 and [m["text"] for m in offer["transcript"]] == ["original"]
        await alice.call("accept", contact="w1")
        assert (await alice.call("message", contact="w1", text="hello"))["seq"] == 2


async def test_an_idempotency_key_returns_the_first_answer_again() -> None:
    async with session() as s:
        body = {"queue": "sales", "channel": "chat", "text": "invoice 7"}
        headers = {**AUTH, "Idempotency-Key": "order-7"}
        answers = []
        for _ in range(2):
            async with s.http.post(s.url("/v1/contacts"), json=body, headers=headers) as r:
                answers.append((r.status, await r.json(), r.headers.get("Location")))
        assert answers[0] == answers[1] and answers[0][0] == 201
        assert answers[0][2] == f"/v1/contacts/{answers[0][1]['contact']}"
        assert len(s.server.runner.engine.contacts) == 1
        async with s.http.post(s.url("/v1/contacts"), json={**body, "text": "other"}, headers=headers) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (422, "idempotency-key-reused")
        # A refused request is not remembered: fixed, the same key works.
        bad = {**AUTH, "Idempotency-Key": "k2"}
        async with s.http.post(s.url("/v1/contacts"), json={"queue": "nope"}, headers=bad) as r:
            assert r.status == 404
        async with s.http.post(s.url("/v1/contacts"), json={"queue": "support"}, headers=bad) as r:
            assert r.status == 201


async def test_a_work_item_takes_as_much_text_as_a_chat() -> None:
    async with session() as s:
        status, body = await s.post(
            "/v1/contacts", {"queue": "support", "channel": "chat", "text": "x" * 10_000}
        )
        assert status == 201
        status, body = await s.post("/v1/contacts", {"queue": "support", "text": "x" * 16_001})
        assert (status, body["error"]["code"]) == (400, "malformed-message")


async def test_a_supervisor_ends_any_contact_and_a_logout_leaks_none() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        status, body = await s.post("/v1/contacts", {"id": "v1", "queue": "sales", "channel": "voice"})
        await alice.expect("offer", contact="v1")
        await alice.call("accept", contact="v1")
        # Logged out with a voice work item nobody can end: it goes back to its queue.
        status, _ = await s.post("/v1/agents/alice/logout")
        assert status == 200
        engine = s.server.runner.engine
        assert engine.contacts["v1"].state == "queued" and engine.agents["alice"].assignments == {}
        status, body = await s.post("/v1/agents/alice/logout")
        assert status == 200  # idempotent
        # Waiting: a supervisor ends it.
        status, body = await s.post("/v1/contacts/v1/end")
        assert (status, body) == (200, {"contact": "v1", "ended": True}) and "v1" not in engine.contacts
        # Connected: ended, wrap-up closed, the agent free at once.
        bob = await s.agent("bob")
        _, cid = await s.customer("support", "hi")
        await bob.expect("offer", contact=cid)
        await bob.call("accept", contact=cid)
        status, _ = await s.post(f"/v1/contacts/{cid}/end")
        assert status == 200 and cid not in engine.contacts and engine.agents["bob"].assignments == {}
        status, body = await s.post(f"/v1/contacts/{cid}/end")
        assert (status, body["error"]["code"]) == (404, "unknown-contact")


async def test_every_refusal_is_the_documented_json() -> None:
    async with session() as s:
        cases = [
            ("GET", "/nowhere", None, {}, 404, "not-found"),
            ("DELETE", "/v1/queues", None, {}, 405, "method-not-allowed"),
            ("POST", "/v1/contacts", b"{}" + b" " * 300_000, {"Content-Type": "application/json"}, 413, None),
            ("POST", "/v1/contacts", b"queue=sales", {"Content-Type": "text/plain"}, 415, None),
            (
                "POST",
                "/v1/contacts",
                b'{"queue": "sales"}',
                {"Content-Type": "application/json; charset=nope"},
                201,
                None,
            ),
            (
                "POST",
                "/v1/contacts",
                b"[" * 5000 + b"]" * 5000,
                {"Content-Type": "application/json"},
                400,
                "malformed-message",
            ),
            ("GET", "/v1/customers/c1/contacts?limit=%C2%B2", None, {}, 400, "malformed-message"),
            ("GET", "/v1/agent/ws", None, {}, 400, None),
        ]
        for method, path, data, headers, status, code in cases:
            async with s.http.request(method, s.url(path), data=data, headers={**AUTH, **headers}) as r:
                assert r.status == status, (path, r.status)
                body = await r.json()
                if status >= 400:
                    assert set(body["error"]) >= {"code", "message"}, path
                    assert code is None or body["error"]["code"] == code, (path, body)


async def test_statistics_are_rounded_and_no_forecast_without_staff() -> None:
    async with session() as s:
        bob = await s.agent("bob")
        await s.serve(bob, (await s.customer("support", "hi"))[1])
        async with s.http.get(s.url("/v1/queues"), headers=AUTH) as r:
            support = next(q for q in (await r.json())["queues"] if q["name"] == "support")
        for k in ("asa_s", "aht_s"):
            assert support[k] is not None and support[k] == round(support[k], 3)
    assert staffed({"busy": 1, "not-responding": 2, "away": 1, "logged-out": 3}) == 1
    assert estimated_wait(3, 60.0, staffed({"not-responding": 1})) is None
    assert estimated_wait(3, 60.0, 2) == 90.0


async def test_metrics_count_from_zero_agents_once_and_the_process() -> None:
    async with session() as s:
        alice = await s.agent("alice")
        async with s.http.get(s.url("/metrics")) as r:
            text = await r.text()
        # configured pairs exist before the first contact
        assert 'acd_contacts_offered_total{channel="chat",queue="support"} 0.0' in text
        # alice serves one queue, bob two: each counted once in the total
        assert 'acd_agents_by_presence{presence="available"} 1.0' in text
        assert 'acd_agents_by_presence{presence="logged-out"} 1.0' in text
        assert "process_resident_memory_bytes" in text and "process_open_fds" in text
        _, cid = await s.customer("sales", "hi")
        await alice.expect("offer", contact=cid)
        async with s.http.get(s.url("/metrics")) as r:
            text = await r.text()
        # engine time per offer from a fine clock, never a flat zero
        line = next(ln for ln in text.splitlines() if ln.startswith("acd_decision_seconds_sum"))
        assert float(line.split()[-1]) > 0
