"""The reports' store: stays and agent intervals in SQLite (acd/stays.py),
and the interval reports as SQL over them.

One connection on one worker thread (the event loop never waits on the
disk): the writer task hands it batches of finished rows. Each batch also
adds to the **quarter hours** (per quarter of entry, queue and channel:
the sums a report needs), so a report reads those, not the contacts: a
month of a large centre is a few hundred thousand quarter rows whatever
its traffic. The stays stay, one row each, for the detail. Retention: rows
older than ``retention_days`` are deleted once a day.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol

from acd.stays import AgentInterval, Stay, SurveyAnswer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stays (
  contact_id TEXT NOT NULL, queue TEXT NOT NULL, channel TEXT NOT NULL, entered REAL NOT NULL,
  came_by TEXT NOT NULL, outcome TEXT NOT NULL, answered INTEGER NOT NULL, in_sl INTEGER NOT NULL,
  short INTEGER NOT NULL, wait_s REAL NOT NULL, talk_s REAL NOT NULL, wrap_s REAL NOT NULL,
  agent TEXT, rona INTEGER NOT NULL, ended_by TEXT, left_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS stays_entered ON stays (entered);
CREATE TABLE IF NOT EXISTS agent_intervals (
  agent TEXT NOT NULL, presence TEXT NOT NULL, reason TEXT, start REAL NOT NULL, end_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_intervals_end ON agent_intervals (end_at);
CREATE TABLE IF NOT EXISTS survey_answers (
  contact_id TEXT NOT NULL, queue TEXT NOT NULL, channel TEXT NOT NULL, agent TEXT NOT NULL,
  score INTEGER NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS survey_answers_at ON survey_answers (at);
CREATE TABLE IF NOT EXISTS quarters (
  start REAL NOT NULL, queue TEXT NOT NULL, channel TEXT NOT NULL,
  offered INTEGER NOT NULL, answered INTEGER NOT NULL, answered_in_sl INTEGER NOT NULL,
  abandoned INTEGER NOT NULL, short_abandoned INTEGER NOT NULL, overflowed INTEGER NOT NULL,
  handed_off INTEGER NOT NULL, transferred_out INTEGER NOT NULL, transferred_in INTEGER NOT NULL,
  not_answered_rona INTEGER NOT NULL, answered_wait_s REAL NOT NULL, wait_s REAL NOT NULL,
  max_wait_s REAL NOT NULL, handle_s REAL NOT NULL,
  survey_count INTEGER NOT NULL, survey_sum INTEGER NOT NULL,
  PRIMARY KEY (start, queue, channel)
) WITHOUT ROWID;
"""
# Rows as tuples in field order (dataclasses.astuple copies deeply: ten times slower)
_STAY_ROW = attrgetter(*(f.name for f in fields(Stay)))
_INTERVAL_ROW = attrgetter(*(f.name for f in fields(AgentInterval)))
_ANSWER_ROW = attrgetter(*(f.name for f in fields(SurveyAnswer)))
QUARTER = 900.0  # the grain of the reports: every time zone's offset is a multiple of it
_SUMS = (
    "offered",
    "answered",
    "answered_in_sl",
    "abandoned",
    "short_abandoned",
    "overflowed",
    "handed_off",
    "transferred_out",
    "transferred_in",
    "not_answered_rona",
    "answered_wait_s",
    "wait_s",
)
_UPSERT = (
    f"INSERT INTO quarters VALUES ({','.join('?' * 19)}) ON CONFLICT (start, queue, channel) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in (*_SUMS, "handle_s", "survey_count", "survey_sum"))
    + ", max_wait_s = max(max_wait_s, excluded.max_wait_s)"
)
GROUPS = {"queue": ("queue",), "channel": ("channel",), "queue,channel": ("queue", "channel")}
MAX_BUCKETS = 100_000  # per report: a range and an interval that would make more are refused

# One row per bucket and group, summed from the quarter hours: a month of
# a large centre is at most a few hundred thousand quarter rows, whatever
# its number of contacts.
_QUEUE_REPORT = (
    "SELECT CAST((start - :start) / :step AS INTEGER) AS bucket, {cols}, "
    + ", ".join(f"SUM({c}) AS {c}" for c in _SUMS)
    + ", MAX(max_wait_s) AS max_wait_s, SUM(handle_s) AS handle_s"
    ", SUM(survey_count) AS survey_count, SUM(survey_sum) AS survey_sum"
    " FROM quarters WHERE start >= :start AND start < :end GROUP BY bucket, {cols} ORDER BY bucket, {cols}"
)
# The finest report (a quarter hour, by queue and channel) is the quarter rows
# themselves: read in their key's order, nothing to group or sort.
_QUARTER_REPORT = (
    "SELECT CAST((start - :start) / :step AS INTEGER) AS bucket, queue, channel, "
    + ", ".join(_SUMS)
    + ", max_wait_s, handle_s, survey_count, survey_sum"
    " FROM quarters WHERE start >= :start AND start < :end ORDER BY start, queue, channel"
)


def quarter_rows(stays: Sequence[Stay], answers: Sequence[SurveyAnswer] = ()) -> list[tuple[Any, ...]]:
    """A batch summed per quarter hour, queue and channel: stays by their
    entry, survey answers by their coming. O(rows)."""
    acc: dict[tuple[float, str, str], list[float]] = {}

    def row(at: float, queue: str, channel: str) -> list[float]:
        key = (at - at % QUARTER, queue, channel)
        got = acc.get(key)
        if got is None:
            got = acc[key] = [0.0] * 16
        return got

    for s in stays:
        r = row(s.entered, s.queue, s.channel)
        abandoned = s.outcome == "abandoned"
        waited = s.answered or abandoned
        r[0] += 1
        r[1] += s.answered
        r[2] += s.in_sl
        r[3] += abandoned and not s.short
        r[4] += s.short
        r[5] += s.outcome == "overflowed"
        r[6] += s.outcome == "handed-off"
        r[7] += s.outcome == "transferred"
        r[8] += s.came_by == "transfer"
        r[9] += s.rona
        r[10] += s.wait_s if s.answered else 0.0
        r[11] += s.wait_s if waited else 0.0
        r[12] = max(r[12], s.wait_s)
        r[13] += s.talk_s + s.wrap_s if s.answered else 0.0
    for a in answers:
        r = row(a.at, a.queue, a.channel)
        r[14] += 1
        r[15] += a.score
    return [(*k, *(int(x) for x in v[:10]), *v[10:14], int(v[14]), int(v[15])) for k, v in acc.items()]


class ReportBackend(Protocol):
    """What the writer and the web routes ask of a report store (SQLite here,
    PostgreSQL in adapters/reports/postgres.py)."""

    async def put(
        self, stays: Sequence[Stay], intervals: Sequence[AgentInterval], answers: Sequence[SurveyAnswer] = ()
    ) -> None: ...

    async def forget_before(self, cutoff: float) -> None: ...

    async def queues(
        self, start: float, end: float, step: float, by: str, queues: frozenset[str] | None = None
    ) -> list[dict[str, Any]]: ...

    async def agents(
        self, start: float, end: float, live: Sequence[AgentInterval] = ()
    ) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


class ReportStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="acd-reports")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def open(self) -> None:
        await self._run(self.open_sync)

    def open_sync(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._pool.shutdown(wait=True)

    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None, "report store not open"
        return self._db

    async def put(
        self, stays: Sequence[Stay], intervals: Sequence[AgentInterval], answers: Sequence[SurveyAnswer] = ()
    ) -> None:
        await self._run(self.put_sync, stays, intervals, answers)

    def put_sync(
        self, stays: Sequence[Stay], intervals: Sequence[AgentInterval], answers: Sequence[SurveyAnswer] = ()
    ) -> None:
        db = self._conn()
        db.execute("BEGIN")
        try:
            db.executemany(f"INSERT INTO stays VALUES ({','.join('?' * 16)})", map(_STAY_ROW, stays))
            db.executemany("INSERT INTO survey_answers VALUES (?,?,?,?,?,?)", map(_ANSWER_ROW, answers))
            db.executemany(_UPSERT, quarter_rows(stays, answers))
            db.executemany("INSERT INTO agent_intervals VALUES (?,?,?,?,?)", map(_INTERVAL_ROW, intervals))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def forget_before(self, cutoff: float) -> None:
        def run() -> None:
            db = self._conn()
            db.execute("DELETE FROM stays WHERE left_at < ?", (cutoff,))
            db.execute("DELETE FROM quarters WHERE start < ?", (cutoff,))
            db.execute("DELETE FROM survey_answers WHERE at < ?", (cutoff,))
            db.execute("DELETE FROM agent_intervals WHERE end_at < ?", (cutoff,))

        await self._run(run)

    async def queues(
        self, start: float, end: float, step: float, by: str, queues: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        return list(await self._run(self.queues_sync, start, end, step, by, queues))

    def queues_sync(
        self, start: float, end: float, step: float, by: str, queues: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per bucket of ``step`` seconds (a multiple of a quarter hour) from
        ``start`` to ``end`` (Unix times, on quarter hours: the centre's
        local boundaries too), per ``by`` group, of the stays that entered
        then: the counts and sums, and the rates made of them. One pass over
        the range's quarter rows."""
        cols = ", ".join(GROUPS[by])
        db = self._conn()
        sql = (
            _QUARTER_REPORT if step == QUARTER and by == "queue,channel" else _QUEUE_REPORT.format(cols=cols)
        )
        cur = db.execute(sql, {"start": start, "end": end, "step": step})
        names = [d[0] for d in cur.description]
        return report_rows((dict(zip(names, row, strict=True)) for row in cur), start, end, step, queues)

    async def agents(
        self, start: float, end: float, live: Sequence[AgentInterval] = ()
    ) -> list[dict[str, Any]]:
        return list(await self._run(self.agents_sync, start, end, live))

    def agents_sync(
        self, start: float, end: float, live: Sequence[AgentInterval] = ()
    ) -> list[dict[str, Any]]:
        """Per agent over [start, end) (:func:`agent_report`); ``live``: the
        intervals going on now, not yet in the store."""
        db = self._conn()
        return agent_report(
            start,
            end,
            [
                *db.execute(f"{AGENT_INTERVALS} WHERE end_at > ? AND start < ?", (start, end)).fetchall(),
                *live_rows(live, start, end),
            ],
            db.execute(
                f"{AGENT_HANDLED} WHERE answered = 1 AND left_at >= ? AND left_at < ?"
                " GROUP BY agent, channel",
                (start, end),
            ).fetchall(),
            db.execute(f"{AGENT_SURVEYS} WHERE at >= ? AND at < ? GROUP BY agent", (start, end)).fetchall(),
        )


AGENT_INTERVALS = "SELECT agent, presence, reason, start, end_at FROM agent_intervals"
AGENT_HANDLED = "SELECT agent, channel, COUNT(*) FROM stays"
AGENT_SURVEYS = "SELECT agent, COUNT(*), SUM(score) FROM survey_answers"


def live_rows(live: Sequence[AgentInterval], start: float, end: float) -> list[tuple[Any, ...]]:
    return [(i.agent, i.presence, i.reason, i.start, i.end) for i in live if i.end > start and i.start < end]


def agent_report(
    start: float,
    end: float,
    intervals: Iterable[Sequence[Any]],
    handled: Iterable[Sequence[Any]],
    surveys: Iterable[Sequence[Any]],
) -> list[dict[str, Any]]:
    """Per agent over [start, end): staffed time, time per presence (and
    away per reason), occupancy, contacts handled per channel, survey count
    and average. Intervals are clipped to the range. O(rows)."""
    by: dict[str, dict[str, Any]] = {}

    def of(agent: str) -> dict[str, Any]:
        a = by.get(agent)
        if a is None:
            a = by[agent] = {
                "agent": agent,
                "staffed_s": 0.0,
                "presence_s": {},
                "away_s": {},
                "handled": {},
                "survey_count": 0,
                "survey_avg": None,
            }
        return a

    for agent, presence, reason, s, e in intervals:
        span = min(e, end) - max(s, start)
        a = of(agent)
        a["staffed_s"] += span
        a["presence_s"][presence] = a["presence_s"].get(presence, 0.0) + span
        if presence == "away":
            a["away_s"][reason or ""] = a["away_s"].get(reason or "", 0.0) + span
    for agent, channel, n in handled:
        of(agent)["handled"][channel] = int(n)
    for agent, n, total in surveys:
        a = of(agent)
        a["survey_count"], a["survey_avg"] = int(n), round(total / n, 2)
    for a in by.values():
        p = a["presence_s"]
        working = a["staffed_s"] - p.get("away", 0.0)
        busy = p.get("busy", 0.0) + p.get("wrap-up", 0.0) + p.get("offered", 0.0)
        a["occupancy_pct"] = round(100 * busy / working, 1) if working > 0 else None
        a["staffed_s"] = round(a["staffed_s"], 1)
        a["presence_s"] = {k: round(v, 1) for k, v in sorted(p.items())}
        a["away_s"] = {k: round(v, 1) for k, v in sorted(a["away_s"].items())}
    return [by[k] for k in sorted(by)]


def report_rows(
    rows: Iterable[dict[str, Any]], start: float, end: float, step: float, queues: frozenset[str] | None
) -> list[dict[str, Any]]:
    """The report's rows from the query's: a supervisor's queues only, the
    bucket as its range, the rates. O(rows)."""
    out = []
    for r in rows:
        if queues is not None and "queue" in r and r["queue"] not in queues:
            continue
        r["from"] = start + r.pop("bucket") * step
        r["to"] = min(end, r["from"] + step)
        out.append(rates(r))
    return out


def rates(r: dict[str, Any]) -> dict[str, Any]:
    """The averages and percentages of a report row, from its sums."""
    answered, abandoned = r["answered"], r["abandoned"]
    r["service_level_pct"] = (
        round(100 * r["answered_in_sl"] / (answered + abandoned), 1) if answered + abandoned else None
    )
    r["asa_s"] = round(r.pop("answered_wait_s") / answered, 1) if answered else None
    waited = answered + abandoned + r["short_abandoned"]
    r["avg_wait_s"] = round(r.pop("wait_s") / waited, 1) if waited else None
    r["max_wait_s"] = round(r["max_wait_s"], 1) if r["max_wait_s"] is not None else None
    r["aht_s"] = round(r.pop("handle_s") / answered, 1) if answered else None
    n = r["survey_count"]
    r["survey_avg"] = round(r.pop("survey_sum") / n, 2) if n else None
    return r
