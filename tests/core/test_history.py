"""HistoryBuilder against the real engine: what it says of each contact it
sees finished (answered, transferred, abandoned, overflowed)."""

from __future__ import annotations

from acd import commands as c
from acd.history import ContactRecord, Finished, HistoryBuilder, from_doc, to_doc
from acd.settings import AgentSpec, QueueSpec
from tests.core.world import Run, config


def test_each_contact_is_reported_once_with_its_times_agents_and_queues() -> None:
    cfg = config(
        [
            QueueSpec("sales", channels=("chat",), wrapup_s=5),
            QueueSpec("support", channels=("chat",), wrapup_s=5, max_wait_s=30),
        ],
        [AgentSpec("a1", queues={"sales": 1}), AgentSpec("a2", queues={"support": 1})],
    )
    run, hb = Run(cfg), HistoryBuilder()

    def feed(cmd: c.Command) -> list[Finished]:
        return hb.feed(run(cmd))

    assert feed(c.Login(0.0, "a1")) == []
    feed(c.NewContact(1.0, "k1", "sales", "chat", "cust"))
    feed(c.Accept(2.0, "a1", "k1"))
    feed(c.Transfer(3.0, "k1", by_agent="a1", to_queue="support"))  # a2 is logged out: k1 waits in support
    feed(c.Login(4.0, "a2"))
    feed(c.Accept(5.0, "a2", "k1"))
    assert feed(c.EndContact(9.0, "a2", "k1")) == []  # wrap-up may follow: not finished yet
    (k1,) = feed(c.Tick(20.0))  # wrap-up over
    assert (k1.outcome, k1.queued_at, k1.answered_at, k1.ended_at) == ("answered", 1.0, 2.0, 9.0)
    assert k1.agents == ("a1", "a2") and k1.queues == ("sales", "support") and k1.queue == "support"

    feed(c.NewContact(30.0, "k2", "support", "chat", "other"))
    feed(c.Logout(31.0, "a2"))
    (k2,) = feed(c.Tick(61.0))  # max wait, no overflow target: out of the ACD
    assert (k2.outcome, k2.agents) == ("overflowed", ())
    feed(c.NewContact(70.0, "k3", "sales", "chat", "cust"))
    (k3,) = feed(c.Abandon(71.0, "k3"))  # offered to a1, gone before an answer
    assert k3.outcome == "abandoned" and k3.ended_at == 71.0
    assert len(hb) == 0


def test_records_round_trip_through_documents() -> None:
    r = ContactRecord(
        "k",
        "c-1",
        "chat",
        "sales",
        "webchat",
        "u",
        1.0,
        2.0,
        "answered",
        1.5,
        ("a",),
        ("sales",),
        context={"type": "vip"},
        transcript=({"seq": 1, "text": "hi"},),
    )
    assert from_doc(ContactRecord, to_doc(r)) == r
