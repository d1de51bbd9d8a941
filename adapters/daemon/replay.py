"""``acd replay``: what a journal holds, and what a candidate configuration
would have done with the traffic it recorded (:mod:`acd.whatif` is the
model; this module reads the journal and prints).

Nothing is served and nothing is written but the CSV asked for.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from acd import whatif
from acd.adapters.daemon.config_file import load
from acd.adapters.daemon.snapshots import journaled_routing
from acd.adapters.durable.journal import DirectoryJournal
from acd.adapters.durable.recovery import recover
from acd.adapters.reports.export import instant
from acd.codec import from_wire
from acd.errors import ConfigError
from acd.settings import RoutingConfig

METRICS = (
    "offered",
    "answered",
    "abandoned",
    "left",
    "service_level_pct",
    "wait_avg_s",
    "wait_p90_s",
    "aht_s",
)


def routing_of(text: str | None) -> RoutingConfig:
    return journaled_routing(tomllib.loads(text) if text is not None else {})


def summary(directory: Path, check: bool, out: TextIO) -> int:
    """The engine and conversations a journal rebuilds (its newest snapshot
    and the records after it), as JSON. With ``check``, a command the engine
    refuses on replay (it accepted it once) is a divergence: exit 1."""
    if not directory.is_dir():
        print(f"{directory}: no journal", file=sys.stderr)
        return 1
    try:
        rec = recover(DirectoryJournal(directory), journaled_routing)
    except ValueError as e:
        print(f"{directory}: {e}", file=sys.stderr)
        return 1
    if rec is None:
        print(f"{directory}: empty", file=sys.stderr)
        return 1
    engine = rec.engine
    waiting: dict[str, int] = {}
    for c in engine.contacts.values():
        waiting[c.queue] = waiting.get(c.queue, 0) + 1
    doc = {
        "journal": str(directory),
        "from_snapshot": rec.from_snapshot,
        "records": rec.records,
        "commands": rec.commands,
        "refused": rec.refused,
        "engine_time": round(rec.now, 3),
        "wall_time": round(rec.wall, 3),
        "open_contacts_by_queue": waiting,
        "agents_logged_in": sum(1 for a in engine.agents.values() if a.status != "logged-out"),
        "conversations": len(rec.open_conversations()),
        "session_tokens": len(rec.tokens),
    }
    print(json.dumps(doc, indent=2), file=out)
    return 1 if check and rec.refused else 0


def recorded_steps(
    directory: Path,
) -> tuple[RoutingConfig, float, list[whatif.Step], dict[str, Any] | None]:
    """The oldest point the journal can be read from (its first record, else
    its oldest snapshot) and the steps after it: (configuration there,
    engine time, steps, the snapshot's engine state or None)."""
    store = DirectoryJournal(directory)
    for point in reversed(store.restore_points()):
        try:
            base, records = store.read_from(point)
        except ValueError:
            continue
        if base is None and (not records or records[0].get("k") != "start"):
            continue  # the first segments went with a compaction
        head = base if base is not None else records[0]
        config = routing_of(head.get("toml"))
        steps: list[whatif.Step] = []
        for rec in records if base is not None else records[1:]:
            kind = rec.get("k")
            if kind == "cmd":
                steps.append(("cmd", from_wire(rec["c"]), float(rec["w"])))
            elif kind == "config":
                steps.append(("config", routing_of(rec.get("toml")), float(rec["now"])))
        return config, float(head["now"]), steps, base["engine"] if base is not None else None
    raise ValueError(f"{directory}: nothing to replay")


def wall_time(text: str | None, default: float) -> float:
    """ISO 8601 (UTC when no offset is given) or seconds since the epoch."""
    return instant(text, "UTC", default)


def what_if(
    directory: Path,
    candidate_path: Path,
    since: str | None,
    until: str | None,
    as_json: bool,
    csv_path: Path | None,
    interval_s: float,
    out: TextIO,
) -> int:
    """The recorded run and the candidate's, side by side."""
    try:
        candidate = load(candidate_path).routing
    except ConfigError as e:
        print(f"{candidate_path}:\n  " + "\n  ".join(e.problems), file=sys.stderr)
        return 2
    try:
        config, start, steps, base = recorded_steps(directory)
    except (ValueError, OSError) as e:
        print(str(e), file=sys.stderr)
        return 1
    lo, hi = wall_time(since, -math.inf), wall_time(until, math.inf)
    recorded, facts = whatif.record(steps, config, start, base)
    try:
        tried = whatif.simulate(candidate, facts, (config, base) if base is not None else None)
    except ConfigError as e:
        print(
            "the candidate cannot take the recording's open contacts:\n  " + "\n  ".join(e.problems),
            file=sys.stderr,
        )
        return 2
    final = config
    for kind, item, _ in steps:
        if kind == "config":
            final = item
    doc = {
        "journal": str(directory),
        "candidate": str(candidate_path),
        "window": {"from": since, "to": until},
        "contacts": len(facts.wall),
        "recorded": whatif.summarise(recorded, facts, final, lo, hi),
        "with_candidate": whatif.summarise(tried, facts, candidate, lo, hi),
    }
    if csv_path is not None:
        with csv_path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run", "interval_start", "queue", "channel", *METRICS])
            for name, run, cfg in (("recorded", recorded, final), ("candidate", tried, candidate)):
                for row in whatif.summarise(run, facts, cfg, lo, hi, interval_s)["rows"]:
                    start_iso = datetime.fromtimestamp(row["interval_start"], UTC).isoformat()
                    w.writerow([name, start_iso, row["queue"], row["channel"], *(row[m] for m in METRICS)])
    if as_json:
        print(json.dumps(doc, indent=2), file=out)
    else:
        print(_table(doc), file=out)
    return 0


def _table(doc: dict[str, Any]) -> str:
    """Recorded | candidate, per queue and channel."""
    lines = [f"{doc['contacts']} contacts replayed from {doc['journal']} under {doc['candidate']}"]
    before = {(r["queue"], r["channel"]): r for r in doc["recorded"]["rows"]}
    after = {(r["queue"], r["channel"]): r for r in doc["with_candidate"]["rows"]}
    for key in sorted(before.keys() | after.keys()):
        lines.append(f"\n{key[0]} / {key[1]}:          recorded   candidate")
        for m in METRICS:
            a = before.get(key, {}).get(m)
            b = after.get(key, {}).get(m)
            lines.append(f"  {m:<18} {_cell(a):>10}  {_cell(b):>10}")
    occ = (doc["recorded"]["occupancy_pct"], doc["with_candidate"]["occupancy_pct"])
    lines.append(f"\nagent occupancy %    {_cell(occ[0]):>10}  {_cell(occ[1]):>10}")
    if doc["with_candidate"]["refused"]:
        lines.append(f"recorded commands the candidate refused: {doc['with_candidate']['refused']}")
    return "\n".join(lines)


def _cell(v: Any) -> str:
    return "-" if v is None else str(v)
