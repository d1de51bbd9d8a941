"""Settings validation, capacity, state tables, skills and the codec."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd import codec
from acd import commands as c
from acd.capacity import CompiledProfile, Load, can_take
from acd.errors import ConfigError, InvalidTransition
from acd.events import ContactOffered, Decision
from acd.records import (
    HELD_RANK,
    LINE_LIMIT,
    LINE_MASK,
    ContactState,
    class_rank,
    contact_key,
    key_priority,
    profile_rank,
)
from acd.routing import RoutingClass, seconds
from acd.settings import (
    DEFAULT_CHANNELS,
    DEFAULT_PROFILES,
    MAX_PRIORITY,
    MAX_WEIGHT,
    AgentSpec,
    CapacityProfile,
    ChannelRule,
    EscalationStep,
    QueueSpec,
    RoutingConfig,
    default_config,
)
from acd.skills import normalise, relax
from acd.states import PRESENCE_CODE, PRESENCES, agent_step, contact_step, presence
from acd.stats import PresenceCounts
from acd.timers import ESCALATION, HOLD_END, Timers


def profile(name: str) -> CompiledProfile:
    return CompiledProfile(next(p for p in DEFAULT_PROFILES if p.name == name), DEFAULT_CHANNELS)


def test_default_config_is_valid() -> None:
    cfg = default_config()
    assert {p.name for p in cfg.profiles} == {"voice", "chat", "blended"}


def test_validation_collects_every_problem() -> None:
    cfg = RoutingConfig(
        channels=DEFAULT_CHANNELS,
        profiles=DEFAULT_PROFILES,
        skills=("sales",),
        queues=(
            QueueSpec(
                "q",
                skills={"cooking": 2, "sales": 9},
                strategy="fastest",
                overflow_to="nowhere",
                escalation=(
                    EscalationStep(60, priority_boost=600_000),
                    EscalationStep(30, priority_boost=600_000),
                    EscalationStep(90, priority_boost=-600_000),
                ),
                weight=2_000_000,
            ),
        ),
        agents=(AgentSpec("a", profile="robot", queues={"q": 1, "zz": 0}), AgentSpec("a")),
    )
    with pytest.raises(ConfigError) as err:
        cfg.validate()
    text = "\n".join(err.value.problems)
    for expected in (
        "duplicate agent 'a'",
        "queues.q.skills: unknown skill 'cooking'",
        "queues.q.skills.sales: level 9 is not in 1..5",
        "queues.q.strategy: 'fastest' is not one of",
        "queues.q.overflow_to: unknown queue 'nowhere'",
        "queues.q.escalation[1].after: 30 must be greater than the previous step's (60)",
        "agents.a.profile: unknown profile 'robot'",
        "agents.a.queues: unknown queue 'zz'",
        "agents.a.queues.zz: rank must be an integer >= 1",
        "queues.q.weight: must be in -1000000..1000000",
        "queues.q.escalation: priority boosts add up to 1200000 in size, over 1000000",
    ):
        assert expected in text
    assert err.value.code == "invalid-config"


def test_capacity_voice_exclusive_chat_three_blended_mix() -> None:
    v, ch, bl = profile("voice"), profile("chat"), profile("blended")
    load = Load()
    assert can_take(v, load, "voice") and not can_take(v, load, "chat")
    load.add(v, "voice")
    assert not can_take(v, load, "voice")
    load = Load()
    for _ in range(3):
        assert can_take(ch, load, "chat")
        load.add(ch, "chat")
    assert not can_take(ch, load, "chat")
    assert can_take(ch, load, "email")  # 75 + 25 fits in 100
    assert can_take(ch, load, "wechat")  # like chat, counted on its own
    load = Load()
    load.add(bl, "chat")
    load.add(bl, "chat")
    assert can_take(bl, load, "voice")  # a call while chatting
    load.add(bl, "voice")
    assert not can_take(bl, load, "chat")  # no new chat during a call
    load.remove(bl, "voice")
    assert can_take(bl, load, "chat")
    assert load.counts == {"chat": 2}


def test_profile_may_make_voice_non_exclusive() -> None:
    p = CapacityProfile(
        "supervisor",
        200,
        {"voice": ChannelRule(100, 1), "chat": ChannelRule(50, 2)},
        blocks={"voice": frozenset()},
    )
    cp = CompiledProfile(p, DEFAULT_CHANNELS)
    load = Load()
    load.add(cp, "voice")
    assert can_take(cp, load, "chat")


def test_state_tables_name_state_and_event() -> None:
    assert agent_step("logged-out", "login") == "available"
    assert agent_step("available", "rona") == "not-responding"
    with pytest.raises(InvalidTransition) as err:
        agent_step("logged-out", "away")
    assert (err.value.machine, err.value.state, err.value.event) == ("agent", "logged-out", "away")
    assert contact_step("offered", "requeue") == "queued"
    with pytest.raises(InvalidTransition):
        contact_step("ended", "offer")
    assert PRESENCES[presence("available", 1, 1, 0)] == "offered"
    assert PRESENCES[presence("available", 0, 1, 1)] == "busy"
    assert PRESENCES[presence("available", 0, 0, 1)] == "wrap-up"
    assert PRESENCES[presence("available", 0, 0, 0)] == "available"
    assert PRESENCES[presence("away", 1, 0, 0)] == "away"
    assert all(presence(p, 0, 0, 0) == PRESENCES.index(p) for p in ("logged-out", "away", "not-responding"))


def test_relax_is_cumulative() -> None:
    req = normalise({"sales": 4, "french": 3})
    steps = (
        EscalationStep(30, accept_level=2),
        EscalationStep(60, drop_skills=("french",), borrow_from=("x",), priority_boost=2),
        EscalationStep(90, any_member=True, priority_boost=1),
    )
    assert relax(req, steps, 0).req == (("french", 3), ("sales", 4))
    assert relax(req, steps, 1).req == (("french", 2), ("sales", 2))
    r2 = relax(req, steps, 2)
    assert (r2.req, r2.borrow_from, r2.priority_boost) == ((("sales", 2),), ("x",), 2)
    r3 = relax(req, steps, 3)
    assert (r3.req, r3.priority_boost) == ((), 3)


def test_codec_round_trips_through_msgpack() -> None:
    cmd = c.NewContact(1.5, "k1", "sales", "chat", "cust", 3, (("sales", 2),), {"lang": "fr"}, "a1", 10.0)
    assert codec.unpack(codec.pack(cmd)) == cmd
    offer = ContactOffered(
        2.0,
        "k1",
        "a1",
        "sales",
        "chat",
        22.0,
        Decision("contact", "sales", 0, "sales>=2", "longest-idle", "idle 1s", None, None, 0.5),
    )
    assert codec.unpack(codec.pack(offer)) == offer


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",
        msgpack.packb([1, 2]),
        msgpack.packb({"type": "Nope"}),
        msgpack.packb({"type": "Login", "now": 1}),
        msgpack.packb({"type": "Login", "now": 1, "agent_id": "a", "evil": 1}),
    ],
)
def test_codec_rejects_malformed(data: bytes) -> None:
    with pytest.raises(codec.MalformedMessage) as err:
        codec.unpack(data)
    assert err.value.code == "malformed-message"


_key_parts = st.tuples(
    st.integers(-2, 2) | st.integers(-2 * MAX_PRIORITY, 2 * MAX_PRIORITY),
    st.integers(1, 3) | st.integers(1, LINE_LIMIT - 1),
)


@given(_key_parts, _key_parts)
def test_packed_contact_key_orders_as_the_tuple(x: tuple[int, int], y: tuple[int, int]) -> None:
    """Class heaps compare packed ints; they must order exactly as
    (-priority, line) over the whole validated range (priority plus boosts
    within +-2 * MAX_PRIORITY), stay unboxed (< 2**62) and give back the
    line and the priority."""
    kx, ky = contact_key(*x), contact_key(*y)
    assert 0 < kx < 2**62
    assert kx & LINE_MASK == x[1]
    assert key_priority(kx) == x[0]
    assert (kx < ky) == ((-x[0], x[1]) < (-y[0], y[1]))


def test_packed_class_rank_orders_as_the_tuple() -> None:
    """The engine compares packed ints; they must order exactly as
    (profile rank, borrowed, -weight) does, and the rank must unpack."""
    vals = [
        (o, b, w) for o in (1, 2, 3, 99) for b in (False, True) for w in (-MAX_WEIGHT, -1, 0, 7, MAX_WEIGHT)
    ]
    for x in vals:
        assert profile_rank(class_rank(*x)) == x[0]
        assert class_rank(*x) > HELD_RANK
        for y in vals:
            packed = class_rank(*x) < class_rank(*y)
            assert packed == ((x[0], x[1], -x[2]) < (y[0], y[1], -y[2]))


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([0.5, 5.0, 30.0]) | st.floats(0, 60)),
        min_size=1,
        max_size=3000,
    ),
    st.integers(1, 50),
)
def test_timers_fire_in_deadline_then_set_order(plan: list[tuple[int, float]], fire_every: int) -> None:
    """Lanes (fixed delays, with their batched drop of fired slots) and the
    heap (arbitrary deadlines) merge into one (deadline, set order) stream,
    whatever mix of them is due when time advances."""
    timers = Timers()
    expected: list[tuple[float, int]] = []
    fired: list[tuple[float, int]] = []
    now = 0.0
    for i, (dt, delay) in enumerate(plan):
        now += dt
        if delay in (0.5, 5.0, 30.0):
            timers.schedule_after(now, delay, ESCALATION, i, None)
        else:
            timers.schedule(now + delay, HOLD_END, i, None)
        expected.append((now + delay, i))
        if i % fire_every == 0:
            while timers.due(now):
                at, _, _, token, _ = timers.pop()
                fired.append((at, token))
    assert len(timers) == len(expected) - len(fired)
    while timers.next_deadline() is not None:
        at, _, _, token, _ = timers.pop()
        fired.append((at, token))
    assert len(timers) == 0
    assert sorted(fired) == sorted(expected)
    # A timer set later is due no earlier than anything already fired, so
    # the passes together fire in exactly (deadline, set order).
    assert fired == sorted(fired)


def test_a_busy_lane_drops_fired_slots_and_keeps_order() -> None:
    timers = Timers()
    fired = []
    for i in range(5000):
        timers.schedule_after(float(i), 10.0, ESCALATION, i, [i])
        while timers.due(float(i)):
            fired.append(timers.pop()[3])
    assert fired == list(range(4990)) and len(timers) == 10
    lane = timers._lanes[timers._by_delay[10.0]]
    assert len(lane.at) < 2 * 1024 and lane.record[: lane.head] == [None] * lane.head


def test_presence_counts_are_in_presence_code_order() -> None:
    for code, name in enumerate(PRESENCES):
        counts = PresenceCounts()
        counts.add(code, 2)
        counts.add(PRESENCE_CODE[name], -1)
        assert counts.counts() == [int(i == code) for i in range(len(PRESENCES))]


@given(
    st.lists(st.tuples(st.integers(0, 4), st.booleans(), st.booleans()), min_size=1, max_size=60),
    st.data(),
)
def test_a_class_runner_up_is_its_best_other_live_undeclined_contact(
    plan: list[tuple[int, bool, bool]], data: st.DataObject
) -> None:
    """RoutingClass.top and runner_up against a brute force, through pushes
    (some re-pushes of a key: copies), lazy removals and declines."""
    cls = RoutingClass("q", "chat", (), (), "longest-idle", [])
    contacts: list[ContactState] = []
    for line, (prio, declined, remove) in enumerate(plan, 1):
        k = ContactState(f"k{line}", "q", "chat", "", prio, {}, (), 0.0)
        k.line, k.class_key = line, contact_key(prio, line)
        k.declined = {"me"} if declined else None
        cls.push_contact(k, k.class_key)
        if data.draw(st.booleans()):
            cls.push_contact(k, k.class_key)  # a re-place under the same key
        contacts.append(k)
        if remove:
            gone = data.draw(st.sampled_from([x for x in contacts if x.class_key]))
            cls.remove_contact(gone)
            gone.class_key = 0
    live = sorted(x.class_key for x in contacts if x.class_key)
    assert cls.top == (live[0] if live else 0)
    if live:
        others = [key for key in live[1:] if cls.waiting[key & LINE_MASK].declined is None]
        assert cls.runner_up("me", cls.top) == (others[0] if others else 0)


@given(st.floats(-1e6, 1e7, allow_nan=False))
def test_seconds_text_is_one_decimal_within_half_a_tenth(x: float) -> None:
    text = seconds(x)
    whole, _, tenth = text.lstrip("-").partition(".")
    assert whole.isdigit() and len(tenth) == 1 and tenth.isdigit()
    assert abs(float(text) - x) <= 0.05 + 1e-9 * max(1.0, abs(x))
