"""Dispatch rules, one test each: ordering, strategies, capacity, RONA,
reject, abandon, escalation, overflow, preferred agent, transfer, wrap-up."""

from __future__ import annotations

import pytest

from acd import commands as c
from acd import events as ev
from acd.errors import (
    ChannelNotAllowed,
    DuplicateContact,
    InvalidRequest,
    InvalidTransition,
    NotYourContact,
    QueueFull,
    UnknownAgent,
    UnknownQueue,
)
from acd.settings import AgentSpec, EscalationStep, QueueSpec
from tests.core.world import Run, config


def agent(aid: str, skills: dict[str, int], queues: dict[str, int], profile: str = "blended") -> AgentSpec:
    return AgentSpec(aid, aid.title(), skills, profile, queues)


def voice_agents(*ids: str) -> list[AgentSpec]:
    """Voice-only agents with sales 3 serving sales."""
    return [agent(i, {"sales": 3}, {"sales": 1}, "voice") for i in ids]


def sales(**kw: object) -> QueueSpec:
    base: dict[str, object] = {"channels": ("voice", "chat", "email", "wechat"), "skills": {"sales": 2}}
    base.update(kw)
    return QueueSpec("sales", **base)  # type: ignore[arg-type]


def test_contact_goes_to_available_agent_with_explained_decision() -> None:
    run = Run(config([sales()], [agent("a1", {"sales": 3}, {"sales": 1})]))
    run(c.Login(0, "a1"))
    out = run(c.NewContact(5, "k1", "sales"))
    offer = next(e for e in out if isinstance(e, ev.ContactOffered))
    assert (offer.contact_id, offer.agent_id, offer.expires_at) == ("k1", "a1", 25.0)
    assert offer.decision.strategy == "longest-idle"
    assert offer.decision.requirement == "sales>=2"
    assert offer.decision.score == "idle 5.0s"


def test_agent_without_the_skill_level_gets_nothing() -> None:
    run = Run(config([sales()], [agent("a1", {"sales": 1}, {"sales": 1})]))
    run(c.Login(0, "a1"))
    run(c.NewContact(1, "k1", "sales"))
    assert run.offers() == []
    why = run.engine.explain("k1")
    assert why.message.startswith("no agent serving 'sales' has skill 'sales' at level >= 2")
    assert "1 have it at a lower level" in why.message


def test_priority_then_fifo_when_agent_frees_up() -> None:
    run = Run(config([sales()], [agent("a1", {"sales": 3}, {"sales": 1})]))
    run(c.NewContact(1, "old", "sales"))
    run(c.NewContact(2, "vip", "sales", priority=5))
    run(c.NewContact(3, "new", "sales"))
    run(c.Login(4, "a1"))
    assert run.offers() == [("vip", "a1")]
    run(c.Accept(5, "a1", "vip"))
    run(c.EndContact(6, "a1", "vip"))
    assert run.offers()[-1] == ("old", "a1")
    offer = run.of(ev.ContactOffered)[-1]
    assert isinstance(offer, ev.ContactOffered)
    assert offer.decision.runner_up == "new"


def test_agent_takes_best_queue_by_rank_then_weight() -> None:
    q1 = sales()
    q2 = QueueSpec("support", channels=("voice",), skills={"support": 1}, weight=9)
    q3 = QueueSpec("billing", channels=("voice",), skills={"support": 1}, weight=1)
    a = agent("a1", {"sales": 3, "support": 3}, {"sales": 2, "support": 1, "billing": 1})
    run = Run(config([q1, q2, q3], [a]))
    run(c.NewContact(1, "s1", "sales"))
    run(c.NewContact(2, "b1", "billing"))
    run(c.NewContact(3, "p1", "support"))
    run(c.Login(4, "a1"))
    # rank 1 beats rank 2 despite waiting less; among rank 1, weight 9 beats 1
    assert run.offers() == [("p1", "a1")]


def test_longest_idle_picks_the_agent_idle_longest() -> None:
    agents = [agent(f"a{i}", {"sales": 3}, {"sales": 1}, "voice") for i in range(3)]
    run = Run(config([sales(wrapup_s=0)], agents))
    for i, t in ((1, 0), (0, 1), (2, 2)):
        run(c.Login(t, f"a{i}"))
    run(c.NewContact(10, "k1", "sales"))
    run(c.NewContact(11, "k2", "sales"))
    assert run.offers() == [("k1", "a1"), ("k2", "a0")]
    # a1 finishes first and becomes the most recently active
    run(c.Accept(12, "a1", "k1"))
    run(c.EndContact(13, "a1", "k1"))
    run(c.NewContact(14, "k3", "sales"))
    assert run.offers()[-1] == ("k3", "a2")


def test_least_occupied_spreads_chats() -> None:
    agents = [agent(f"a{i}", {"sales": 3}, {"sales": 1}, "chat") for i in range(2)]
    run = Run(config([sales(strategy="least-occupied")], agents))
    run(c.Login(0, "a0"))
    run(c.Login(1, "a1"))
    for k in range(4):
        run(c.NewContact(2 + k, f"k{k}", "sales", channel="chat"))
    assert [aid for _, aid in run.offers()] == ["a0", "a1", "a0", "a1"]


def test_best_skilled_prefers_proficiency_then_idle() -> None:
    agents = [
        agent("low", {"sales": 2}, {"sales": 1}, "voice"),
        agent("high", {"sales": 5}, {"sales": 1}, "voice"),
        agent("high2", {"sales": 5}, {"sales": 1}, "voice"),
    ]
    run = Run(config([sales(strategy="best-skilled")], agents))
    run(c.Login(0, "low"))
    run(c.Login(1, "high2"))
    run(c.Login(2, "high"))
    run(c.NewContact(3, "k1", "sales"))
    run(c.NewContact(4, "k2", "sales"))
    run(c.NewContact(5, "k3", "sales"))
    assert run.offers() == [("k1", "high2"), ("k2", "high"), ("k3", "low")]


def test_round_robin_rotates() -> None:
    agents = [agent(f"a{i}", {"sales": 3}, {"sales": 1}, "chat") for i in range(3)]
    run = Run(config([sales(strategy="round-robin")], agents))
    for i in range(3):
        run(c.Login(0, f"a{i}"))
    for k in range(6):
        run(c.NewContact(1 + k, f"k{k}", "sales", channel="chat"))
    assert [aid for _, aid in run.offers()] == ["a0", "a1", "a2", "a0", "a1", "a2"]


def test_voice_is_exclusive_and_chat_capacity_is_three() -> None:
    run = Run(config([sales()], [agent("a1", {"sales": 3}, {"sales": 1}, "chat")]))
    run(c.Login(0, "a1"))
    for k in range(4):
        run(c.NewContact(1 + k, f"k{k}", "sales", channel="chat"))
    assert len(run.offers()) == 3
    with pytest.raises(Exception, match="voice"):
        run(c.NewContact(9, "v1", "sales", channel="fax"))


def test_blended_call_while_chatting_but_no_chat_during_call() -> None:
    run = Run(config([sales(wrapup_s=60)], [agent("a1", {"sales": 3}, {"sales": 1}, "blended")]))
    run(c.Login(0, "a1"))
    run(c.NewContact(1, "chat1", "sales", channel="chat"))
    run(c.NewContact(2, "call1", "sales", channel="voice"))
    assert run.offers() == [("chat1", "a1"), ("call1", "a1")]
    run(c.NewContact(3, "chat2", "sales", channel="chat"))
    assert len(run.offers()) == 2  # voice active: chats blocked
    run(c.Accept(4, "a1", "call1"))
    run(c.EndContact(5, "a1", "call1"))
    run(c.EndWrapUp(6, "a1", "call1"))
    assert run.offers()[-1] == ("chat2", "a1")


def test_wechat_is_chat_like() -> None:
    run = Run(config([sales()], [agent("a1", {"sales": 3}, {"sales": 1}, "chat")]))
    run(c.Login(0, "a1"))
    run(c.NewContact(1, "w1", "sales", channel="wechat"))
    assert run.offers() == [("w1", "a1")]


def test_rona_requeues_at_head_and_marks_agent_not_responding() -> None:
    agents = voice_agents("a1", "a2")
    run = Run(config([sales(offer_timeout_s=10)], agents))
    run(c.Login(0, "a1"))
    run(c.NewContact(1, "k1", "sales"))
    run(c.NewContact(2, "k2", "sales"))
    run(c.Tick(11))
    assert run.engine.agents["a1"].status == "not-responding"
    ended = run.of(ev.OfferEnded)
    assert [(e.contact_id, e.reason) for e in ended if isinstance(e, ev.OfferEnded)] == [("k1", "timeout")]
    run(c.Login(12, "a2"))
    assert run.offers()[-1] == ("k1", "a2")  # k1 kept its place ahead of k2
    assert run.engine.agent_stats("a1").not_answered == 1


def test_pbx_ringing_owns_the_ring_timer_and_no_answer_is_rona() -> None:
    agents = voice_agents("a1", "a2")
    run = Run(config([sales(offer_timeout_s=10)], agents))
    run(c.Login(0, "a1"))
    run(c.NewContact(1, "k1", "sales"))
    run(c.Ringing(1.1, "a1", "k1", None))
    run(c.Tick(60))  # the engine's own 10 s expiry no longer applies
    assert run.engine.contacts["k1"].state == "offered"
    run(c.NoAnswer(61, "a1", "k1", "busy"))
    assert run.engine.agents["a1"].status == "not-responding"
    assert run.engine.agents["a1"].reason == "busy"
    ended = [e for e in run.of(ev.OfferEnded) if isinstance(e, ev.OfferEnded)]
    assert [(e.contact_id, e.reason) for e in ended] == [("k1", "busy")]
    run(c.Login(62, "a2"))
    run(c.Ringing(62, "a2", "k1", 5))  # a safety net: the engine expires it 5 s on
    run(c.Tick(67.5))
    assert run.engine.contacts["k1"].state == "queued"
    with pytest.raises(InvalidRequest):
        run(c.NoAnswer(68, "a2", "k1", "on-fire"))
    with pytest.raises(NotYourContact):
        run(c.Ringing(68, "a2", "k1"))


def test_unusable_phone_closes_voice_only_and_reopens_with_waiting_calls() -> None:
    run = Run(config([sales()], [agent("a1", {"sales": 3}, {"sales": 1}, "blended")]))
    run(c.Login(0, "a1"))
    run(c.DeviceState(1, "a1", usable=False, reason="phone-unregistered"))
    run(c.NewContact(2, "call", "sales", channel="voice"))
    run(c.NewContact(3, "chat", "sales", channel="chat"))
    assert run.offers() == [("chat", "a1")]  # chats go on without a phone
    assert run.engine.agent_stats("a1").phone == "phone-unregistered"
    run(c.DeviceState(4, "a1", usable=True))
    assert run.offers() == [("chat", "a1"), ("call", "a1")]  # the waiting call rings at once
    assert run.engine.agent_stats("a1").phone is None


def test_reject_moves_on_and_never_reoffers_to_same_agent() -> None:
    agents = voice_agents("a1", "a2")
    run = Run(config([sales()], agents))
    run(c.Login(0, "a1"))
    run(c.NewContact(1, "k1", "sales"))
    run(c.Reject(2, "a1", "k1"))
    assert run.offers() == [("k1", "a1")]
    assert "declined" in run.engine.explain("k1").message
    run(c.Login(3, "a2"))
    assert run.offers() == [("k1", "a1"), ("k1", "a2")]


def test_abandon_while_queued_ringing_and_connected() -> None:
    run = Run(config([sales(wrapup_s=5)], [agent("a1", {"sales": 3}, {"sales": 1}, "voice")]))
    run(c.NewContact(1, "q", "sales"))
    run(c.Abandon(3, "q"))
    run(c.Login(4, "a1"))
    run(c.NewContact(5, "r", "sales"))
    run(c.Abandon(6, "r"))
    assert any(isinstance(e, ev.OfferEnded) and e.reason == "abandoned" for e in run.events)
    assert run.engine.agents["a1"].presence == "available"
    run(c.NewContact(7, "t", "sales"))
    run(c.Accept(8, "a1", "t"))
    run(c.Abandon(20, "t"))
    ended = run.of(ev.ContactEnded)[-1]
    assert isinstance(ended, ev.ContactEnded) and ended.by == "customer" and ended.handle_s == 12
    assert run.engine.agents["a1"].presence == "wrap-up"
    stats = run.engine.queue_stats("sales")
    assert (stats.abandoned, stats.answered) == (2, 1)
    assert run.engine.contacts.keys() == {"t"}  # wrapping up; the others are gone


def test_escalation_relaxes_level_then_any_member() -> None:
    q = sales(escalation=(EscalationStep(30, accept_level=1), EscalationStep(60, any_member=True)))
    agents = [agent("novice", {"sales": 1}, {"sales": 1}), agent("other", {"support": 1}, {"sales": 1})]
    run = Run(config([q], agents))
    run(c.Login(0, "novice"))
    run(c.Login(0, "other"))
    run(c.NewContact(1, "k1", "sales"))
    run(c.NewContact(2, "k2", "sales"))
    run(c.Tick(30))
    assert run.offers() == []
    run(c.Tick(31))
    assert run.offers() == [("k1", "novice")]
    offer = run.of(ev.ContactOffered)[0]
    assert isinstance(offer, ev.ContactOffered) and offer.decision.step == 1
    run(c.Accept(32, "novice", "k1"))
    run(c.Tick(62))
    assert run.offers()[-1] == ("k2", "other")


def test_blocked_head_does_not_stall_the_queue() -> None:
    run = Run(config([sales()], [agent("a1", {"sales": 3}, {"sales": 1}, "voice")]))
    run(c.NewContact(1, "needs-rare", "sales", skills=(("rare", 1),)))
    run(c.NewContact(2, "normal", "sales"))
    run(c.Login(3, "a1"))
    assert run.offers() == [("normal", "a1")]
    assert "rare" in run.engine.explain("needs-rare").message


def test_borrow_from_another_queue_after_wait() -> None:
    support = QueueSpec(
        "support",
        channels=("voice",),
        skills={"support": 1},
        escalation=(EscalationStep(20, drop_skills=("support",), borrow_from=("sales",)),),
    )
    run = Run(config([sales(), support], [agent("s1", {"sales": 3}, {"sales": 1}, "voice")]))
    run(c.Login(0, "s1"))
    run(c.NewContact(1, "p1", "support"))
    assert run.offers() == []
    run(c.Tick(21))
    assert run.offers() == [("p1", "s1")]


def test_queue_full_overflows_to_target_and_max_wait_leaves() -> None:
    overflow = QueueSpec("overflow", channels=("voice",), max_wait_s=10)
    q = sales(max_size=1, overflow_to="overflow")
    run = Run(config([q, overflow], []))
    run(c.NewContact(1, "k1", "sales"))
    run(c.NewContact(2, "k2", "sales"))
    ov = run.of(ev.ContactOverflowed)
    assert [(e.contact_id, e.to_queue, e.reason) for e in ov if isinstance(e, ev.ContactOverflowed)] == [
        ("k2", "overflow", "queue-full")
    ]
    run(c.Tick(12))
    ov = run.of(ev.ContactOverflowed)
    assert [(e.contact_id, e.to_queue, e.reason) for e in ov if isinstance(e, ev.ContactOverflowed)][-1] == (
        "k2",
        None,
        "max-wait",
    )
    assert set(run.engine.contacts) == {"k1"}


def test_preferred_agent_waited_for_then_fallback() -> None:
    agents = voice_agents("pref", "any")
    run = Run(config([sales()], agents))
    run(c.Login(0, "pref"))
    run(c.Login(0, "any"))
    run(c.NewContact(1, "busy-him", "sales"))  # goes to longest idle: pref
    assert run.offers() == [("busy-him", "pref")]
    run(c.NewContact(2, "k1", "sales", preferred_agent="pref", preferred_wait_s=15))
    assert run.offers() == [("busy-him", "pref")]  # 'any' is free but k1 waits for pref
    assert run.engine.explain("k1").held_for == "pref"
    run(c.Tick(18))
    assert run.offers()[-1] == ("k1", "any")


def test_preferred_agent_gets_it_when_free() -> None:
    agents = voice_agents("pref", "any")
    run = Run(config([sales(wrapup_s=0)], agents))
    run(c.Login(0, "any"))
    run(c.Login(1, "pref"))
    run(c.NewContact(2, "k1", "sales", preferred_agent="pref", preferred_wait_s=30))
    offer = run.of(ev.ContactOffered)[-1]
    assert isinstance(offer, ev.ContactOffered)
    assert (offer.agent_id, offer.decision.strategy) == ("pref", "preferred-agent")


def test_preferred_wait_zero_prefers_no_one() -> None:
    """preferred_wait_s = 0 turns the preference off: the contact goes to
    whom the strategy picks (longest idle: 'any'), and nobody holds it."""
    agents = voice_agents("pref", "any")
    run = Run(config([sales(wrapup_s=0)], agents))
    run(c.Login(0, "any"))
    run(c.Login(1, "pref"))
    run(c.NewContact(2, "k1", "sales", preferred_agent="pref", preferred_wait_s=0))
    assert run.offers() == [("k1", "any")]
    assert run.engine.explain("k1").held_for is None


def test_transfer_by_agent_to_queue_and_to_agent() -> None:
    support = QueueSpec("support", channels=("voice", "chat"), skills={"support": 1})
    agents = [
        agent("s", {"sales": 3}, {"sales": 1}, "voice"),
        agent("p", {"support": 3}, {"support": 1}, "voice"),
        agent("p2", {"support": 3}, {"support": 1}, "voice"),
    ]
    run = Run(config([sales(wrapup_s=5), support], agents))
    for a in ("s", "p", "p2"):
        run(c.Login(0, a))
    run(c.NewContact(1, "k", "sales"))
    run(c.Accept(2, "s", "k"))
    run(c.Transfer(3, "k", by_agent="s", to_queue="support", to_agent="p2", wait_s=10))
    assert run.offers()[-1] == ("k", "p2")
    assert run.engine.agents["s"].presence == "wrap-up"
    run(c.Tick(9))
    assert run.engine.agents["s"].presence == "available"
    assert "k" in run.engine.contacts  # the wrap-up did not close the transferred contact


def test_supervisor_move_and_errors() -> None:
    support = QueueSpec("support", channels=("voice",), skills={"support": 1}, max_size=1)
    run = Run(config([sales(), support], [agent("s", {"sales": 3}, {"sales": 1}, "voice")]))
    run(c.NewContact(1, "k", "sales"))
    run(c.Transfer(2, "k", to_queue="support"))
    assert run.engine.contacts["k"].queue == "support"
    run(c.NewContact(3, "k2", "sales"))
    with pytest.raises(QueueFull):
        run(c.Transfer(4, "k2", to_queue="support"))
    with pytest.raises(UnknownQueue):
        run(c.Transfer(4, "k2", to_queue="nope"))
    with pytest.raises(ChannelNotAllowed):
        run(c.NewContact(5, "e", "support", channel="email"))
    with pytest.raises(DuplicateContact):
        run(c.NewContact(5, "k2", "sales"))
    with pytest.raises(UnknownAgent) as err:
        run(c.Login(5, "ghost"))
    assert err.value.code == "unknown-agent"
    assert run.engine.contacts["k2"].queue == "sales"  # refused commands changed nothing


def test_agent_acts_only_on_its_own_contacts() -> None:
    agents = voice_agents("a1", "a2")
    run = Run(config([sales()], agents))
    run(c.Login(0, "a1"))
    run(c.Login(0, "a2"))
    run(c.NewContact(1, "k", "sales"))
    owner = run.offers()[0][1]
    other = "a2" if owner == "a1" else "a1"
    with pytest.raises(NotYourContact):
        run(c.Accept(2, other, "k"))
    with pytest.raises(InvalidTransition) as err:
        run(c.EndContact(2, owner, "k"))
    assert (err.value.state, err.value.event) == ("offered", "end")


def test_away_withdraws_offers_logout_keeps_the_call() -> None:
    run = Run(config([sales()], [agent("a1", {"sales": 3}, {"sales": 1}, "blended")]))
    run(c.Login(0, "a1"))
    run(c.NewContact(1, "call", "sales"))
    run(c.Accept(2, "a1", "call"))
    run(c.NewContact(3, "c2", "sales", channel="chat"))  # blocked by the call
    run(c.Logout(4, "a1"))
    assert run.engine.contacts["call"].state == "connected"
    run(c.EndContact(9, "a1", "call"))
    assert run.engine.agents["a1"].presence == "logged-out"
    run(c.Login(20, "a1"))
    run(c.SetAway(21, "a1", "lunch"))
    ended = run.of(ev.OfferEnded)[-1]
    assert isinstance(ended, ev.OfferEnded) and ended.reason == "agent-away"
    assert run.engine.agents["a1"].presence == "away"
    assert run.engine.contacts["c2"].state == "queued"


def test_wrap_up_is_timed_and_may_end_early() -> None:
    run = Run(config([sales(wrapup_s=30)], [agent("a1", {"sales": 3}, {"sales": 1}, "voice")]))
    run(c.Login(0, "a1"))
    run(c.NewContact(1, "k1", "sales"))
    run(c.NewContact(1, "k2", "sales"))
    run(c.Accept(2, "a1", "k1"))
    run(c.EndContact(10, "a1", "k1"))
    run(c.Tick(20))
    assert run.offers() == [("k1", "a1")]
    run(c.EndWrapUp(21, "a1", "k1"))
    assert run.offers()[-1] == ("k2", "a1")


def test_statistics() -> None:
    q = sales(service_level_s=10, wrapup_s=4)
    run = Run(config([q], [agent("a1", {"sales": 3}, {"sales": 1}, "voice")]))
    run(c.Login(0, "a1"))
    run(c.NewContact(0, "fast", "sales"))
    run(c.NewContact(0, "slow", "sales"))
    run(c.NewContact(0, "gone", "sales"))
    run(c.Accept(2, "a1", "fast"))
    run(c.Abandon(3, "gone"))
    run(c.EndContact(12, "a1", "fast"))
    run(c.Tick(16))
    run(c.Accept(20, "a1", "slow"))
    s = run.engine.queue_stats("sales")
    assert (s.offered, s.answered, s.abandoned, s.waiting, s.connected) == (2, 2, 1, 0, 1)
    assert s.service_level_pct == pytest.approx(100 / 3)
    assert s.asa_s == pytest.approx(11.0)
    assert s.aht_s == pytest.approx(14.0)  # 10 s talk + 4 s wrap-up
    a = run.engine.agent_stats("a1")
    assert (a.offered, a.answered, a.handled) == (2, 2, 1)
    assert a.occupancy_pct == pytest.approx(100 * 20 / 20)
    assert s.agents == {"busy": 1}


def sales_and_support_chat(strategy: str) -> Run:
    """a1 serves sales and support, a2 only sales; both chat agents, a1 logged
    in first (idle longer). The sales routing class exists before they log in,
    so their entries there predate any work they take through support."""
    support = QueueSpec("support", channels=("chat",), skills={"support": 1})
    agents = [
        agent("a1", {"sales": 3, "support": 3}, {"sales": 1, "support": 1}, "chat"),
        agent("a2", {"sales": 3}, {"sales": 1}, "chat"),
    ]
    run = Run(config([sales(strategy=strategy), support], agents))
    run(c.NewContact(0, "x", "sales", channel="chat"))
    run(c.Abandon(0, "x"))
    run(c.Login(0, "a1"))
    run(c.Login(1, "a2"))
    return run


def test_longest_idle_sees_work_taken_through_another_queue() -> None:
    """An agent that took a chat in one queue and stays available is no longer
    the longest idle in its other queues (its key there is corrected lazily)."""
    run = sales_and_support_chat("longest-idle")
    run(c.NewContact(2, "p1", "support", channel="chat"))
    run(c.NewContact(3, "s1", "sales", channel="chat"))
    assert run.offers() == [("p1", "a1"), ("s1", "a2")]
    run(c.NewContact(4, "s2", "sales", channel="chat"))
    run(c.NewContact(5, "s3", "sales", channel="chat"))
    assert run.offers()[2:] == [("s2", "a1"), ("s3", "a2")]


def test_least_occupied_sees_chats_taken_through_another_queue() -> None:
    run = sales_and_support_chat("least-occupied")
    run(c.NewContact(2, "p1", "support", channel="chat"))
    run(c.NewContact(3, "p2", "support", channel="chat"))
    run(c.NewContact(4, "s1", "sales", channel="chat"))
    assert run.offers() == [("p1", "a1"), ("p2", "a1"), ("s1", "a2")]


def test_fifo_is_order_of_entry_into_the_queue() -> None:
    """Equal priorities are served in the order they entered the queue: a
    contact transferred in at the same instant as a new arrival queues
    behind it, although it reached the ACD first."""
    run = Run(config([sales(), QueueSpec("support", channels=("voice",))], voice_agents("a1")))
    run(c.NewContact(1, "moved", "support"))
    run(c.NewContact(2, "first", "sales"))
    run(c.Transfer(2, "moved", to_queue="sales"))
    assert run.engine.positions() == {"first": 1, "moved": 2}
    run(c.Login(3, "a1"))
    assert run.offers() == [("first", "a1")]


def test_priority_is_bounded() -> None:
    run = Run(config([sales()], voice_agents("a1")))
    with pytest.raises(InvalidRequest, match=r"priority 1000001 is not in -1000000..1000000"):
        run(c.NewContact(1, "k1", "sales", priority=1_000_001))
    run(c.NewContact(1, "k1", "sales", priority=-1_000_000))
    assert run.engine.positions() == {"k1": 1}


def test_lines_are_renumbered_before_they_outgrow_their_bits() -> None:
    """Before the line count reaches ``line_limit`` the engine renumbers
    the contacts' lines in place: order, positions, the longest wait and a
    preferred-agent hold carry on unchanged."""
    run = Run(config([sales(wrapup_s=0)], voice_agents("a1", "pref")))
    run.engine.line_limit = 10  # LINE_LIMIT is about 10**12
    run(c.Login(0, "pref"))
    run(c.NewContact(1, "busy-pref", "sales"))
    run(c.Accept(1, "pref", "busy-pref"))  # pref is on a call: the hold below waits
    run(c.NewContact(2, "held", "sales", preferred_agent="pref", preferred_wait_s=100))
    prios = {"k1": 0, "k2": 3, "k3": 0, "k4": 3}
    for i, (cid, p) in enumerate(prios.items()):
        run(c.NewContact(3 + i, cid, "sales", priority=p))
        for j in range(2):  # contacts that come and go push the count on
            run(c.NewContact(3 + i, f"gone{i}{j}", "sales", priority=5))
            run(c.Abandon(3 + i, f"gone{i}{j}"))
    assert max(k.line for k in run.engine.contacts.values()) < 10  # 14 entries so far
    expected = ["k2", "k4", "k1", "k3"]
    pos = run.engine.positions()
    assert pos.pop("held") == 1
    assert sorted(pos, key=pos.__getitem__) == expected
    assert [run.engine.explain(k).position for k in expected] == [1, 2, 3, 4]
    assert run.engine.queue_stats("sales").longest_wait_s == 6 - 2  # held, waiting since 2
    assert run.engine.explain("held").held_for == "pref"
    run(c.Login(20, "a1"))
    for t, k in enumerate(expected):
        assert run.offers()[-1] == (k, "a1")
        run(c.Accept(21 + 2 * t, "a1", k))
        run(c.EndContact(22 + 2 * t, "a1", k))
    assert run.engine.explain("held").held_for == "pref"
    run(c.Tick(102))  # the hold ends: its timer survived the renumbering
    assert run.offers()[-1] == ("held", "a1")
