"""Routing that knows the customer, and working the contact, end to end
through the daemon over real loopback sockets: the preferred (last) agent,
keyword and VIP rules, transfers with notes and the loop limit,
dispositions and notes, post-contact surveys on chat and on the phone, and
the offline hand-off of a closed queue."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters.wsclient import AUTH, Session, WSError, session, settings
from tests.peers.asterisk import Caller, Pbx

SALES: dict[str, Any] = {
    "channels": ["voice", "chat"],
    "skills": {"sales": 1},
    "offer_timeout_s": 5,
    "wrapup_s": 30,
}
SUPPORT: dict[str, Any] = {"channels": ["chat"], "skills": {"support": 1}, "offer_timeout_s": 5}


async def history(s: Session, customer_id: str) -> list[dict[str, Any]]:
    await s.server.customer_desk.drained()
    async with s.http.get(s.url(f"/v1/customers/{customer_id}/contacts"), headers=AUTH) as r:
        assert r.status == 200
        contacts: list[dict[str, Any]] = (await r.json())["contacts"]
        return contacts


async def test_a_returning_customer_is_offered_first_to_the_agent_who_served_them() -> None:
    extra = {"queues": {"sales": {**SALES, "preferred_wait_s": 30}}}
    async with session(settings(extra=extra)) as s:
        bob = await s.agent("bob")
        chat, first = await s.customer("sales", "hello", verified={"email": "li@x.cn"})
        await s.serve(bob, first)
        alice = await s.agent("alice")  # now the longest idle: she would win otherwise
        again, second = await s.customer("sales", "me again", verified={"email": "LI@x.cn"})
        offer = await bob.expect("offer", contact=second)
        assert offer["decision"]["strategy"] == "preferred-agent"
        assert offer["history"][0]["agents"] == ["bob"]
        assert alice.seen("offer", contact=second) == []
        await chat.ws.close()
        await again.ws.close()


async def test_keyword_and_vip_rules_pick_the_queue_and_the_priority() -> None:
    rules = [
        {"name": "refunds", "when_keywords": ["refund", "退款"], "queue": "support"},
        {"name": "vip", "when_profile": {"tier": ["gold", "platinum"]}, "raise_priority": 10},
    ]
    async with session(settings(extra={"rules": rules})) as s:
        bob = await s.agent("bob")
        chat, cid = await s.customer("sales", "I want a REFUND now")
        offer = await bob.expect("offer", contact=cid)
        assert (offer["queue"], offer["rules"]) == ("support", ["refunds"])
        # Bob serves sales too and has room: out of the way, or he takes both.
        await bob.call("away", reason="lunch")

        plain, _ = await s.customer("sales", "hi", verified={"email": "a@x.cn"})
        vip, second = await s.customer("sales", "hi", verified={"email": "b@x.cn", "tier": "gold"})
        alice = await s.agent("alice")  # one agent for two waiting: the VIP goes first
        offer = await alice.expect("offer")
        assert (offer["contact"], offer["priority"], offer["rules"]) == (second, 10, ["vip"])
        assert offer["customer"]["profile"] == {"tier": "gold"}
        for c in (chat, plain, vip):
            await c.ws.close()


async def test_a_transfer_carries_the_conversation_and_notes_and_a_loop_is_refused() -> None:
    extra = {"max_transfer_returns": 0}
    async with session(settings(extra=extra)) as s:
        alice, bob = await s.agent("alice"), await s.agent("bob", login=False)
        chat, cid = await s.customer("sales", "my order 42 never came")
        await alice.expect("offer", contact=cid)
        await alice.call("accept", contact=cid)
        await chat.call("message", text="it was a gift")
        with pytest.raises(WSError, match="unknown-queue"):
            await alice.call("transfer", contact=cid, queue="nowhere", note="lost")
        await alice.call("transfer", contact=cid, queue="support", note="asked for a refund, order 42")
        await bob.call("login")
        offer = await bob.expect("offer", contact=cid)
        assert [m["text"] for m in offer["transcript"]] == ["my order 42 never came", "it was a gift"]
        assert [(n["agent"], n["text"]) for n in offer["notes"]] == [
            ("alice", "asked for a refund, order 42")
        ]
        await bob.call("accept", contact=cid)
        await bob.call("note", contact=cid, text="refund approved")
        reply = await bob.request("transfer", contact=cid, queue="sales")
        assert reply["error"]["code"] == "transfer-loop"
        assert "max_transfer_returns = 0" in reply["error"]["message"]
        await bob.call("message", contact=cid, text="still with you")  # nothing changed
        assert (await chat.expect("message", text="still with you"))["from"] == "agent"
        notes = [
            f for f in chat.pending if f.get("text") in ("refund approved", "asked for a refund, order 42")
        ]
        assert notes == []  # notes never reach the customer
        await chat.ws.close()


async def test_disposition_notes_and_the_chat_survey_land_in_history_and_statistics() -> None:
    sales = {**SALES, "wrapup_s": 30, "dispositions": ["sale", "no-sale"], "disposition_required": True}
    async with session(settings(extra={"queues": {"sales": {**sales, "survey": True}}})) as s:
        alice = await s.agent("alice")
        chat, cid = await s.customer("sales", "price of the blue one?", verified={"email": "li@x.cn"})
        offer = await alice.expect("offer", contact=cid)
        customer_id = offer["customer"]["id"]
        await alice.call("accept", contact=cid)
        reply = await alice.request("disposition", contact=cid, disposition="maybe")
        assert (
            reply["error"]["code"] == "unknown-disposition" and "sale, no-sale" in reply["error"]["message"]
        )
        await alice.call("end", contact=cid, notes="asked about colours")
        assert (await chat.expect("ended"))["by"] == "agent"
        survey = await chat.expect("survey")
        assert survey["scale"] == [1, 5] and "1 (poor) to 5" in survey["question"]
        reply = await alice.request("wrap-up-done", contact=cid)
        assert reply["error"]["code"] == "disposition-required"
        await alice.call("wrap-up-done", contact=cid, disposition="sale", notes="ships Friday")
        bad = await chat.request("survey", answer=9)
        assert bad["error"]["code"] == "bad-survey-answer"
        ack = await chat.call("survey", answer=4)  # after the record was written: it is rewritten
        assert ack["thanks"]
        assert (await chat.request("survey", answer=5))["error"]["code"] == "no-survey"
        (rec,) = await history(s, customer_id)
        assert (rec["disposition"], rec["survey"]) == ("sale", 4)
        assert rec["notes"] == "asked about colours\nships Friday"
        async with s.http.get(s.url("/v1/surveys"), headers=AUTH) as r:
            stats = await r.json()
        assert stats["queues"]["sales"]["average"] == 4 and stats["agents"]["alice"]["answers"] == 1
        await chat.ws.close()


async def test_a_caller_rates_the_call_on_the_keypad_after_the_agent_hangs_up() -> None:
    alice = {"profile": "blended", "skills": {"sales": 3}, "queues": {"sales": 1}, "endpoint": "PJSIP/6001"}
    extra = {"queues": {"sales": {**SALES, "survey": True}}}
    async with session(settings({"alice": alice}, extra=extra)) as s:
        pbx = Pbx()
        pbx.phone("PJSIP/6001", talk_s=0.01)  # the agent hangs up; Dial g keeps the caller
        desk = await s.agent("alice")
        assert s.server.bound_agi_port is not None
        caller = Caller(pbx, s.server.bound_agi_port, callerid="15551230001", keypad="5")
        await caller.start()
        offer = await desk.expect("offer")
        await caller.finished()
        await desk.call("wrap-up-done", contact=offer["contact"])
        assert "GET DATA acd-survey 6000 1" in caller.commands
        assert caller.variables["ACD_SURVEY"] == "5" and caller.variables["ACD_RESULT"] == "answered"
        (rec,) = await history(s, offer["customer"]["id"])
        assert rec["survey"] == 5 and rec["agents"] == ["alice"]
        silent = Caller(pbx, s.server.bound_agi_port, callerid="15551230002")  # keys nothing
        await silent.start()
        await desk.expect("offer", channel="voice")
        await silent.finished()
        assert "ACD_SURVEY" not in silent.variables
        async with s.http.get(s.url("/v1/surveys"), headers=AUTH) as r:
            assert (await r.json())["queues"]["sales"]["answers"] == 1
        await caller.close()
        await silent.close()


async def test_a_chat_to_a_closed_queue_becomes_a_task_with_its_context() -> None:
    extra = {
        "schedules": {"never": {"timezone": "Asia/Shanghai"}},  # no open hours at all
        "queues": {
            "sales": {**SALES, "hours": "never", "when_closed": "handoff", "handoff_to": "followups"},
            "followups": {"channels": ["task"], "skills": {"sales": 1}},
        },
    }
    extra_agents = {
        "bob": {"profile": "chat", "skills": {"sales": 2}, "queues": {"followups": 1}},
    }
    async with session(settings(extra_agents, extra=extra)) as s:
        assert s.server.runner.engine.queue_stats("sales").open is False
        chat, cid = await s.customer("sales", "please call me back about the invoice")
        handed = await chat.expect("handed-off")
        assert (handed["queue"], handed["reason"]) == ("followups", "closed")
        await chat.ws.close()  # the customer goes; the work item stays
        bob = await s.agent("bob")
        offer = await bob.expect("offer", contact=cid)
        assert (offer["channel"], offer["queue"]) == ("task", "followups")
        assert offer["transcript"][0]["text"] == "please call me back about the invoice"
        await bob.call("accept", contact=cid)
        assert s.server.runner.engine.contacts[cid].state == "connected"


async def test_a_warm_transfer_consults_in_private_then_hands_the_chat_over() -> None:
    carol = {"profile": "chat", "skills": {"sales": 1}, "queues": {"sales": 3}}
    async with session(settings({"carol": carol})) as s:
        alice = await s.agent("alice")
        bob = await s.agent("bob", login=False)
        chat, cid = await s.customer("sales", "can I pay in instalments?")
        await alice.expect("offer", contact=cid)
        await alice.call("accept", contact=cid)
        reply = await alice.request("consult", contact=cid, agent="bob")
        assert reply["error"]["code"] == "agent-unavailable"  # not logged in yet
        await bob.call("login")
        await alice.call("consult", contact=cid, agent="bob", text="instalments: can you take this one?")
        asked = await bob.expect("consult", contact=cid)
        assert asked["from"] == "alice" and asked["transcript"][0]["text"] == "can I pay in instalments?"
        await bob.call("consult-message", contact=cid, text="yes, send it over")
        answer = await alice.expect("consult-message", contact=cid)
        assert (answer["agent"], answer["text"]) == ("bob", "yes, send it over")
        carol_desk = await s.agent("carol")
        reply = await carol_desk.request("consult-message", contact=cid, text="me too")
        assert reply["error"]["code"] == "not-your-contact"
        await alice.call("transfer", contact=cid, agent="bob")
        assert (await bob.expect("consult-ended", contact=cid))["reason"] == "transferred"
        offer = await bob.expect("offer", contact=cid)
        assert [n["text"] for n in offer["notes"]] == [
            "instalments: can you take this one?",
            "yes, send it over",
        ]
        await bob.call("accept", contact=cid)
        await bob.call("message", contact=cid, text="Hi, Bob here: yes, in 3 or 6 months.")
        got = await chat.expect("message", text="Hi, Bob here: yes, in 3 or 6 months.")
        assert got["agent"] == "bob"
        private = {"instalments: can you take this one?", "yes, send it over"}
        assert not [f for f in chat.pending if f.get("text") in private]
        await chat.ws.close()
