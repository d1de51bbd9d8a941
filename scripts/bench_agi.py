#!/usr/bin/env python3
"""Calls through FastAGI against the running daemon, with the Asterisk peer.

    .venv/bin/python scripts/bench_agi.py --json           # the full run
    .venv/bin/python scripts/bench_agi.py --quick --json   # smaller, for a smoke check

``acd run`` runs as its own process with a generated config (one voice
queue, wrap-up 0, agents with PJSIP endpoints). Agents log in over their
desktop WebSockets. The callers and phones are ``tests/peers/asterisk.py``,
which speaks Asterisk's side of FastAGI as the transcripts show it. No AMI:
an answer is learnt when the Dial returns, which does not change the gaps
measured here.

1. **Waves** (the fixtures' app_queue anchor): 200 callers at once, 20
   agents who answer at once and talk 1 s. Prints the time until the last
   caller is connected and the *agent idle gap*: from an agent's phone
   hanging up to the next ``EXEC Dial`` reaching that phone, i.e. our own
   time between calls. Native app_queue needs 18.6 s for this (1 s re-check
   of waiting callers, see tests/fixtures/ami/README.md); the target is ~11 s
   and a gap under 20 ms.
2. **Steady rate**: new calls at ``--rate`` per second for ``--seconds``
   to ``--agents`` agents talking ``--talk`` seconds. Prints call-to-ring
   latency (the caller's socket opens → its ``EXEC Dial`` arrives, which
   includes the ANSWER and music round trips), sustained calls/s and the
   daemon's CPU seconds.

The floor, in the same run: a bare FastAGI server (its own process) that
answers, starts music and dials at once, at the same rate: the least any
FastAGI router can take per call on this machine.
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

import aiohttp
from benchlib import ROOT, free_port, proc_cpu_s, start_daemon, start_process, stop_process, summary_ms

from acd.adapters.security.passwords import hash_password

sys.path.insert(0, str(ROOT))
from tests.peers.asterisk import Caller, Pbx

FLOOR_SERVER = """
import asyncio, sys

async def call(reader, writer):
    await reader.readuntil(b"\\n\\n")
    for cmd in (b"ANSWER\\n", b"SET MUSIC ON default\\n", b'EXEC Dial "PJSIP/floor,20,g"\\n'):
        writer.write(cmd)
        await reader.readline()
    writer.close()

async def main():
    server = await asyncio.start_server(call, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def write_config(path: Path, agents: int, http_port: int, agi_port: int) -> None:
    pw = hash_password("bench", iterations=1000)
    lines = [
        'skills = ["calls"]',
        "[server]",
        f'listen = "127.0.0.1:{http_port}"',
        "[asterisk]",
        f'fastagi_listen = "127.0.0.1:{agi_port}"',
        "[queues.calls]",
        'channels = ["voice"]',
        "skills = { calls = 1 }",
        'strategy = "longest-idle"',
        "offer_timeout_s = 20",
        "wrapup_s = 0",
        "max_size = 100000",
    ]
    for i in range(agents):
        lines += [
            f"[agents.a{i}]",
            'profile = "voice"',
            "skills = { calls = 3 }",
            "queues = { calls = 1 }",
            f'endpoint = "PJSIP/a{i}"',
            f'password_hash = "{pw}"',
        ]
    path.write_text("\n".join(lines) + "\n")


async def desk(http: aiohttp.ClientSession, url: str, aid: str, ready: asyncio.Event, n: list[int]) -> None:
    """An agent desktop that logs in and then only reads (calls are answered on the phone)."""
    async with http.ws_connect(f"{url}/v1/agent/ws") as ws:
        await ws.send_json({"type": "auth", "agent": aid, "password": "bench"})
        await ws.send_json({"type": "login"})
        async for msg in ws:
            f = json.loads(msg.data)
            if f["type"] == "presence" and f["previous"] == "logged-out":
                n[0] += 1
                if n[0] == n[1]:
                    ready.set()


async def run_calls(pbx: Pbx, port: int, starts: list[float]) -> list[tuple[Caller, float]]:
    """Start a caller at each offset (seconds from now); wait until all end.
    Returns each caller with when its socket was opened."""
    callers: list[Caller] = []
    opened: list[float] = []
    t0 = time.perf_counter()
    for at in starts:
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the offered load, not synchronisation
        caller = Caller(pbx, port, "queue/calls")
        opened.append(time.perf_counter())
        await caller.start()
        callers.append(caller)
    for caller in callers:
        await caller.finished(timeout=120)
    return list(zip(callers, opened, strict=True))


def call_to_ring(calls: list[tuple[Caller, float]]) -> list[float]:
    return [c.dial_at[0] - opened for c, opened in calls if c.dial_at]


def answered(calls: list[tuple[Caller, float]]) -> int:
    return sum(1 for c, _ in calls if c.dials and c.dials[-1][1] == "ANSWER")


def idle_gaps(pbx: Pbx) -> list[float]:
    """Per phone: each hang-up to the next ring of the same phone."""
    gaps = []
    for phone in pbx.phones.values():
        for ended, rang in zip(phone.ended, phone.rings[1:], strict=False):
            gaps.append(rang - ended)
    return gaps


async def waves(agi_port: int, agents: int, callers: int, talk: float, pid: int) -> dict[str, Any]:
    pbx = Pbx()
    for i in range(agents):
        pbx.phone(f"PJSIP/a{i}", talk_s=talk)
    cpu0 = proc_cpu_s(pid)
    t0 = time.perf_counter()
    done = await run_calls(pbx, agi_port, [0.0] * callers)
    cpu = proc_cpu_s(pid) - cpu0
    connects = sorted(ring for p in pbx.phones.values() for ring in p.rings)
    return {
        "callers": callers,
        "agents": agents,
        "talk_s": talk,
        "answered": answered(done),
        "last_connected_s": round(connects[-1] - t0, 3) if connects else None,
        "agent_idle_gap_ms": summary_ms(idle_gaps(pbx)),
        "daemon_cpu_s": round(cpu, 3),
        "app_queue_anchor_s": 18.6,
    }


async def steady(
    agi_port: int, agents: int, rate: float, seconds: float, talk: float, pid: int
) -> dict[str, Any]:
    pbx = Pbx()
    for i in range(agents):
        pbx.phone(f"PJSIP/a{i}", talk_s=talk)
    n = int(rate * seconds)
    cpu0 = proc_cpu_s(pid)
    t0 = time.perf_counter()
    done = await run_calls(pbx, agi_port, [i / rate for i in range(n)])
    elapsed = time.perf_counter() - t0
    cpu = proc_cpu_s(pid) - cpu0
    lat = call_to_ring(done)
    return {
        "rate": rate,
        "seconds": seconds,
        "agents": agents,
        "calls": n,
        "answered": answered(done),
        "sustained_calls_per_s": round(n / (elapsed - talk), 1),
        "call_to_ring_ms": summary_ms(lat),
        "daemon_cpu_s": round(cpu, 3),
    }


async def floor(rate: float, seconds: float) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "floor_agi.py"
        script.write_text(FLOOR_SERVER)
        proc = await start_process(sys.executable, str(script), str(port), ready=b"ready")
        try:
            pbx = Pbx()
            pbx.phone("PJSIP/floor", talk_s=0.0)
            done = await run_calls(pbx, port, [i / rate for i in range(int(rate * seconds))])
        finally:
            await stop_process(proc)
    return {"call_to_ring_ms": summary_ms(call_to_ring(done))}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    agents = max(args.agents, args.wave_agents)
    http_port, agi_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.toml"
        write_config(cfg, agents, http_port, agi_port)
        proc = await start_daemon(cfg)
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                url = f"http://127.0.0.1:{http_port}"
                ready = asyncio.Event()
                # The wave uses the first wave_agents agents; the rest log in afterwards.
                count = [0, args.wave_agents]
                desks = [
                    asyncio.create_task(desk(http, url, f"a{i}", ready, count))
                    for i in range(args.wave_agents)
                ]
                await asyncio.wait_for(ready.wait(), 60)
                wave = await waves(agi_port, args.wave_agents, args.wave_callers, 1.0, proc.pid)
                ready.clear()
                count[:] = [0, agents - args.wave_agents]
                desks += [
                    asyncio.create_task(desk(http, url, f"a{i}", ready, count))
                    for i in range(args.wave_agents, agents)
                ]
                if agents > args.wave_agents:
                    await asyncio.wait_for(ready.wait(), 60)
                rate = await steady(agi_port, agents, args.rate, args.seconds, args.talk, proc.pid)
                for t in desks:
                    t.cancel()
                await asyncio.gather(*desks, return_exceptions=True)
        finally:
            await stop_process(proc)
    base = await floor(args.rate, args.seconds)
    ratio = (
        rate["call_to_ring_ms"]["p50"] / base["call_to_ring_ms"]["p50"]
        if base["call_to_ring_ms"]["n"]
        else None
    )
    return {
        "benchmark": "bench_agi",
        "waves": wave,
        "steady": rate,
        "floor": base,
        "call_to_ring_p50_vs_floor": round(ratio, 2) if ratio else None,
        "python": sys.version.split()[0],
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wave-callers", type=int, default=200)
    p.add_argument("--wave-agents", type=int, default=20)
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--talk", type=float, default=2.0)
    p.add_argument("--quick", action="store_true", help="40 wave callers, 100 agents, 50 calls/s for 3 s")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.wave_callers, a.agents, a.rate, a.seconds = 40, 100, 50.0, 3.0
    result = asyncio.run(main(a))
    if a.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
