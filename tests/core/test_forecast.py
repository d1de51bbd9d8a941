"""Erlang C against published tables and an independent exact computation;
the forecast's agents are the fewest that meet the target; the live
arrival rate over its window."""

from __future__ import annotations

import heapq
import random
from collections import deque
from fractions import Fraction
from math import exp, factorial

from hypothesis import given, settings
from hypothesis import strategies as st

from acd.forecast import (
    Arrivals,
    agents_needed,
    agents_needed_a,
    erlang_a,
    erlang_b,
    erlang_c,
    service_level,
)


def test_published_erlang_b_and_c_tables() -> None:
    # Erlang B tables (blocking): 10 Erlangs on 10 and 15 lines, 5 on 10.
    assert [round(erlang_b(a, n), 4) for a, n in ((10, 10), (10, 15), (5, 10))] == [0.2146, 0.0365, 0.0184]
    # Erlang C tables (probability of waiting), 10 Erlangs, 11..15 agents.
    assert [round(erlang_c(10, n), 4) for n in range(11, 16)] == [0.6821, 0.4494, 0.2853, 0.1741, 0.1020]
    assert erlang_c(10, 10) == 1.0 and erlang_c(10, 9) == 1.0  # no stable queue at n <= a


def test_the_textbook_example() -> None:
    """100 calls in half an hour, 3 minutes each, 80 % within 20 s: 10
    Erlangs; 13 agents give 79.6 %, 14 give 88.8 % with an ASA of 7.8 s."""
    assert round(service_level(10, 13, 180, 20) * 100, 1) == 79.6
    s = agents_needed(100 / 1800, 180, 80, 20)
    assert (s.traffic_erlangs, s.agents, s.service_level_pct, s.asa_s) == (10.0, 14, 88.84, 7.8)
    assert s.wait_probability == 0.1741


def exact_c(a: Fraction, n: int) -> Fraction:
    """Erlang C from its closed form, in exact fractions (factorials)."""
    top = a**n / factorial(n) * Fraction(n) / (n - a)
    return top / (sum(a**k / factorial(k) for k in range(n)) + top)


@given(st.integers(1, 400), st.integers(1, 60))
def test_erlang_c_is_the_closed_form(a_tenths: int, n: int) -> None:
    a = Fraction(a_tenths, 10)
    if n <= a:
        assert erlang_c(float(a), n) == 1.0
        return
    assert abs(erlang_c(float(a), n) - float(exact_c(a, n))) < 1e-9


@given(st.floats(0.001, 2.0), st.floats(5.0, 900.0), st.floats(50.0, 99.0), st.floats(5.0, 120.0))
def test_the_forecast_is_the_fewest_agents_that_meet_the_target(
    rate: float, aht: float, target: float, threshold: float
) -> None:
    s = agents_needed(rate, aht, target, threshold)
    assert s.agents is not None
    a = rate * aht
    assert service_level(a, s.agents, aht, threshold) * 100 >= target
    assert s.agents - 1 <= a or service_level(a, s.agents - 1, aht, threshold) * 100 < target
    assert abs(s.asa_s - erlang_c(a, s.agents) * aht / (s.agents - a)) < 0.051
    assert (
        abs(1 - erlang_c(a, s.agents) * exp(-(s.agents - a) * threshold / aht) - s.service_level_pct / 100)
        < 1e-4
    )


def test_no_traffic_needs_no_one() -> None:
    assert agents_needed(0.0, 180, 80, 20).agents == 0


def test_arrivals_over_the_window() -> None:
    arr = Arrivals(started=0.0, window_s=100.0)
    for t in range(0, 50, 5):  # 10 arrivals in the first 50 s
        arr.add("sales", float(t))
    assert arr.rate("sales", 50.0) == 10 / 50  # a young daemon: its own age is the window
    assert arr.rate("sales", 100.0) == 9 / 100  # the window is (0, 100]: the first fell out
    assert arr.rate("sales", 130.0) == 3 / 100  # 35, 40 and 45 s: the last 100 s
    assert arr.rate("support", 130.0) == 0.0


def simulate(
    rate: float, aht: float, patience: float, n: int, t: float, arrivals: int, seed: int
) -> tuple[float, float]:
    """A queue of ``n`` agents, first come first served, callers who hang
    up after their patience: (answered within ``t``, abandoned), as shares
    of the arrivals. An independent check of Erlang A."""
    rnd = random.Random(seed)
    ends: list[float] = []  # agents' service ends (a heap)
    line: deque[tuple[float, float]] = deque()  # (arrived, hangs up at)
    free, in_time, gave_up, seen = n, 0, 0, 0
    arrive = rnd.expovariate(rate)
    while seen < arrivals:
        if ends and ends[0] < arrive:
            now = heapq.heappop(ends)
            free += 1
            while line:
                came, leaves = line.popleft()
                if leaves < now:
                    gave_up += 1
                    continue
                free -= 1
                heapq.heappush(ends, now + rnd.expovariate(1 / aht))
                in_time += now - came <= t
                break
            continue
        now, seen = arrive, seen + 1
        arrive = now + rnd.expovariate(rate)
        if free and not line:
            free -= 1
            in_time += 1
            heapq.heappush(ends, now + rnd.expovariate(1 / aht))
        else:
            line.append((now, now + rnd.expovariate(1 / patience)))
    return in_time / seen, gave_up / seen


def test_erlang_a_against_a_simulation_and_its_limit() -> None:
    for rate, aht, patience, n in ((10 / 180, 180, 120, 11), (1.0, 30, 20, 28)):
        a = erlang_a(rate, aht, patience, n, 20)
        sl, gave_up = simulate(rate, aht, patience, n, 20, 120_000, seed=n)
        assert abs(a.service_level - sl) < 0.012 and abs(a.abandon_probability - gave_up) < 0.008
    # Callers who never hang up: Erlang C.
    patient = erlang_a(10 / 180, 180, 1e9, 14, 20)
    assert abs(patient.service_level - service_level(10, 14, 180, 20)) < 1e-4
    assert patient.abandon_probability < 1e-6 and abs(patient.wait_probability - erlang_c(10, 14)) < 1e-4


@settings(max_examples=25)  # each example is a search of Erlang A's (tens of ms)
@given(st.floats(0.01, 0.5), st.floats(20.0, 300.0), st.floats(10.0, 300.0), st.floats(60.0, 95.0))
def test_erlang_a_agents_are_the_fewest_that_meet_the_target(
    rate: float, aht: float, patience: float, target: float
) -> None:
    got = agents_needed_a(rate, aht, patience, target, 20.0)
    assert got is not None
    n, figures = got
    assert figures.service_level * 100 >= target
    assert n == 1 or erlang_a(rate, aht, patience, n - 1, 20.0).service_level * 100 < target
