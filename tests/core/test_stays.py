"""The record behind the reports, from the real engine: each stay of a
contact in a queue with its outcome and times, each agent's presence
intervals; and whatever the sequence of commands, every contact that
entered a queue has exactly one row per stay once it is over."""

from __future__ import annotations

import itertools

from acd import commands as c
from acd.settings import AgentSpec, QueueSpec
from acd.stays import AgentInterval, Stay, StayRecorder, Thresholds
from tests.core.world import Run, config

OFFSET = 1_800_000_000.0  # engine time 0 is this Unix time


def centre() -> Run:
    return Run(
        config(
            [
                QueueSpec("sales", channels=("chat",), wrapup_s=5, offer_timeout_s=10, service_level_s=20),
                QueueSpec("support", channels=("chat",), wrapup_s=5, service_level_s=10),
            ],
            [
                AgentSpec("a1", profile="chat", queues={"sales": 1}),
                AgentSpec("a2", profile="chat", queues={"support": 1}),
            ],
        )
    )


def record(run: Run, rec: StayRecorder, cmds: list[c.Command]) -> tuple[list[Stay], list[AgentInterval]]:
    stays: list[Stay] = []
    intervals: list[AgentInterval] = []
    for cmd in cmds:
        s, i = rec.feed(run(cmd), OFFSET)
        stays += s
        intervals += i
    return stays, intervals


def test_a_scripted_hour_gives_each_stay_its_outcome_and_times() -> None:
    run = centre()
    rec = StayRecorder(Thresholds(lambda q: {"sales": 20.0, "support": 10.0}[q], short_abandon_s=5.0))
    stays, intervals = record(
        run,
        rec,
        [
            c.Login(0.0, "a1"),
            c.NewContact(10.0, "k1", "sales", "chat", "u1"),  # answered at once, the agent ends it
            c.Accept(12.0, "a1", "k1"),
            c.EndContact(40.0, "a1", "k1"),
            c.Tick(45.0),  # wrap-up over
            c.NewContact(50.0, "k2", "sales", "chat", "u2"),  # the offer rings out: RONA
            c.Tick(60.0),
            c.Abandon(100.0, "k2"),
            c.NewContact(200.0, "k3", "support", "chat", "u3"),  # nobody in support: a short abandon
            c.Abandon(202.0, "k3"),
            c.SetAvailable(250.0, "a1"),
            c.NewContact(300.0, "k4", "sales", "chat", "u4"),  # answered, then transferred to support
            c.Accept(301.0, "a1", "k4"),
            c.Transfer(320.0, "k4", by_agent="a1", to_queue="support"),
            c.Login(330.0, "a2"),
            c.Accept(331.0, "a2", "k4"),
            c.Abandon(360.0, "k4"),  # the customer leaves the chat
            c.Tick(365.0),
            c.SetAway(400.0, "a1", "lunch"),
            c.Logout(460.0, "a1"),
        ],
    )
    by = {(s.contact_id, s.queue): s for s in stays}
    assert len(by) == len(stays) == 5
    k1 = by["k1", "sales"]
    assert (k1.outcome, k1.answered, k1.in_sl, k1.wait_s, k1.talk_s, k1.wrap_s) == (
        "answered",
        True,
        True,
        2.0,
        28.0,
        5.0,
    )
    assert (k1.agent, k1.ended_by, k1.rona, k1.came_by, k1.entered, k1.left) == (
        "a1",
        "agent",
        0,
        "new",
        OFFSET + 10,
        OFFSET + 45,
    )
    k2 = by["k2", "sales"]
    assert (k2.outcome, k2.answered, k2.rona, k2.wait_s, k2.short) == ("abandoned", False, 1, 50.0, False)
    k3 = by["k3", "support"]
    assert (k3.outcome, k3.short, k3.wait_s) == ("abandoned", True, 2.0)
    k4a, k4b = by["k4", "sales"], by["k4", "support"]
    assert (k4a.outcome, k4a.answered, k4a.wait_s, k4a.talk_s) == ("transferred", True, 1.0, 19.0)
    assert (k4b.came_by, k4b.outcome, k4b.wait_s, k4b.in_sl, k4b.talk_s, k4b.ended_by) == (
        "transfer",
        "answered",
        11.0,
        False,
        29.0,
        "customer",
    )
    assert rec.open_stays() == 0
    a1 = [(i.presence, i.reason, i.start - OFFSET, i.end - OFFSET) for i in intervals if i.agent == "a1"]
    assert a1[0] == ("available", None, 0.0, 10.0) and a1[-1] == ("away", "lunch", 400.0, 460.0)
    assert all(x[3] == y[2] for x, y in itertools.pairwise(a1))  # back to back, login to logout
