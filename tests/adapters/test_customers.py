"""Customers and their history against both stores (SQLite in a temporary
directory and a real redis-server, ``redis_url``: the same tests on each),
then end to end through the daemon: a caller who later chats is one
customer, and the chat's screen pop shows the call."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from acd.adapters.customers.desk import Customers, UnknownCustomer
from acd.adapters.customers.store import CustomerStore, RedisStore, SqliteStore
from acd.history import ContactRecord
from acd.identity import UnknownMerge
from tests.adapters.wsclient import AUTH, session, settings
from tests.peers.asterisk import Caller, Pbx


@pytest.fixture(params=["sqlite", "redis"])
def make_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], CustomerStore]:
    """A factory of stores that share one database (to test reopening)."""
    if request.param == "sqlite":
        path = str(tmp_path_factory.mktemp("store") / "customers.sqlite3")
        return lambda: SqliteStore(path)
    url = request.getfixturevalue("redis_url")
    prefix = f"t{uuid.uuid4().hex[:8]}:"  # each test its own keys
    return lambda: RedisStore(url, prefix)


@pytest.fixture
async def customers(make_store: Callable[[], CustomerStore]) -> AsyncIterator[Customers]:
    store = make_store()
    await store.open()
    clock = itertools.count(1000)
    try:
        yield Customers(store, "1", lambda: float(next(clock)))
    finally:
        await store.close()


def record(cid: str, profile: str, at: float, outcome: str = "answered") -> ContactRecord:
    return ContactRecord(
        cid, profile, "voice", "sales", "voice", "+15551230001", at, at + 60, outcome, agents=("v1",)
    )


async def test_one_customer_across_phone_chat_and_email(customers: Customers) -> None:
    call = await customers.identify({"phone": "(555) 123-0001"})
    assert call is not None and call.created
    chat = await customers.identify({"user": "u-7", "email": "LI@X.CN", "name": "Li"})
    assert chat is not None and chat.profile.id != call.profile.id
    again = await customers.identify({"phone": "+1 555 123 0001"})
    assert again is not None and not again.created and again.profile.id == call.profile.id
    linked = await customers.identify({"email": "li@x.cn", "phone": "5551230001"})
    assert linked is not None and linked.profile.id == call.profile.id
    (merge,) = linked.merges
    assert merge.absorbed == chat.profile.id
    assert (await customers.find("user", "u-7")).id == call.profile.id
    assert (await customers.customer(chat.profile.id)).id == call.profile.id  # an old id still finds them
    assert linked.profile.attributes == {"name": "Li"}  # descriptions travel with the merge
    assert await customers.identify({"phone": "anonymous"}) is None


async def test_history_reads_through_merges_and_unmerge_splits_it(customers: Customers) -> None:
    a = await customers.identify({"phone": "+15551230001"})
    b = await customers.identify({"email": "li@x.cn"})
    assert a is not None and b is not None
    await customers.record(record("c1", a.profile.id, 1.0))
    await customers.record(record("c2", b.profile.id, 2.0, "abandoned"))
    await customers.record(record("c3", a.profile.id, 3.0))
    linked = await customers.identify({"phone": "+15551230001", "email": "li@x.cn"})
    assert linked is not None
    history = await customers.history(a.profile.id, 10)
    assert [r.contact_id for r in history] == ["c3", "c2", "c1"]
    assert history[1].outcome == "abandoned" and history[1].agents == ("v1",)
    assert [r.contact_id for r in await customers.history(a.profile.id, 2)] == ["c3", "c2"]
    # the next page starts below the last one seen, through merges too
    assert [r.contact_id for r in await customers.history(a.profile.id, 2, before=2.0)] == ["c1"]
    s, back = await customers.unmerge(linked.merges[0].id)
    assert back.identifiers == ("email:li@x.cn",) and s.identifiers == ("phone:+15551230001",)
    assert (await customers.find("email", "li@x.cn")).id == b.profile.id
    assert [r.contact_id for r in await customers.history(a.profile.id, 10)] == ["c3", "c1"]
    with pytest.raises(UnknownMerge):
        await customers.unmerge(linked.merges[0].id)
    with pytest.raises(UnknownCustomer):
        await customers.customer("c-nobody")


async def test_what_is_written_survives_a_reopen(make_store: Callable[[], CustomerStore]) -> None:
    first = make_store()
    await first.open()
    c = Customers(first, None, lambda: 1.0)
    r = await c.identify({"wechat": "oAbC", "crm": "42"})
    assert r is not None
    await c.record(record("c1", r.profile.id, 5.0))
    await first.close()
    second = make_store()
    await second.open()
    try:
        c2 = Customers(second, None, lambda: 2.0)
        assert (await c2.find("crm", "42")).id == r.profile.id
        assert [x.contact_id for x in await c2.history(r.profile.id, 5)] == ["c1"]
    finally:
        await second.close()


async def test_a_caller_who_then_chats_is_one_customer_with_the_call_in_the_screen_pop() -> None:
    alice = {"profile": "blended", "skills": {"sales": 3}, "queues": {"sales": 1}, "endpoint": "PJSIP/6001"}
    async with session(settings({"alice": alice})) as s:
        server = s.server
        pbx = Pbx()
        pbx.phone("PJSIP/6001", talk_s=0.01)
        desk = await s.agent("alice")
        assert server.bound_agi_port is not None
        caller = Caller(pbx, server.bound_agi_port, callerid="15551230001")
        await caller.start()
        call = await desk.expect("offer")
        assert call["channel"] == "voice" and call["history"] == []
        call_customer = call["customer"]["id"]
        await caller.finished()
        await desk.call("wrap-up-done", contact=call["contact"])
        await server.customer_desk.drained()

        chat, cid = await s.customer(
            "sales", "about my call", verified={"phone": "15551230001", "email": "Li@X.cn", "name": "Li"}
        )
        offer = await desk.expect("offer", contact=cid)
        assert offer["customer"]["id"] == call_customer  # the phone number linked them
        assert offer["customer"]["identifiers"] == ["phone:15551230001", "email:li@x.cn"]
        (past,) = offer["history"]
        assert past["contact"] == call["contact"] and past["channel"] == "voice"
        assert past["outcome"] == "answered" and past["agents"] == ["alice"]

        async with s.http.get(s.url("/v1/customers?kind=email&value=LI@x.cn"), headers=AUTH) as r:
            assert r.status == 200 and (await r.json())["id"] == call_customer
        url = s.url(f"/v1/customers/{call_customer}/contacts?limit=1")
        async with s.http.get(url, headers=AUTH) as r:
            page = await r.json()
            (rec,) = page["contacts"]
        async with s.http.get(url + f"&before={page['next']}", headers=AUTH) as r:
            assert (await r.json()) == {"contacts": [], "next": None}  # one contact in all
        async with s.http.get(url + "&before=nan", headers=AUTH) as r:
            assert r.status == 400
        assert (
            rec["origin"] == "voice"
            and rec["customer"] == "15551230001"
            and rec["ended_at"] >= rec["queued_at"]
        )
        async with s.http.get(s.url("/v1/customers/c-nobody"), headers=AUTH) as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "unknown-customer"
        await caller.close()
        await chat.ws.close()


async def test_the_daemon_keeps_profiles_and_history_in_redis(redis_url: str) -> None:
    prefix = f"d{uuid.uuid4().hex[:8]}:"
    extra = {"customers": {"store": "redis", "redis_url": redis_url, "redis_prefix": prefix}}
    async with session(settings(extra=extra)) as s:
        assert isinstance(s.server.store, RedisStore)
        bob = await s.agent("bob")
        chat, first = await s.customer("support", "my card was charged twice", verified={"email": "li@x.cn"})
        await s.serve(bob, first)
        again, second = await s.customer("support", "about that charge", verified={"email": "Li@x.cn"})
        offer = await bob.expect("offer", contact=second)
        (past,) = offer["history"]
        assert past["contact"] == first and past["summary"] == "my card was charged twice"
        await chat.ws.close()
        await again.ws.close()
    reopened = RedisStore(redis_url, prefix)  # what the daemon wrote outlives it
    await reopened.open()
    try:
        owners = await reopened.owners(["email:li@x.cn"])
        (rec,) = await reopened.contacts([owners["email:li@x.cn"].id], 5)
        assert rec.contact_id == first and rec.agents == ("bob",)
    finally:
        await reopened.close()


async def test_a_record_that_cannot_be_stored_is_logged_by_id_without_customer_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with session() as s:
        bob = await s.agent("bob")
        chat, cid = await s.customer("support", "my secret order 4711", verified={"email": "li@x.cn"})
        await s.server.store.close()  # the store fails from now on
        await s.serve(bob, cid)
        assert s.server.customer_desk.failed == 1
        await chat.ws.close()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(cid in m and "not stored" in m for m in errors)
    assert "4711" not in caplog.text and "li@x.cn" not in caplog.text
