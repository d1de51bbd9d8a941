"""The interval reports over the SQLite store: figures of a scripted set
of stays checked one by one against a computation by hand; and, for any
sequence of commands through the real engine, the report's totals are the
per-stay records' (nothing counted twice or lost between buckets)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st

from acd import commands as c
from acd.adapters.daemon.config_file import ReportSettings
from acd.adapters.reports.store import ReportStore
from acd.errors import InvalidRequest
from acd.stays import AgentInterval, Stay, StayRecorder, SurveyAnswer, Thresholds
from tests.adapters.test_durability import customer, daemon
from tests.adapters.wsclient import AUTH, WSClient, session
from tests.adapters.wsclient import settings as centre_settings
from tests.core.test_stays import OFFSET, centre

T0 = 1_800_000_000.0  # a 15-minute boundary


def stay(cid: str, queue: str, entered: float, outcome: str, wait: float, **kw: object) -> Stay:
    answered = outcome in ("answered", "transferred")
    fields: dict[str, object] = {
        "contact_id": cid,
        "queue": queue,
        "channel": "chat",
        "entered": T0 + entered,
        "came_by": "new",
        "outcome": outcome,
        "answered": answered,
        "in_sl": answered and wait <= 20,
        "short": outcome == "abandoned" and wait < 5,
        "wait_s": wait,
        "talk_s": 0.0,
        "wrap_s": 0.0,
        "agent": "a1" if answered else None,
        "rona": 0,
        "ended_by": None,
        "left": T0 + entered + wait,
    }
    fields.update(kw)
    return Stay(**fields)  # type: ignore[arg-type]


def test_a_scripted_set_figure_by_figure(tmp_path: Path) -> None:
    store = ReportStore(str(tmp_path / "reports.sqlite"))
    store.open_sync()
    rows = [
        stay("k1", "sales", 10, "answered", 5, talk_s=100.0, wrap_s=20.0),
        stay("k2", "sales", 20, "answered", 30, talk_s=200.0, wrap_s=10.0, rona=1),
        stay("k3", "sales", 30, "abandoned", 40),
        stay("k4", "sales", 40, "abandoned", 2),  # short
        stay("k5", "sales", 50, "transferred", 10, talk_s=60.0),
        stay("k5", "support", 110, "answered", 3, came_by="transfer", talk_s=50.0, wrap_s=5.0),
        stay("k6", "sales", 900 + 5, "overflowed", 600),  # the second quarter hour
        stay("k7", "sales", 1800, "answered", 1),  # the end of the range: not in it
    ]
    answers = [
        SurveyAnswer("k1", "sales", "chat", "a1", 5, T0 + 100),
        SurveyAnswer("k2", "sales", "chat", "a1", 2, T0 + 200),
    ]
    store.put_sync(rows, [], answers)
    report = store.queues_sync(T0, T0 + 1800, 900, "queue")
    assert [(r["from"] - T0, r["queue"]) for r in report] == [(0, "sales"), (0, "support"), (900, "sales")]
    sales = report[0]
    assert (sales["offered"], sales["answered"], sales["answered_in_sl"]) == (5, 3, 2)  # k1, k5 within 20 s
    assert (sales["abandoned"], sales["short_abandoned"], sales["transferred_out"]) == (1, 1, 1)
    assert sales["service_level_pct"] == round(
        100 * 2 / (3 + 1), 1
    )  # answered in SL / (answered + abandoned)
    assert sales["asa_s"] == round((5 + 30 + 10) / 3, 1)
    assert sales["avg_wait_s"] == round((5 + 30 + 10 + 40 + 2) / 5, 1) and sales["max_wait_s"] == 40
    assert sales["aht_s"] == round((120 + 210 + 60) / 3, 1) and sales["not_answered_rona"] == 1
    assert (sales["survey_count"], sales["survey_avg"]) == (2, 3.5)
    assert (report[1]["survey_count"], report[1]["survey_avg"]) == (0, None)
    lunch_now = AgentInterval("a2", "away", "lunch", T0 + 1000, T0 + 1500)  # still at lunch: not stored yet
    a1, a2 = store.agents_sync(T0, T0 + 1800, [lunch_now])
    assert (a2["agent"], a2["away_s"], a2["staffed_s"], a2["occupancy_pct"]) == (
        "a2",
        {"lunch": 500.0},
        500.0,
        None,
    )
    # k1, k2, and k5 in both queues (this helper gives every answered stay to a1)
    assert (a1["agent"], a1["survey_count"], a1["survey_avg"], a1["handled"]) == ("a1", 2, 3.5, {"chat": 4})
    support = report[1]
    assert (support["offered"], support["transferred_in"], support["aht_s"]) == (1, 1, 55.0)
    assert (report[2]["overflowed"], report[2]["service_level_pct"], report[2]["to"] - T0) == (1, None, 1800)
    by_channel = store.queues_sync(T0, T0 + 1800, 1800, "channel")
    assert [(r["channel"], r["offered"]) for r in by_channel] == [("chat", 7)]


@st.composite
def commands(draw: st.DrawFn) -> list[c.Command]:
    """Random traffic: contacts arriving, answered or not, ended, moved,
    abandoned; agents coming and going. Refusals are part of the game."""
    out: list[c.Command] = []
    t = 0.0
    for i in range(draw(st.integers(1, 40))):
        t += draw(st.floats(0.0, 400.0))
        cid = f"k{draw(st.integers(0, 8))}"
        op = draw(
            st.sampled_from(["new", "new", "accept", "end", "abandon", "transfer", "login", "away", "tick"])
        )
        agent = draw(st.sampled_from(["a1", "a2"]))
        if op == "new":
            out.append(
                c.NewContact(t, f"{cid}-{i}", draw(st.sampled_from(["sales", "support"])), "chat", "u")
            )
        elif op == "accept":
            out.append(c.Accept(t, agent, cid))
        elif op == "end":
            out.append(c.EndContact(t, agent, cid))
        elif op == "abandon":
            out.append(c.Abandon(t, cid))
        elif op == "transfer":
            out.append(
                c.Transfer(t, cid, by_agent=agent, to_queue=draw(st.sampled_from(["sales", "support"])))
            )
        elif op == "login":
            out.append(c.Login(t, agent))
        elif op == "away":
            out.append(c.SetAway(t, agent, "break"))
        else:
            out.append(c.Tick(t))
    return out


@settings(max_examples=60)
@given(commands())
def test_report_totals_are_the_records_whatever_the_sequence(cmds: list[c.Command]) -> None:
    run = centre()
    rec = StayRecorder(Thresholds(lambda q: 20.0))
    stays: list[Stay] = []
    contact_ids = set()
    for cmd in cmds:
        try:
            events = run(cmd)
        except InvalidRequest:
            continue
        if isinstance(cmd, c.NewContact):
            contact_ids.add(cmd.contact_id)
        stays += rec.feed(events, OFFSET)[0]
    end = max((getattr(x, "now", 0.0) for x in cmds), default=0.0) + 1.0
    for cid in list(run.engine.contacts):  # everyone still here leaves (or finishes)
        with contextlib.suppress(InvalidRequest):
            stays += rec.feed(run(c.Abandon(end, cid)), OFFSET)[0]
    stays += rec.feed(run(c.Tick(end + 10_000)), OFFSET)[0]
    assert (
        rec.open_stays() == 0 and {s.contact_id for s in stays} == contact_ids
    )  # every contact, none invented
    store = ReportStore(":memory:")
    store.open_sync()
    store.put_sync(stays, [])
    rows = store.queues_sync(OFFSET, OFFSET + end + 20_000, 900, "queue,channel")
    total = {
        k: sum(r[k] for r in rows)
        for k in ("offered", "answered", "abandoned", "short_abandoned", "transferred_in", "transferred_out")
    }
    assert total == {
        "offered": len(stays),
        "answered": sum(s.answered for s in stays),
        "abandoned": sum(s.outcome == "abandoned" and not s.short for s in stays),
        "short_abandoned": sum(s.short for s in stays),
        "transferred_in": sum(s.came_by == "transfer" for s in stays),
        "transferred_out": sum(s.outcome == "transferred" for s in stays),
    }


async def test_the_running_daemon_reports_what_it_did(tmp_path: Path) -> None:
    """Through the daemon: Bob serves two chats; the day's report says so,
    as JSON and as CSV; the agents' report counts them and his time;
    hostile parameters get 400 invalid-report."""
    s = dataclasses.replace(
        centre_settings(), reports=ReportSettings(sqlite_path=str(tmp_path / "r.sqlite3"))
    )
    async with session(s) as sess:
        bob = await sess.agent("bob")
        for i in range(2):
            _, cid = await sess.customer("sales", f"hello {i}")
            await sess.serve(bob, cid)
        writer = sess.server.reports
        assert writer is not None
        await writer.flush()
        url = sess.url("/v1/reports/queues?interval=day&by=queue")
        async with sess.http.get(url, headers=AUTH) as r:
            assert r.status == 200
            body = await r.json()
        (sales,) = body["queues"]
        assert (sales["queue"], sales["offered"], sales["answered"], sales["abandoned"]) == ("sales", 2, 2, 0)
        assert (
            sales["service_level_pct"] == 100.0 and sales["aht_s"] is not None and body["to"] > body["from"]
        )
        async with sess.http.get(url, headers={**AUTH, "Accept": "text/csv"}) as r:
            assert r.content_type == "text/csv" and "attachment" in r.headers["Content-Disposition"]
            lines = (await r.text()).splitlines()
        assert lines[0].startswith("from,to,queue,") and len(lines) == 2 and ",sales," in lines[1]
        async with sess.http.get(sess.url("/v1/reports/agents"), headers=AUTH) as r:
            agents = {a["agent"]: a for a in (await r.json())["agents"]}
        assert agents["bob"]["handled"] == {"chat": 2}
        for bad in ("from=yesterday", "interval=1", "interval=nan", "by=agent", "to=nan", "from=2026-13-01"):
            async with sess.http.get(sess.url(f"/v1/reports/queues?{bad}"), headers=AUTH) as r:
                assert r.status == 400 and (await r.json())["error"]["code"] == "invalid-report", bad
        async with sess.http.get(sess.url("/v1/reports/queues?from=0&to=1e12"), headers=AUTH) as r:
            cut = await r.json()  # a range beyond 400 days is cut to its first 400
        assert cut["to"] - cut["from"] == 400 * 86_400
        async with sess.http.get(sess.url("/v1/reports/queues")) as r:
            assert r.status == 401  # reports are the supervisors', not the public's


async def test_a_kill_mid_day_loses_no_row_the_journal_rebuilds_them(tmp_path: Path) -> None:
    """kill -9 after three chats: the live record may miss its last second;
    ``acd report --rebuild`` replays the journal into a new store that has
    every one, and ``acd report`` reads it (queues and agents)."""
    async with daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        await d.start()
        alice = WSClient(await http.ws_connect(d.url("/v1/agent/ws")))
        await alice.expect("hello")
        await alice.call("auth", agent="alice", password="alice-pw")
        await alice.call("login")
        for i in range(3):
            _, ack = await customer(http, d, f"hello {i}")
            await alice.expect("offer", contact=ack["contact"])
            await alice.call("accept", contact=ack["contact"])
            await alice.call("end", contact=ack["contact"])
            await alice.call("wrap-up-done", contact=ack["contact"])
        await d.stop(signal.SIGKILL)
    live = ReportStore(str(tmp_path / "data" / "reports.sqlite3"))
    live.open_sync()
    assert sum(r["answered"] for r in live.queues_sync(0, 4e9, 86_400 * 400, "queue")) <= 3

    def acd(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "acd.adapters.daemon.cli", "report", *args]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)

    built = acd("--rebuild", "--journal", "journal", "--db", "rebuilt.sqlite3")
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["refused"] == 0
    assert (
        acd("--rebuild", "--journal", "journal", "--db", "rebuilt.sqlite3").returncode == 2
    )  # never over a file
    queues = json.loads(
        acd("--db", "rebuilt.sqlite3", "--from", "0", "--interval-s", str(86_400 * 400)).stdout
    )
    (sales,) = queues["queues"]
    assert (sales["queue"], sales["offered"], sales["answered"], sales["abandoned"]) == ("sales", 3, 3, 0)
    agents = json.loads(acd("--db", "rebuilt.sqlite3", "--from", "0", "--agents").stdout)["agents"]
    assert [(a["agent"], a["handled"]) for a in agents] == [("alice", {"chat": 3})]
    as_csv = acd("--db", "rebuilt.sqlite3", "--from", "0", "--interval-s", str(86_400 * 400), "--csv").stdout
    # the same CSV as the web route's: the range first, in local time
    assert as_csv.splitlines()[0].startswith("from,to,queue,abandoned,") and len(as_csv.splitlines()) == 2


def test_a_scripted_day_figure_by_figure() -> None:
    """Three hundred contacts over a day on three channels with outcomes
    fixed in advance (answered after a known ring, then a known talk and
    wrap-up; abandoned after a known wait; a few transferred), an agent at
    lunch for an hour: each hour's figures, per queue and channel, and the
    agent's lunch, against a computation from the script alone."""
    from acd.settings import AgentSpec, QueueSpec  # noqa: PLC0415 (this test's own centre)
    from tests.core.world import Run, config  # noqa: PLC0415

    run = Run(
        config(
            [
                QueueSpec(
                    "sales",
                    channels=("voice", "chat", "email"),
                    wrapup_s=10,
                    offer_timeout_s=120,
                    service_level_s=20,
                ),
                QueueSpec("support", channels=("voice", "chat", "email"), wrapup_s=10, service_level_s=20),
            ],
            [AgentSpec("a1", queues={"sales": 1}), AgentSpec("a2", queues={"support": 1})],
        )
    )
    rec = StayRecorder(Thresholds(lambda q: 20.0, short_abandon_s=5.0))
    rnd = random.Random(19)
    stays: list[Stay] = []
    intervals = []

    def do(cmd: c.Command) -> None:
        s, i = rec.feed(run(cmd), T0)
        stays.extend(s)
        intervals.extend(i)

    do(c.Login(0.0, "a1"))
    expected: dict[tuple[int, str, str], dict[str, float]] = {}
    t = 0.0
    for k in range(300):
        t += 250.0
        if 12 * 3600 <= t < 13 * 3600:  # a1 is at lunch: nobody is sent
            continue
        channel = rnd.choice(("voice", "chat", "email"))
        fate = rnd.choices(("answered", "abandoned", "transferred"), (0.75, 0.15, 0.10))[0]
        ring, talk = float(rnd.randint(1, 40)), float(rnd.randint(10, 100))
        cid = f"d{k}"
        row = expected.setdefault(
            (int(t // 3600), "sales", channel),
            {
                "offered": 0,
                "answered": 0,
                "in_sl": 0,
                "abandoned": 0,
                "short": 0,
                "transferred_out": 0,
                "wait": 0.0,
                "handle": 0.0,
            },
        )
        row["offered"] += 1
        if fate == "abandoned":
            do(c.SetAway(t - 1, "a1", "break"))  # nobody to offer it to
            do(c.NewContact(t, cid, "sales", channel, "u"))
            do(c.Abandon(t + ring, cid))
            do(c.SetAvailable(t + ring + 1, "a1"))
            row["abandoned" if ring >= 5 else "short"] += 1
            continue
        do(c.NewContact(t, cid, "sales", channel, "u"))
        do(c.Accept(t + ring, "a1", cid))
        row["answered"] += 1
        row["in_sl"] += ring <= 20
        row["wait"] += ring
        if fate == "transferred":
            do(c.Transfer(t + ring + talk, cid, by_agent="a1", to_queue="support"))
            do(c.Abandon(t + ring + talk + 1, cid))  # and gone from support's line at once
            do(c.Tick(t + ring + talk + 10))  # a1's wrap-up after the transfer
            row["transferred_out"] += 1
            row["handle"] += talk  # the talk: the wrap-up after a transfer is the agent's, not the stay's
        else:
            do(c.EndContact(t + ring + talk, "a1", cid))
            do(c.Tick(t + ring + talk + 10))  # wrap-up over
            row["handle"] += talk + 10
        if t < 12 * 3600 <= t + 250:
            do(c.SetAway(12 * 3600, "a1", "lunch"))
            do(c.SetAvailable(13 * 3600, "a1"))
    do(c.Logout(t + 1000, "a1"))
    store = ReportStore(":memory:")
    store.open_sync()
    store.put_sync(stays, intervals)
    got = {
        (int((r["from"] - T0) // 3600), r["queue"], r["channel"]): r
        for r in store.queues_sync(T0, T0 + 86_400, 3600, "queue,channel")
        if r["queue"] == "sales"
    }
    assert got.keys() == expected.keys() and sum(x["offered"] for x in expected.values()) > 250
    for key, want in expected.items():
        r = got[key]
        assert (r["offered"], r["answered"], r["answered_in_sl"]) == (
            want["offered"],
            want["answered"],
            want["in_sl"],
        ), key
        assert (r["abandoned"], r["short_abandoned"], r["transferred_out"]) == (
            want["abandoned"],
            want["short"],
            want["transferred_out"],
        ), key
        ans, lost = want["answered"], want["abandoned"]
        assert r["service_level_pct"] == (
            round(100 * want["in_sl"] / (ans + lost), 1) if ans + lost else None
        ), key
        assert r["asa_s"] == (round(want["wait"] / ans, 1) if ans else None), key
        assert r["aht_s"] == (round(want["handle"] / ans, 1) if ans else None), key
    (a1,) = [a for a in store.agents_sync(T0, T0 + 86_400) if a["agent"] == "a1"]
    assert a1["away_s"]["lunch"] == 3600.0
    assert sum(a1["handled"].values()) == sum(x["answered"] for x in expected.values())
