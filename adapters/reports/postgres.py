"""The reports' store in PostgreSQL, for a cluster (``[reports] store =
"postgres"``): every node writes its domain's rows into one database, so a
report sees them all whoever owned the routing when. The same tables,
quarter-hour sums and figures as the SQLite store (adapters/reports/store.py),
through asyncpg (a pool; the event loop never waits on the network).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from acd.adapters.reports.store import (
    AGENT_HANDLED,
    AGENT_INTERVALS,
    AGENT_SURVEYS,
    GROUPS,
    QUARTER,
    agent_report,
    live_rows,
    quarter_rows,
    report_rows,
)
from acd.stays import AgentInterval, Stay, SurveyAnswer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stays (
  contact_id TEXT NOT NULL, queue TEXT NOT NULL, channel TEXT NOT NULL, entered DOUBLE PRECISION NOT NULL,
  came_by TEXT NOT NULL, outcome TEXT NOT NULL, answered INTEGER NOT NULL, in_sl INTEGER NOT NULL,
  short INTEGER NOT NULL, wait_s DOUBLE PRECISION NOT NULL, talk_s DOUBLE PRECISION NOT NULL,
  wrap_s DOUBLE PRECISION NOT NULL, agent TEXT, rona INTEGER NOT NULL, ended_by TEXT,
  left_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS stays_left ON stays (left_at);
CREATE TABLE IF NOT EXISTS agent_intervals (
  agent TEXT NOT NULL, presence TEXT NOT NULL, reason TEXT, start DOUBLE PRECISION NOT NULL,
  end_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_intervals_end ON agent_intervals (end_at);
CREATE TABLE IF NOT EXISTS survey_answers (
  contact_id TEXT NOT NULL, queue TEXT NOT NULL, channel TEXT NOT NULL, agent TEXT NOT NULL,
  score INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS survey_answers_at ON survey_answers (at);
CREATE TABLE IF NOT EXISTS quarters (
  start DOUBLE PRECISION NOT NULL, queue TEXT NOT NULL, channel TEXT NOT NULL,
  offered BIGINT NOT NULL, answered BIGINT NOT NULL, answered_in_sl BIGINT NOT NULL,
  abandoned BIGINT NOT NULL, short_abandoned BIGINT NOT NULL, overflowed BIGINT NOT NULL,
  handed_off BIGINT NOT NULL, transferred_out BIGINT NOT NULL, transferred_in BIGINT NOT NULL,
  not_answered_rona BIGINT NOT NULL, answered_wait_s DOUBLE PRECISION NOT NULL,
  wait_s DOUBLE PRECISION NOT NULL, max_wait_s DOUBLE PRECISION NOT NULL, handle_s DOUBLE PRECISION NOT NULL,
  survey_count BIGINT NOT NULL, survey_sum BIGINT NOT NULL,
  PRIMARY KEY (start, queue, channel)
);
"""
_SUMMED = (
    "offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "overflowed", "handed_off",
    "transferred_out", "transferred_in", "not_answered_rona", "answered_wait_s", "wait_s", "handle_s",
    "survey_count", "survey_sum",
)  # fmt: skip
_UPSERT = (
    "INSERT INTO quarters VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)"
    " ON CONFLICT (start, queue, channel) DO UPDATE SET "
    + ", ".join(f"{c} = quarters.{c} + excluded.{c}" for c in _SUMMED)
    + ", max_wait_s = GREATEST(quarters.max_wait_s, excluded.max_wait_s)"
)
_REPORT = (
    "SELECT FLOOR((start - $1) / $3)::BIGINT AS bucket, {cols}, "
    + ", ".join(f"SUM({c}) AS {c}" for c in _SUMMED)
    + ", MAX(max_wait_s) AS max_wait_s FROM quarters WHERE start >= $1 AND start < $2"
    " GROUP BY bucket, {cols} ORDER BY bucket, {cols}"
)


class PostgresReportStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4, command_timeout=60)
        async with self._pool.acquire() as c:
            await c.execute("SELECT pg_advisory_lock(7241)")  # nodes starting together create the tables once
            try:
                await c.execute(_SCHEMA)
            finally:
                await c.execute("SELECT pg_advisory_unlock(7241)")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _p(self) -> asyncpg.Pool:
        assert self._pool is not None, "report store not open"
        return self._pool

    async def put(
        self, stays: Sequence[Stay], intervals: Sequence[AgentInterval], answers: Sequence[SurveyAnswer] = ()
    ) -> None:
        async with self._p().acquire() as c, c.transaction():
            if stays:
                await c.copy_records_to_table("stays", records=[_stay(s) for s in stays])
            if intervals:
                await c.copy_records_to_table(
                    "agent_intervals",
                    records=[(i.agent, i.presence, i.reason, i.start, i.end) for i in intervals],
                )
            if answers:
                await c.copy_records_to_table(
                    "survey_answers",
                    records=[(a.contact_id, a.queue, a.channel, a.agent, a.score, a.at) for a in answers],
                )
            rows = quarter_rows(stays, answers)
            if rows:
                await c.executemany(_UPSERT, rows)

    async def forget_before(self, cutoff: float) -> None:
        async with self._p().acquire() as c, c.transaction():
            await c.execute("DELETE FROM stays WHERE left_at < $1", cutoff)
            await c.execute("DELETE FROM agent_intervals WHERE end_at < $1", cutoff)
            await c.execute("DELETE FROM survey_answers WHERE at < $1", cutoff)
            await c.execute("DELETE FROM quarters WHERE start < $1", cutoff)

    async def queues(
        self, start: float, end: float, step: float, by: str, queues: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """As the SQLite store's (``step`` a whole number of quarter hours)."""
        assert step % QUARTER == 0
        cols = ", ".join(GROUPS[by])
        rows = [dict(rec) for rec in await self._p().fetch(_REPORT.format(cols=cols), start, end, step)]
        for r in rows:  # PostgreSQL's SUM of integers is a numeric: counts as ints, for JSON
            for k in (*_SUMMED[:10], "survey_count", "survey_sum"):
                r[k] = int(r[k])
        return report_rows(rows, start, end, step, queues)

    async def agents(
        self, start: float, end: float, live: Sequence[AgentInterval] = ()
    ) -> list[dict[str, Any]]:
        p = self._p()
        return agent_report(
            start,
            end,
            [
                *(
                    tuple(r)
                    for r in await p.fetch(f"{AGENT_INTERVALS} WHERE end_at > $1 AND start < $2", start, end)
                ),
                *live_rows(live, start, end),
            ],
            await p.fetch(
                f"{AGENT_HANDLED} WHERE answered = 1 AND left_at >= $1 AND left_at < $2"
                " GROUP BY agent, channel",
                start,
                end,
            ),
            await p.fetch(f"{AGENT_SURVEYS} WHERE at >= $1 AND at < $2 GROUP BY agent", start, end),
        )


def _stay(s: Stay) -> tuple[Any, ...]:
    return (
        s.contact_id, s.queue, s.channel, s.entered, s.came_by, s.outcome, int(s.answered), int(s.in_sl),
        int(s.short), s.wait_s, s.talk_s, s.wrap_s, s.agent, s.rona, s.ended_by, s.left,
    )  # fmt: skip
