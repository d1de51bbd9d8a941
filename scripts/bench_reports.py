#!/usr/bin/env python3
"""The interval reports: a month of a large centre, and the record's cost.

    .venv/bin/python scripts/bench_reports.py --json            # 1,000,000 stays; 200 chats/s for 10 s a side
    .venv/bin/python scripts/bench_reports.py --quick --json    # 100,000 stays; 100 chats/s for 3 s

1. A SQLite report store filled with a month of a 500-agent centre
   (1,000,000 stays over 30 days, 20 queues, 3 channels, answered,
   abandoned, transferred, overflowed), then the month's report per day
   and queue, per hour and queue, per 15 minutes and queue and channel.
   Baseline in the same run: one ``COUNT(*)`` over the same range (the
   floor of reading it). Target (issue 19): under 2 s.
2. The record's cost: bench_load.py's load (500 chat agents) against the
   daemon with ``[reports] store = "sqlite"`` and with it off, in the same
   run, in the order off, on, on, off; the server's CPU seconds of each.
   Target: under 5 % more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_load
from benchlib import free_port, start_daemon, stop_process

from acd.adapters.reports.store import ReportStore
from acd.stays import Stay

DAY = 86_400.0
T0 = 1_798_761_600.0  # 2027-01-01T00:00:00Z


def month(n: int, seed: int = 7) -> list[Stay]:
    """``n`` stays over 30 days, busier by day than by night."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        day = rnd.randrange(30)
        hour = min(23, max(0, int(rnd.gauss(13, 4))))
        entered = T0 + day * DAY + hour * 3600 + rnd.random() * 3600
        r = rnd.random()
        outcome = (
            "answered"
            if r < 0.82
            else "abandoned"
            if r < 0.92
            else "transferred"
            if r < 0.97
            else "overflowed"
        )
        answered = outcome in ("answered", "transferred")
        wait = rnd.expovariate(1 / 25)
        talk = rnd.expovariate(1 / 240) if answered else 0.0
        out.append(
            Stay(
                f"c{i}",
                f"q{rnd.randrange(20)}",
                rnd.choice(("voice", "chat", "email")),
                entered,
                "transfer" if rnd.random() < 0.04 else "new",
                outcome,
                answered,
                answered and wait <= 20,
                outcome == "abandoned" and wait < 5,
                wait,
                talk,
                30.0 if answered else 0.0,
                f"a{rnd.randrange(500)}" if answered else None,
                1 if rnd.random() < 0.03 else 0,
                "customer" if answered else None,
                entered + wait + talk,
            )
        )
    return out


def reports_at_scale(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = ReportStore(str(Path(tmp) / "reports.sqlite3"))
        store.open_sync()
        rows = month(n)
        t = time.perf_counter()
        for i in range(0, len(rows), 50_000):
            store.put_sync(rows[i : i + 50_000], [])
        fill_s = time.perf_counter() - t
        db = store._conn()
        t = time.perf_counter()
        (count,) = db.execute(
            "SELECT COUNT(*) FROM stays WHERE entered >= ? AND entered < ?", (T0, T0 + 30 * DAY)
        ).fetchone()
        floor_s = time.perf_counter() - t
        out: dict[str, Any] = {
            "stays": count,
            "insert_s": round(fill_s, 2),
            "count_floor_s": round(floor_s, 3),
        }
        for name, step, by in (
            ("per_day_queue", DAY, "queue"),
            ("per_hour_queue", 3600.0, "queue"),
            ("per_15m_queue_channel", 900.0, "queue,channel"),
        ):
            t = time.perf_counter()
            report = store.queues_sync(T0, T0 + 30 * DAY, step, by)
            took = time.perf_counter() - t
            assert sum(r["offered"] for r in report) == count
            out[name] = {
                "rows": len(report),
                "seconds": round(took, 3),
                "over_floor": round(took / floor_s, 1) if floor_s else None,
            }
        db.close()
    worst = max(out[k]["seconds"] for k in ("per_day_queue", "per_hour_queue", "per_15m_queue_channel"))
    out["target_s"] = 2.0
    out["met"] = worst < 2.0
    return out


async def record_cost(agents: int, rate: float, seconds: float) -> dict[str, Any]:
    """off, on, on, off: each side twice, the machine's drift over the run cancelled."""
    out: dict[str, Any] = {"agents": agents, "rate_per_s": rate, "seconds": seconds}
    runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    for side in ("off", "on", "on", "off"):
        with tempfile.TemporaryDirectory() as tmp:
            cfg, port = Path(tmp) / "bench.toml", free_port()
            table = (
                f'[reports]\nstore = "sqlite"\nsqlite_path = "{tmp}/reports.sqlite3"'
                if side == "on"
                else '[reports]\nstore = "off"'
            )
            bench_load.write_config(cfg, agents, port, tables='[journal]\nstore = "off"\n' + table)
            proc = await start_daemon(cfg, Path(tmp))
            try:
                url = f"http://127.0.0.1:{port}"
                runs[side].append(await bench_load.drive(url, agents, rate, seconds, [proc.pid]))
            finally:
                await stop_process(proc)
    for side, both in runs.items():
        out[side] = {
            "server_cpu_s": [r["server_cpu_s"] for r in both],
            "offer_ms_p50": [r["offer_ms"]["p50"] for r in both],
            "offer_ms_p99": [r["offer_ms"]["p99"] for r in both],
            "chats": sum(r["chats"] for r in both),
            "not_offered": sum(r["not_offered"] for r in both),
        }
    on, off = (sum(out[side]["server_cpu_s"]) for side in ("on", "off"))
    out["cpu_over_off_pct"] = round(100 * (on - off) / off, 1) if off else None
    out["target_pct"] = 5.0
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stays", type=int, default=1_000_000)
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.stays, args.agents, args.rate, args.seconds = 100_000, 100, 100.0, 3.0
    result = {
        "benchmark": "bench_reports",
        "reports": reports_at_scale(args.stays),
        "record_cost": asyncio.run(record_cost(args.agents, args.rate, args.seconds)),
    }
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
