"""Hot reload in the core: Engine.reconfigure keeps every contact, applies new
requirements to contacts already waiting, moves contacts of removed queues to
their fallback, and refuses (changing nothing) what it cannot do safely."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acd import commands as c
from acd.errors import ConfigError
from acd.events import ContactOffered, ContactTransferred, OfferEnded
from acd.settings import AgentSpec, EscalationStep, QueueSpec
from tests.core.world import Run, config

SALES = QueueSpec("sales", channels=("chat", "voice"), skills={"sales": 3}, offer_timeout_s=30)
SUPPORT = QueueSpec("support", channels=("chat",), skills={"support": 1})


def agent(
    aid: str, sales: int = 0, support: int = 0, queues: tuple[str, ...] = ("sales",), profile: str = "chat"
) -> AgentSpec:
    skills = {k: v for k, v in (("sales", sales), ("support", support)) if v}
    return AgentSpec(aid, aid, skills, profile, dict.fromkeys(queues, 1))


def test_relaxed_requirement_applies_to_contacts_already_waiting() -> None:
    run = Run(config([SALES], [agent("junior", sales=1)]))
    run(c.Login(0, "junior"))
    run(c.NewContact(1, "k1", "sales", "chat"))
    assert run.offers() == []  # needs sales >= 3
    run.events += run.engine.reconfigure(
        config([replace(SALES, skills={"sales": 1})], [agent("junior", sales=1)]), 2
    )
    assert run.offers() == [("k1", "junior")]
    [offer] = [e for e in run.events if isinstance(e, ContactOffered)]
    assert offer.decision.trigger == "reconfigured"


def test_new_escalation_steps_count_the_time_already_waited() -> None:
    run = Run(config([SALES], [agent("junior", sales=1)]))
    run(c.Login(0, "junior"))
    run(c.NewContact(0, "k1", "sales", "chat"))
    stepped = replace(
        SALES, escalation=(EscalationStep(10, accept_level=2), EscalationStep(20, accept_level=1))
    )
    run.events += run.engine.reconfigure(config([stepped], [agent("junior", sales=1)]), 15)
    assert run.offers() == []  # waited 15 s: step 1 (level 2) applies, junior has 1
    assert run.engine.contacts["k1"].step == 1
    run(c.Tick(20))  # the second step falls due 20 s after it entered, not 20 s after the reload
    assert run.offers() == [("k1", "junior")]


def test_contacts_of_a_removed_queue_move_to_its_overflow_or_the_fallback() -> None:
    cfg = config(
        [replace(SALES, overflow_to="support"), SUPPORT], [agent("s1", support=2, queues=("support",))]
    )
    run = Run(cfg)
    run(c.NewContact(0, "k1", "sales", "chat", priority=5))
    run(c.NewContact(0, "k2", "sales", "voice"))
    # support takes no voice and there is no fallback: refused, nothing changed
    with pytest.raises(ConfigError, match="'k2' waits there with no queue to go to"):
        run.engine.reconfigure(config([SUPPORT], [agent("s1", support=2, queues=("support",))]), 1)
    assert run.engine.contacts["k1"].queue == "sales" and "sales" in run.engine.queues
    voice_q = QueueSpec("phones", channels=("voice",))
    new = replace(
        config([SUPPORT, voice_q], [agent("s1", support=2, queues=("support",))]), fallback_queue="phones"
    )
    run.events += run.engine.reconfigure(new, 1)
    moved = {e.contact_id: e.to_queue for e in run.events if isinstance(e, ContactTransferred)}
    assert moved == {"k1": "support", "k2": "phones"}
    assert run.engine.queue_stats("support").waiting == 1 and run.engine.queue_stats("phones").waiting == 1
    run(c.Login(2, "s1"))
    assert run.offers() == [("k1", "s1")]


def test_removed_agents_lose_their_offers_but_a_conversation_blocks_the_removal() -> None:
    agents = [agent("a1", sales=3), agent("a2", sales=3)]
    run = Run(config([SALES], agents))
    run(c.Login(0, "a1"))
    run(c.NewContact(0, "k1", "sales", "chat"))
    run(c.NewContact(0, "k2", "sales", "chat"))
    run(c.Accept(1, "a1", "k1"))
    assert run.offers() == [("k1", "a1"), ("k2", "a1")]
    with pytest.raises(ConfigError, match=r"agents\.a1: removed, but 1 conversation"):
        run.engine.reconfigure(config([SALES], agents[1:]), 2)
    run(c.EndContact(3, "a1", "k1"))
    run(c.Login(3, "a2"))
    run.events += run.engine.reconfigure(config([SALES], agents[1:]), 4)
    assert "a1" not in run.engine.agents and "k1" not in run.engine.contacts  # wrap-up closed
    ended = [(e.contact_id, e.reason) for e in run.events if isinstance(e, OfferEnded)]
    assert ended == [("k2", "reconfigured")]
    assert run.offers()[-1] == ("k2", "a2")


def test_totals_survive_and_gauges_are_recounted() -> None:
    run = Run(config([SALES, SUPPORT], [agent("a1", sales=3)]))
    run(c.Login(0, "a1"))
    run(c.NewContact(0, "k1", "sales", "chat"))
    run(c.Accept(1, "a1", "k1"))
    run(c.NewContact(1, "k2", "support", "chat"))
    run.events += run.engine.reconfigure(
        config([SALES, replace(SUPPORT, skills={})], [agent("a1", sales=3)]), 2
    )
    s = run.engine.queue_stats("sales")
    assert (s.offered, s.answered, s.connected) == (1, 1, 1)
    assert run.engine.queue_stats("support").waiting == 1
    assert run.engine.queue_stats("sales").agents == {"busy": 1}


def test_a_profile_change_that_drops_a_channel_in_use_is_refused() -> None:
    run = Run(config([SALES], [agent("a1", sales=3, profile="blended")]))
    run(c.Login(0, "a1"))
    run(c.NewContact(0, "k1", "sales", "voice"))
    with pytest.raises(ConfigError, match="has no voice"):
        run.engine.reconfigure(config([SALES], [agent("a1", sales=3, profile="chat")]), 1)
    assert run.engine.agents["a1"].n_offered == 1
