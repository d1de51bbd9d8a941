"""Opening-hours arithmetic (time zones, daylight saving, holidays) and the
routing rules, as pure functions."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd.contact_rules import ContactFacts, Rule, apply_rules
from acd.hours import Schedule, parse_days, parse_span
from acd.settings import QueueSpec

PARIS = ZoneInfo("Europe/Paris")
OFFICE = (((9 * 60, 12 * 60), (13 * 60, 18 * 60)),) * 5 + ((), ())  # Mon-Fri, lunch closed


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=PARIS).timestamp()


def test_weekday_spans_lunch_weekend_and_holidays() -> None:
    s = Schedule("office", PARIS, OFFICE, frozenset({date(2026, 12, 25)}))
    assert s.is_open(at(2026, 11, 23, 9)) and not s.is_open(at(2026, 11, 23, 8, 59))
    assert not s.is_open(at(2026, 11, 23, 12, 30)) and s.is_open(at(2026, 11, 23, 17, 59))
    assert not s.is_open(at(2026, 11, 28, 10))  # Saturday
    assert not s.is_open(at(2026, 12, 25, 10))  # Christmas, a Friday
    assert s.next_change(at(2026, 11, 23, 10)) == at(2026, 11, 23, 12)
    assert s.next_change(at(2026, 11, 27, 18)) == at(2026, 11, 30, 9)  # Friday evening -> Monday
    assert s.next_change(at(2026, 12, 24, 18)) == at(2026, 12, 28, 9)  # over the holiday


def test_opening_stays_at_local_nine_across_daylight_saving() -> None:
    s = Schedule("office", PARIS, OFFICE)
    before = s.next_change(at(2026, 3, 27, 20))  # Friday; clocks go forward on Sunday the 29th
    assert before == at(2026, 3, 30, 9)
    assert datetime.fromtimestamp(before, PARIS).hour == 9


def test_always_and_never_have_no_next_change() -> None:
    assert Schedule("never", PARIS, ((),) * 7).next_change(at(2026, 1, 1, 0)) is None
    always = Schedule("always", PARIS, (((0, 24 * 60),),) * 7)
    assert always.is_open(at(2026, 1, 1, 23, 59)) and always.next_change(at(2026, 1, 1, 0)) is None


@given(st.integers(0, 7 * 24 * 60 * 8))
def test_next_change_is_the_first_flip(minutes: int) -> None:
    s = Schedule("office", PARIS, OFFICE, frozenset({date(2026, 1, 14)}))
    t = at(2026, 1, 5, 0) + minutes * 60.0
    nxt = s.next_change(t)
    assert nxt is not None and nxt > t
    assert s.is_open(nxt) != s.is_open(t)
    step = 60.0  # nothing flips in between (spans are whole minutes)
    probe = t + step - (t % step) if t % step else t + step
    while probe < nxt:
        assert s.is_open(probe) == s.is_open(t)
        probe += step


def test_parsing_days_and_spans() -> None:
    assert parse_days("mon-fri") == [0, 1, 2, 3, 4]
    assert parse_days("SAT") == [5] and parse_days("sun-mon") == [6, 0]
    assert parse_span("09:00-24:00") == (540, 1440)
    for bad in ("9-5", "18:00-09:00", "09:60-10:00", "25:00-26:00"):
        with pytest.raises(ValueError):
            parse_span(bad)
    with pytest.raises(ValueError, match="not a day"):
        parse_days("weekdays")


TAKES = {
    q.name: q
    for q in (
        QueueSpec("sales", ("voice", "chat")),
        QueueSpec("billing", ("chat",)),
        QueueSpec("vip", ("voice", "chat")),
    )
}


def test_rules_match_in_order_and_combine() -> None:
    rules = (
        Rule("refund", keywords=("refund", "退款"), queue="billing", skills={"billing": 2}),
        Rule("vip", profile={"tier": ("gold",)}, raise_priority=10, queue="vip"),
        Rule("ivr-2", attributes={"ivr": ("2",)}, skills={"billing": 3, "english": 1}, stop=True),
        Rule("never-reached", keywords=("refund",), raise_priority=100),
    )
    plain = apply_rules(rules, ContactFacts("sales", "chat", "Where is my parcel?"), TAKES)
    assert plain.rules == () and plain.queue == "sales"
    refund = apply_rules(rules, ContactFacts("sales", "chat", "我要退款"), TAKES)
    assert (refund.queue, refund.skills, refund.rules) == ("billing", (("billing", 2),), ("refund",))
    both = apply_rules(
        rules,
        ContactFacts("sales", "chat", "A REFUND please", {"ivr": "2"}, {"tier": "gold"}),
        TAKES,
    )
    assert both.rules == ("refund", "vip", "ivr-2")  # stop: the last rule never runs
    assert (both.queue, both.raise_priority) == ("vip", 10)
    assert both.skills == (("billing", 3), ("english", 1))


def test_a_rule_queue_that_does_not_take_the_channel_is_skipped() -> None:
    rules = (Rule("refund", keywords=("refund",), queue="billing", raise_priority=1),)
    call = apply_rules(rules, ContactFacts("sales", "voice", "refund"), TAKES)
    assert (call.queue, call.raise_priority) == ("sales", 1)


def test_customer_lists_match_any_identifier() -> None:
    rules = (Rule("vip-list", customers=frozenset({"phone:+8613800000000"}), raise_priority=5),)
    hit = ContactFacts("sales", "voice", identifiers=frozenset({"email:a@b.cn", "phone:+8613800000000"}))
    assert apply_rules(rules, hit, TAKES).raise_priority == 5
    assert apply_rules(rules, ContactFacts("sales", "voice"), TAKES).raise_priority == 0
