"""Opening hours (open / closed queues), offline hand-off to work items, and
the transfer loop limit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acd import commands as c
from acd import events as ev
from acd.errors import ConfigError, QueueClosed, TransferLoop, UnknownQueue
from acd.settings import AgentSpec, QueueSpec
from tests.core.world import Run, config

NIGHT, MORNING = 22 * 3600.0, 33 * 3600.0  # 22:00, and 09:00 the next day


def sales(**kw: object) -> QueueSpec:
    base: dict[str, object] = {"channels": ("voice", "chat"), "skills": {"sales": 2}}
    base.update(kw)
    return QueueSpec("sales", **base)  # type: ignore[arg-type]


FOLLOWUPS = QueueSpec("followups", channels=("task",), skills={"sales": 1})
ALICE = AgentSpec("alice", "Alice", {"sales": 3}, "blended", {"sales": 1})
DAY = AgentSpec("alice", "Alice", {"sales": 3}, "blended", {"sales": 1, "followups": 2})
BOB = AgentSpec("bob", "Bob", {"sales": 3}, "blended", {"sales": 1})


def test_closed_queue_offers_nothing_and_opening_routes_best_first() -> None:
    run = Run(config([sales()], [ALICE]))
    run(c.Login(0, "alice"))
    out = run(c.SetQueueOpen(1, "sales", False))
    assert out == [ev.QueueOpenChanged(1, "sales", False)]
    assert run.engine.queue_stats("sales").open is False
    run(c.NewContact(2, "early", "sales"))
    run(c.NewContact(3, "vip", "sales", priority=5))
    assert run.offers() == []  # waits: when_closed = "wait" by default
    assert run.engine.queue_stats("sales").waiting == 2
    assert run(c.SetQueueOpen(4, "sales", False)) == []  # already closed: nothing
    run(c.SetQueueOpen(5, "sales", True))
    assert run.offers() == [("vip", "alice")]
    offer = run.of(ev.ContactOffered)[0]
    assert isinstance(offer, ev.ContactOffered) and offer.decision.trigger == "queue-opened"
    run(c.Accept(6, "alice", "vip"))
    run(c.EndContact(7, "alice", "vip"))
    assert run.offers()[-1] == ("early", "alice")


def test_agent_freeing_up_skips_a_closed_queue_for_an_open_one() -> None:
    support = QueueSpec("support", channels=("voice",), skills={"sales": 1})
    a = AgentSpec("alice", "Alice", {"sales": 3}, "voice", {"sales": 1, "support": 2})
    run = Run(config([sales(), support], [a]))
    run(c.SetQueueOpen(0, "sales", False))
    run(c.NewContact(1, "s1", "sales"))
    run(c.NewContact(2, "p1", "support"))
    run(c.Login(3, "alice"))
    assert run.offers() == [("p1", "alice")]  # sales ranks first, but is closed


def test_closed_queue_hands_off_a_call_as_a_task_routed_when_followups_open() -> None:
    q = sales(when_closed="handoff", handoff_to="followups")
    run = Run(config([q, FOLLOWUPS], [DAY]))
    run(c.SetQueueOpen(0, "sales", False))
    run(c.SetQueueOpen(0, "followups", False))
    run(c.Login(NIGHT - 60, "alice"))  # someone is on late, but followups are day work
    out = run(c.NewContact(NIGHT, "call-1", "sales", "voice", "+8613800000000", attributes={"ivr": "2"}))
    assert ev.ContactHandedOff(NIGHT, "call-1", "sales", "followups", "voice", "task", "closed") in out
    queued = [e for e in out if isinstance(e, ev.ContactQueued)]
    assert [(e.queue, e.channel, e.reason) for e in queued] == [("followups", "task", "handoff")]
    assert run.offers() == []
    run(c.Tick(NIGHT + 3600))
    assert run.offers() == []
    run(c.SetQueueOpen(MORNING, "followups", True))
    assert run.offers() == [("call-1", "alice")]
    k = run.engine.contacts["call-1"]
    assert (k.channel, k.attributes, k.customer) == ("task", {"ivr": "2"}, "+8613800000000")
    assert run.engine.agent_stats("alice").load == {"task": 1}


def test_when_closed_leave_lets_the_contact_go() -> None:
    run = Run(config([sales(when_closed="leave")], [ALICE]))
    run(c.SetQueueOpen(0, "sales", False))
    out = run(c.NewContact(1, "k1", "sales"))
    assert [e for e in out if isinstance(e, ev.ContactOverflowed)] == [
        ev.ContactOverflowed(1, "k1", "sales", None, "closed")
    ]
    assert "k1" not in run.engine.contacts
    assert run.engine.queue_stats("sales").overflowed == 1


def test_a_work_item_reaching_a_closed_handoff_queue_waits_there() -> None:
    q = sales(channels=("voice", "task"), when_closed="handoff", handoff_to="followups")
    run = Run(config([q, FOLLOWUPS], [DAY]))
    run(c.SetQueueOpen(0, "sales", False))
    run(c.NewContact(1, "t1", "sales", "task"))
    assert run.of(ev.ContactHandedOff) == []
    assert run.engine.contacts["t1"].queue == "sales"


def test_full_queue_and_max_wait_hand_off_when_there_is_no_overflow_queue() -> None:
    q = sales(max_size=1, max_wait_s=60, handoff_to="followups")
    run = Run(config([q, FOLLOWUPS], [BOB]))
    run(c.NewContact(0, "k1", "sales"))
    out = run(c.NewContact(1, "k2", "sales"))
    assert [(e.contact_id, e.reason) for e in out if isinstance(e, ev.ContactHandedOff)] == [
        ("k2", "queue-full")
    ]
    out = run(c.Tick(60))
    assert [(e.contact_id, e.reason) for e in out if isinstance(e, ev.ContactHandedOff)] == [
        ("k1", "max-wait")
    ]
    assert run.engine.queue_stats("sales").waiting == 0
    assert run.engine.queue_stats("followups").waiting == 2
    run(c.Tick(600))  # followups has no max wait: the work items stay
    assert {k.channel for k in run.engine.contacts.values()} == {"task"}


def test_preferred_agent_hold_waits_for_the_opening() -> None:
    run = Run(config([sales(preferred_wait_s=30)], [ALICE, BOB]))
    run(c.Login(0, "alice"))
    run(c.SetQueueOpen(0, "sales", False))
    run(c.NewContact(1, "k1", "sales", preferred_agent="alice"))
    assert run.offers() == []
    run(c.SetQueueOpen(10, "sales", True))
    assert run.offers() == [("k1", "alice")]
    offer = run.of(ev.ContactOffered)[0]
    assert isinstance(offer, ev.ContactOffered) and offer.decision.strategy == "preferred-agent"


def test_transfer_to_a_closed_queue_is_refused() -> None:
    support = QueueSpec("support", channels=("voice",), skills={"sales": 1})
    run = Run(config([sales(), support], [BOB]))
    run(c.Login(0, "bob"))
    run(c.NewContact(1, "k1", "sales"))
    run(c.Accept(2, "bob", "k1"))
    run(c.SetQueueOpen(3, "support", False))
    with pytest.raises(QueueClosed, match="'support' is closed"):
        run(c.Transfer(4, "k1", "bob", "support"))
    assert run.engine.contacts["k1"].state == "connected"
    with pytest.raises(UnknownQueue):
        run(c.SetQueueOpen(5, "nowhere", True))


def tiers(limit: int) -> Run:
    """First line and experts, three agents each: an agent who passed a
    contact on is never offered it again, so bounces need several."""
    first = QueueSpec("first", channels=("chat",), skills={"support": 1})
    experts = QueueSpec("experts", channels=("chat",), skills={"support": 4})
    agents = [AgentSpec(f"f{i}", "", {"support": 2}, "chat", {"first": 1}) for i in range(3)]
    agents += [AgentSpec(f"e{i}", "", {"support": 5}, "chat", {"experts": 1}) for i in range(3)]
    run = Run(replace(config([first, experts], agents), max_transfer_returns=limit))
    for a in agents:
        run(c.Login(0, a.id))
    run(c.NewContact(1, "k1", "first", "chat"))
    return run


def holder(run: Run) -> str:
    """Accept k1's offer; return who took it."""
    offer = run.of(ev.ContactOffered)[-1]
    assert isinstance(offer, ev.ContactOffered) and offer.contact_id == "k1"
    run(c.Accept(run.engine.now, offer.agent_id, "k1"))
    return offer.agent_id


def test_a_contact_may_come_back_once_then_the_transfer_loop_is_refused() -> None:
    run = tiers(1)
    run(c.Transfer(2, "k1", holder(run), "experts"))
    run(c.Transfer(3, "k1", holder(run), "first"))  # back to first line once: fine
    run(c.Transfer(4, "k1", holder(run), "experts"))  # and back to the experts once
    expert = holder(run)
    with pytest.raises(TransferLoop) as err:
        run(c.Transfer(5, "k1", expert, "first"))
    assert err.value.code == "transfer-loop"
    assert "queue first 2 times" in err.value.message and "max_transfer_returns = 1" in err.value.message
    assert run.engine.contacts["k1"].state == "connected"  # nothing changed
    assert run.engine.agent_stats(expert).contacts == {"k1": "connected"}
    run(c.Transfer(6, "k1", expert, to_agent="e2" if expert != "e2" else "e1"))  # within the tier: fine


def test_no_returns_allowed_refuses_the_first_bounce_to_a_queue_or_agent() -> None:
    run = tiers(0)
    first = holder(run)
    run(c.Transfer(2, "k1", first, "experts"))
    expert = holder(run)
    with pytest.raises(TransferLoop, match="queue first"):
        run(c.Transfer(3, "k1", expert, "first"))
    with pytest.raises(TransferLoop, match=f"agent {first}"):
        run(c.Transfer(3, "k1", expert, "experts", to_agent=first))


def test_handoff_settings_are_validated() -> None:
    bad = [
        sales(when_closed="sleep"),
        QueueSpec("a", when_closed="handoff"),
        QueueSpec("b", handoff_to="nowhere"),
        QueueSpec("c", handoff_to="c"),
        QueueSpec("d", handoff_to="a"),
    ]
    with pytest.raises(ConfigError) as err:
        config(bad, [])
    text = "\n".join(err.value.problems)
    for expected in (
        "queues.sales.when_closed: 'sleep' is not one of wait, handoff, leave",
        "queues.a.when_closed: handoff needs handoff_to",
        "queues.b.handoff_to: unknown queue 'nowhere'",
        "queues.c.handoff_to: a queue cannot hand off to itself",
        "queues.d.handoff_to: queue 'a' must take the 'task' channel",
    ):
        assert expected in text
    with pytest.raises(ConfigError, match="max_transfer_returns"):
        replace(config([sales()], []), max_transfer_returns=-1).validate()
