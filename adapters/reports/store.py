"""The reports' store: stays and agent intervals in SQLite (acd/stays.py),
and the interval reports as SQL over them.

One connection on one worker thread (the event loop never waits on the
disk): the writer task hands it batches of finished rows; a report is one
``GROUP BY`` over the stays of its range (an index on their entry time),
so a month of a large centre is read in one pass. Retention: rows older
than ``retention_days`` are deleted once a day.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from pathlib import Path
from typing import Any

from acd.stays import AgentInterval, Stay

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
"""
GROUPS = {"queue": ("queue",), "channel": ("channel",), "queue,channel": ("queue", "channel")}
MAX_BUCKETS = 100_000  # per report: a range and an interval that would make more are refused

# One row per bucket and group; sums, so totals add up across rows.
_QUEUE_REPORT = """
SELECT CAST((entered - :start) / :step AS INTEGER) AS bucket, {cols},
  COUNT(*) AS offered,
  SUM(answered) AS answered,
  SUM(in_sl) AS answered_in_sl,
  SUM(outcome = 'abandoned' AND NOT short) AS abandoned,
  SUM(short) AS short_abandoned,
  SUM(outcome = 'overflowed') AS overflowed,
  SUM(outcome = 'handed-off') AS handed_off,
  SUM(outcome = 'transferred') AS transferred_out,
  SUM(came_by = 'transfer') AS transferred_in,
  SUM(rona) AS not_answered_rona,
  SUM(CASE WHEN answered THEN wait_s ELSE 0 END) AS answered_wait_s,
  SUM(CASE WHEN answered OR outcome = 'abandoned' THEN wait_s ELSE 0 END) AS wait_s,
  MAX(wait_s) AS max_wait_s,
  SUM(CASE WHEN answered THEN talk_s + wrap_s ELSE 0 END) AS handle_s
FROM stays WHERE entered >= :start AND entered < :end
GROUP BY bucket, {cols} ORDER BY bucket, {cols}
"""


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

    async def put(self, stays: Sequence[Stay], intervals: Sequence[AgentInterval]) -> None:
        await self._run(self.put_sync, stays, intervals)

    def put_sync(self, stays: Sequence[Stay], intervals: Sequence[AgentInterval]) -> None:
        db = self._conn()
        db.execute("BEGIN")
        try:
            db.executemany(f"INSERT INTO stays VALUES ({','.join('?' * 16)})", [astuple(s) for s in stays])
            db.executemany("INSERT INTO agent_intervals VALUES (?,?,?,?,?)", [astuple(i) for i in intervals])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def forget_before(self, cutoff: float) -> None:
        def run() -> None:
            db = self._conn()
            db.execute("DELETE FROM stays WHERE left_at < ?", (cutoff,))
            db.execute("DELETE FROM agent_intervals WHERE end_at < ?", (cutoff,))

        await self._run(run)

    async def queues(
        self, start: float, end: float, step: float, by: str, queues: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        return list(await self._run(self.queues_sync, start, end, step, by, queues))

    def queues_sync(
        self, start: float, end: float, step: float, by: str, queues: frozenset[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per bucket of ``step`` seconds from ``start`` to ``end`` (Unix
        times; the caller aligns ``start`` to the centre's local boundary),
        per ``by`` group, of the stays that entered then: the counts and
        sums, and the rates made of them. One pass over the range's stays."""
        cols = ", ".join(GROUPS[by])
        db = self._conn()
        cur = db.execute(_QUEUE_REPORT.format(cols=cols), {"start": start, "end": end, "step": step})
        names = [d[0] for d in cur.description]
        out = []
        for row in cur:
            r = dict(zip(names, row, strict=True))
            if queues is not None and "queue" in r and r["queue"] not in queues:
                continue
            r["from"] = start + r.pop("bucket") * step
            r["to"] = min(end, r["from"] + step)
            out.append(_rates(r))
        return out

    async def agents(self, start: float, end: float) -> list[dict[str, Any]]:
        return list(await self._run(self.agents_sync, start, end))

    def agents_sync(self, start: float, end: float) -> list[dict[str, Any]]:
        """Per agent over [start, end): staffed time, time per presence (and
        away per reason), occupancy, contacts handled per channel. Intervals
        are clipped to the range."""
        db = self._conn()
        by: dict[str, dict[str, Any]] = {}
        for agent, presence, reason, s, e in db.execute(
            "SELECT agent, presence, reason, start, end_at FROM agent_intervals"
            " WHERE end_at > ? AND start < ?",
            (start, end),
        ):
            span = min(e, end) - max(s, start)
            a = by.setdefault(
                agent, {"agent": agent, "staffed_s": 0.0, "presence_s": {}, "away_s": {}, "handled": {}}
            )
            a["staffed_s"] += span
            a["presence_s"][presence] = a["presence_s"].get(presence, 0.0) + span
            if presence == "away":
                key = reason or ""
                a["away_s"][key] = a["away_s"].get(key, 0.0) + span
        for agent, channel, n in db.execute(
            "SELECT agent, channel, COUNT(*) FROM stays"
            " WHERE answered AND left_at >= ? AND left_at < ? GROUP BY agent, channel",
            (start, end),
        ):
            a = by.setdefault(
                agent, {"agent": agent, "staffed_s": 0.0, "presence_s": {}, "away_s": {}, "handled": {}}
            )
            a["handled"][channel] = n
        for a in by.values():
            p = a["presence_s"]
            working = a["staffed_s"] - p.get("away", 0.0)
            busy = p.get("busy", 0.0) + p.get("wrap-up", 0.0) + p.get("offered", 0.0)
            a["occupancy_pct"] = round(100 * busy / working, 1) if working > 0 else None
            a["staffed_s"] = round(a["staffed_s"], 1)
            a["presence_s"] = {k: round(v, 1) for k, v in sorted(p.items())}
            a["away_s"] = {k: round(v, 1) for k, v in sorted(a["away_s"].items())}
        return [by[k] for k in sorted(by)]


def _rates(r: dict[str, Any]) -> dict[str, Any]:
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
    return r
