#!/usr/bin/env python3
"""What the journal costs the daemon, and what it takes to recover.

    .venv/bin/python scripts/bench_journal.py --json           # 1,000 agents, 200 chats/s, 20 s per side
    .venv/bin/python scripts/bench_journal.py --quick --json   # 200 agents, 100 chats/s, 5 s per side

``bench_load.py``'s daemon and load, run in turns with the journal off
(the baseline) and on (``fsync = interval``, then ``batch``), in the same run: offer latency,
server CPU, and the journal's bytes per chat. Then recovery: the journal a
run left, replayed by a fresh daemon, timed from process start to the
"serving on" line. At scale (10,000 agents, 100,000 waiting chats), the
same start from the whole journal and from a snapshot of it (what the
snapshot worker writes), with the compaction's own time and size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import bench_acd, write_config
from benchlib import free_port, start_daemon, stop_process

from acd import commands as c
from acd import journal
from acd.adapters.daemon.conversations import Conversation
from acd.adapters.daemon.snapshots import compact
from acd.adapters.durable.journal import SEGMENT, DirectoryJournal
from acd.codec import to_wire


async def recovery(agents: int, rate: float, seconds: float) -> dict[str, Any]:
    """Run the load with a journal in a kept directory, then time a fresh
    daemon (same config) replaying it, from process start to serving."""
    work = Path(tempfile.mkdtemp(prefix="acd-journal-"))
    load = await bench_acd(agents, rate, seconds, "interval", work)
    size = sum(p.stat().st_size for p in (work / "data" / "journal").iterdir())
    cfg = work / "again.toml"
    write_config(cfg, agents, free_port(), "batch")
    t0 = time.perf_counter()
    proc = await start_daemon(cfg, work)
    ready_s = time.perf_counter() - t0
    await stop_process(proc)
    return {"chats": load["chats"], "journal_bytes": size, "start_with_replay_s": round(ready_s, 3)}


async def recovery_at_scale(agents: int, waiting: int) -> dict[str, Any]:
    """A journal as a busy centre leaves it: ``agents`` logged in and away,
    ``waiting`` web chats queued (each with its conversation record), then
    a daemon started on it, timed to serving (/readyz true)."""
    work = Path(tempfile.mkdtemp(prefix="acd-journal-scale-"))
    cfg = work / "bench.toml"
    write_config(cfg, agents, free_port(), "interval")
    text = cfg.read_text()
    records: list[dict[str, Any]] = [{"k": "start", "now": 100.0, "w": time.time(), "toml": text}]
    now = 100.0
    for i in range(agents):
        now += 0.001
        records.append({"k": "cmd", "w": time.time(), "c": to_wire(c.Login(now, f"a{i}", "lunch"))})
    for i in range(waiting):
        now += 0.001
        cid = f"webchat-bench-{i}"
        conv = Conversation(cid, "chat", "chat", 0, cid, "webchat", resume_digest=f"{i:064x}")
        conv.add("customer", "hello, I need help with order 42", time.time())
        records.append({"k": "conv", "c": conv.record()})
        records.append(
            {"k": "cmd", "w": time.time(), "c": to_wire(c.NewContact(now, cid, "chat", "chat", cid))}
        )
    directory = work / "data" / "journal"
    path = directory / SEGMENT.format(1)
    directory.mkdir(parents=True)
    path.write_bytes(b"".join(journal.frame(r) for r in records))
    size = path.stat().st_size
    t0 = time.perf_counter()
    proc = await start_daemon(cfg, work)
    replay_s = time.perf_counter() - t0
    proc.kill()  # no snapshot at a clean stop: the worker's is timed below
    await proc.wait()
    t0 = time.perf_counter()
    done = compact(DirectoryJournal(directory), "2")
    compact_s = time.perf_counter() - t0
    snap = directory / "snapshot-00000002.bin"
    t0 = time.perf_counter()
    proc = await start_daemon(cfg, work)
    snapshot_s = time.perf_counter() - t0
    proc.kill()
    await proc.wait()
    return {
        "agents": agents,
        "waiting": waiting,
        "records": len(records),
        "journal_bytes": size,
        "start_with_replay_s": round(replay_s, 3),
        "compaction_s": round(compact_s, 3),
        "snapshot_bytes": snap.stat().st_size,
        "snapshot_contacts": done["contacts"],
        "start_from_snapshot_s": round(snapshot_s, 3),
    }


async def baseline_start(agents: int) -> float:
    """The same daemon starting with no journal to replay: the floor."""
    cfg = Path(tempfile.mkdtemp(prefix="acd-journal-")) / "bench.toml"
    write_config(cfg, agents, free_port(), "batch")
    t0 = time.perf_counter()
    proc = await start_daemon(cfg)
    ready_s = time.perf_counter() - t0
    await stop_process(proc)
    return round(ready_s, 3)


KEEP = ("chats", "offer_ms", "server_cpu_s", "errors", "not_offered")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    off = await bench_acd(args.agents, args.rate, args.seconds, "off")
    out: dict[str, Any] = {"benchmark": "bench_journal", "agents": args.agents, "rate_per_s": args.rate}
    out["journal_off"] = {k: off[k] for k in KEEP}
    for mode in ("interval", "batch"):
        on = await bench_acd(args.agents, args.rate, args.seconds, mode)
        out[f"journal_{mode}"] = {k: on[k] for k in KEEP} | {
            "offer_p50_ratio": round(on["offer_ms"]["p50"] / off["offer_ms"]["p50"], 3),
            "offer_p99_ratio": round(on["offer_ms"]["p99"] / off["offer_ms"]["p99"], 3),
            "cpu_ratio": round(on["server_cpu_s"] / off["server_cpu_s"], 3),
        }
    rec = await recovery(args.agents, args.rate, args.seconds)
    rec["start_without_journal_s"] = await baseline_start(args.agents)
    out["journal_bytes_per_chat"] = round(rec["journal_bytes"] / max(1, rec["chats"]))
    out["recovery"] = rec
    agents, waiting = (1_000, 10_000) if args.quick else (10_000, 100_000)
    scale = await recovery_at_scale(agents, waiting)
    scale["start_without_journal_s"] = await baseline_start(agents)
    out["recovery_at_scale"] = scale
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.agents, args.rate, args.seconds = 200, 100.0, 5.0
    result = asyncio.run(main_async(args))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
