"""``acd report``: the interval reports on the command line, and the record
rebuilt from a journal.

``--rebuild`` replays a journal directory through the engine, as recovery
does (from its first record, or its oldest snapshot when compaction took
the records before it: contacts open at that snapshot are not in the
rebuilt record), and writes every stay and agent interval into a new
SQLite file, which must not exist yet: stop the daemon, rebuild, move the
file in place. What a crash took of the live record (its last second, the
stays open across a restart) is back.
"""

from __future__ import annotations

import json
import math
import sys
import zoneinfo
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from acd import snapshot
from acd.adapters.daemon.replay import recorded_steps
from acd.adapters.reports.export import instant, write_csv
from acd.adapters.reports.store import GROUPS, QUARTER, ReportStore
from acd.engine import Engine
from acd.errors import InvalidRequest
from acd.stays import AgentInterval, Stay, StayRecorder, Thresholds

BATCH = 50_000


def rebuild(journal: Path, db: Path, short_abandon_s: float, out: TextIO) -> int:
    if db.exists():
        print(f"{db}: exists; the rebuilt record goes into a new file", file=sys.stderr)
        return 2
    try:
        config, start, steps, base = recorded_steps(journal)
    except (ValueError, OSError) as e:
        print(str(e), file=sys.stderr)
        return 1
    engine = snapshot.load(config, base) if base is not None else Engine(config, now=start)

    def threshold(queue: str) -> float:
        spec = engine.queues.get(queue)
        return spec.service_level_s if spec is not None else 0.0

    recorder = StayRecorder(Thresholds(threshold, short_abandon_s))
    store = ReportStore(str(db))
    store.open_sync()
    stays: list[Stay] = []
    intervals: list[AgentInterval] = []
    offset = math.nan  # engine time -> Unix time: each command says its own
    commands = refused = written = 0
    for kind, item, stamp in steps:
        if kind == "config":
            events = engine.reconfigure(item, stamp)
        else:
            commands += 1
            offset = stamp - item.now
            try:
                events = engine.handle(item)
            except InvalidRequest:
                refused += 1
                continue
        if math.isnan(offset):
            continue
        s, i = recorder.feed(events, offset)
        stays += s
        intervals += i
        if len(stays) + len(intervals) >= BATCH:
            store.put_sync(stays, intervals)
            written += len(stays) + len(intervals)
            stays, intervals = [], []
    store.put_sync(stays, intervals)
    written += len(stays) + len(intervals)
    doc = {
        "journal": str(journal),
        "db": str(db),
        "from_snapshot": base is not None,
        "commands": commands,
        "refused": refused,
        "rows": written,
        "stays_still_open": recorder.open_stays(),
    }
    print(json.dumps(doc, indent=2), file=out)
    return 0


def report(
    db: Path,
    since: str | None,
    until: str | None,
    interval: float,
    by: str,
    agents: bool,
    zone: str,
    as_csv: bool,
    out: TextIO,
) -> int:
    """The queues' (or agents') report of ``db`` as JSON, or CSV."""
    if not db.exists():
        print(f"{db}: no report store", file=sys.stderr)
        return 1
    try:
        start = instant(since, zone, 0.0)
        end = instant(until, zone, datetime.now(zoneinfo.ZoneInfo(zone)).timestamp())
    except ValueError as e:
        print(f"--from/--to: expected ISO 8601 or Unix seconds ({e})", file=sys.stderr)
        return 2
    start -= start % QUARTER
    if interval < QUARTER or interval % QUARTER or by not in GROUPS:
        print("--interval: whole quarter hours (900 s); --by: " + ", ".join(GROUPS), file=sys.stderr)
        return 2
    store = ReportStore(str(db))
    store.open_sync()
    rows: list[dict[str, Any]] = (
        store.agents_sync(start, end) if agents else store.queues_sync(start, end, interval, by)
    )
    if not as_csv:
        print(
            json.dumps({"from": start, "to": end, "agents" if agents else "queues": rows}, indent=2), file=out
        )
        return 0
    write_csv(rows, zone, out)
    return 0
