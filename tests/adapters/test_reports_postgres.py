"""The report store in a real PostgreSQL (started by the run, a free port):
the same figures as the SQLite store for the same rows, two nodes writing
into one database count once each, and the daemon configured with it
reports through its API. asyncpg, as the daemon uses it."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import asyncpg

from acd.adapters.daemon.config_file import ReportSettings
from acd.adapters.reports.postgres import PostgresReportStore
from acd.adapters.reports.store import ReportStore
from acd.stays import AgentInterval, SurveyAnswer
from tests.adapters.test_reports import T0, stay
from tests.adapters.wsclient import AUTH, session
from tests.adapters.wsclient import settings as centre_settings


async def fresh_database(url: str) -> str:
    """A database of this test's own on the run's server."""
    name = f"acd_{uuid.uuid4().hex[:12]}"
    c = await asyncpg.connect(url)
    try:
        await c.execute(f'CREATE DATABASE "{name}"')
    finally:
        await c.close()
    return url.rsplit("/", 1)[0] + f"/{name}"


ROWS = [
    stay("k1", "sales", 10, "answered", 5, talk_s=100.0, wrap_s=20.0),
    stay("k2", "sales", 20, "answered", 30, talk_s=200.0, wrap_s=10.0, rona=1),
    stay("k3", "sales", 30, "abandoned", 40),
    stay("k4", "sales", 40, "abandoned", 2),
    stay("k5", "sales", 50, "transferred", 10, talk_s=60.0),
    stay("k5", "support", 110, "answered", 3, came_by="transfer", talk_s=50.0, wrap_s=5.0),
    stay("k6", "sales", 905, "overflowed", 600),
]
INTERVALS = [
    AgentInterval("a1", "available", None, T0, T0 + 60),
    AgentInterval("a1", "away", "lunch", T0 + 60, T0 + 600),
]
ANSWERS = [SurveyAnswer("k1", "sales", "chat", "a1", 5, T0 + 100)]


async def test_the_same_figures_as_sqlite_and_two_nodes_add_up(tmp_path: Path, postgres_url: str) -> None:
    url = await fresh_database(postgres_url)
    pg, other_node = PostgresReportStore(url), PostgresReportStore(url)
    lite = ReportStore(str(tmp_path / "r.sqlite3"))
    await pg.open()
    await other_node.open()  # a second node: the tables exist, it only connects
    await lite.open()
    try:
        await pg.put(ROWS, INTERVALS, ANSWERS)
        await lite.put(ROWS, INTERVALS, ANSWERS)
        for step, by in ((900, "queue"), (900, "queue,channel"), (1800, "queue,channel"), (3600, "channel")):
            assert await pg.queues(T0, T0 + 1800, step, by) == await lite.queues(T0, T0 + 1800, step, by)
        assert await pg.agents(T0, T0 + 1800) == await lite.agents(T0, T0 + 1800)
        assert await pg.queues(T0, T0 + 1800, 900, "queue", frozenset({"support"})) == await lite.queues(
            T0, T0 + 1800, 900, "queue", frozenset({"support"})
        )
        # Another node owns the routing later and writes its rows into the same store.
        await other_node.put([stay("k9", "sales", 15, "answered", 1)], [], [])
        (first, *_) = await pg.queues(T0, T0 + 900, 900, "queue")
        assert (first["queue"], first["offered"], first["answered"]) == ("sales", 6, 4)
        await pg.forget_before(T0 + 800)  # retention: the first quarter's rows go
        assert [r["from"] - T0 for r in await pg.queues(T0, T0 + 1800, 900, "queue")] == [900]
    finally:
        await pg.close()
        await other_node.close()
        await lite.close()


async def test_the_daemon_reports_from_postgres(postgres_url: str) -> None:
    url = await fresh_database(postgres_url)
    s = dataclasses.replace(centre_settings(), reports=ReportSettings(store="postgres", postgres_url=url))
    async with session(s) as sess:
        bob = await sess.agent("bob")
        _, cid = await sess.customer("support", "hello")
        await sess.serve(bob, cid)
        assert sess.server.reports is not None
        await sess.server.reports.flush()
        async with sess.http.get(sess.url("/v1/reports/queues?interval=day"), headers=AUTH) as r:
            (support,) = (await r.json())["queues"]
        assert (support["queue"], support["offered"], support["answered"]) == ("support", 1, 1)
        async with sess.http.get(sess.url("/v1/reports/agents"), headers=AUTH) as r:
            agents = {a["agent"]: a for a in (await r.json())["agents"]}
        bob_day = agents["bob"]
        assert bob_day["handled"] == {"chat": 1}
        assert {"available", "offered", "busy", "wrap-up"} <= set(
            bob_day["presence_s"]
        )  # available: still going on
