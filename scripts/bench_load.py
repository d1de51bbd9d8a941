#!/usr/bin/env python3
"""Load benchmark of the running daemon over real WebSockets, with its floor.

    .venv/bin/python scripts/bench_load.py --json            # 1,000 agents, 200 chats/s, 20 s
    .venv/bin/python scripts/bench_load.py --quick --json    # 200 agents, 100 chats/s, 5 s

Starts ``acd run`` as a separate process on a free loopback port with a
generated config (N chat agents, one queue), connects N agent WebSockets
that log in, then starts chats at a steady rate from a pool of customer
WebSockets. Each agent accepts its offer at once; the customer then writes
one message; the agent ends the chat when it arrives. Measured, on one
clock in this process:

* offer latency: the customer sends ``start`` → the offer frame reaches the agent;
* relay latency: the customer sends a message → it reaches the agent;
* server CPU seconds and RSS (from /proc) over the steady phase.

In the same run, the floor: the round trip of a bare aiohttp WebSocket echo
server (also its own process) at the same message rate, so the ratio holds
on a noisy machine. Target: offer p99 < 20 ms at 1,000 agents and 200 chats/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from benchlib import free_port, proc_cpu_s, proc_rss_mb, start_daemon, start_process, stop_process, summary_ms

from acd.adapters.security.passwords import hash_password

ADMIN = "bench-admin-token"
ECHO_SERVER = """
import sys
from aiohttp import web

async def ws(request):
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    async for msg in sock:
        await sock.send_str(msg.data)
    return sock

app = web.Application()
app.router.add_get("/ws", ws)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *a: print("ready", flush=True))
"""


def write_config(path: Path, agents: int, port: int, journal: str = "off", tables: str = "") -> None:
    """``tables``: more TOML after [asterisk] (a Redis [journal] and [cluster], say)."""
    pw = hash_password("bench", iterations=1000)
    lines = [
        'skills = ["chat"]',
        "[server]",
        f'listen = "127.0.0.1:{port}"',
        f'admin_token_hash = "{hash_password(ADMIN, iterations=1000)}"',
        "position_interval_s = 1",
        # The load comes from one address: its chats are not an attack.
        "[limits]",
        "chat_starts_per_minute = 100000",
        "chat_start_burst = 100000",
        "chat_sockets_per_address = 100000",
        "password_backlog = 10000",  # every agent logs in at the same instant
        *(
            []
            if tables
            else [
                "[journal]",
                f'store = "{"off" if journal == "off" else "directory"}"',
                f'fsync = "{journal if journal != "off" else "batch"}"',
            ]
        ),
        "[asterisk]",
        'fastagi_listen = ""',
        tables,
        "[queues.chat]",
        'channels = ["chat"]',
        "skills = { chat = 1 }",
        'strategy = "least-occupied"',
        "offer_timeout_s = 30",
        "wrapup_s = 0",
    ]
    for i in range(agents):
        lines += [
            f"[agents.a{i}]",
            'profile = "chat"',
            "skills = { chat = 3 }",
            "queues = { chat = 1 }",
            f'password_hash = "{pw}"',
        ]
    path.write_text("\n".join(lines) + "\n")


class Load:
    def __init__(self, url: str) -> None:
        self.url = url
        self.started: dict[str, float] = {}  # token -> when the customer sent start
        self.sent: dict[str, float] = {}  # token -> when the customer sent its message
        self.offer_lat: list[float] = []
        self.relay_lat: list[float] = []
        self.errors = 0
        self.idle: asyncio.Queue[aiohttp.ClientWebSocketResponse] = asyncio.Queue()

    async def agent(self, http: aiohttp.ClientSession, aid: str, ready: asyncio.Event, n: list[int]) -> None:
        async with http.ws_connect(f"{self.url}/v1/agent/ws") as ws:
            await ws.send_json({"type": "auth", "agent": aid, "password": "bench"})
            await ws.send_json({"type": "login"})
            async for msg in ws:
                now = time.perf_counter()
                f = json.loads(msg.data)
                kind = f["type"]
                if kind == "offer":
                    token = f["transcript"][0]["text"]
                    t0 = self.started.pop(token, None)
                    if t0 is not None:
                        self.offer_lat.append(now - t0)
                    await ws.send_json({"type": "accept", "contact": f["contact"]})
                elif kind == "message":
                    t0 = self.sent.pop(f["text"], None)
                    if t0 is not None:
                        self.relay_lat.append(now - t0)
                    await ws.send_json({"type": "end", "contact": f["contact"]})
                elif kind == "presence" and f["presence"] == "available" and f["previous"] == "logged-out":
                    n[0] += 1
                    if n[0] == n[1]:
                        ready.set()
                elif kind == "error":
                    self.errors += 1

    async def customer(self, ws: aiohttp.ClientWebSocketResponse, token: str) -> None:
        """One chat on an idle customer socket, then back to the pool."""
        self.started[token] = time.perf_counter()
        await ws.send_json({"type": "start", "queue": "chat", "text": token})
        async for msg in ws:
            f = json.loads(msg.data)
            if f["type"] == "agent-joined":
                self.sent[f"m{token}"] = time.perf_counter()
                await ws.send_json({"type": "message", "text": f"m{token}"})
            elif f["type"] == "ended":
                break
            elif f["type"] == "error":
                self.errors += 1
                break
        self.idle.put_nowait(ws)


async def bench_acd(
    agents: int, rate: float, seconds: float, journal: str = "off", workdir: Path | None = None
) -> dict[str, Any]:
    """``journal``: off, or the fsync mode of a journal in the daemon's
    working directory (``workdir``, else a fresh one)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.toml"
        write_config(cfg, agents, port, journal)
        proc = await start_daemon(cfg, workdir)
    try:
        return await drive(f"http://127.0.0.1:{port}", agents, rate, seconds, [proc.pid])
    finally:
        await stop_process(proc)


async def drive(url: str, agents: int, rate: float, seconds: float, pids: list[int]) -> dict[str, Any]:
    """The load against a daemon already serving at ``url`` (agents a0...
    with password "bench"): log them in, then chats at ``rate`` for
    ``seconds``. ``pids``: the server processes whose CPU and RSS count."""
    load = Load(url)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        ready = asyncio.Event()
        t_login = time.perf_counter()
        counter = [0, agents]
        desks = [asyncio.create_task(load.agent(http, f"a{i}", ready, counter)) for i in range(agents)]
        await asyncio.wait_for(ready.wait(), 120)
        login_s = time.perf_counter() - t_login
        pool = [await http.ws_connect(f"{load.url}/v1/chat/ws") for _ in range(int(rate))]
        for ws in pool:
            await ws.receive()  # hello
            load.idle.put_nowait(ws)
        cpu0, t0 = sum(proc_cpu_s(p) for p in pids), time.perf_counter()
        chats: set[asyncio.Task[None]] = set()
        n = 0
        interval = 1.0 / rate
        while (elapsed := time.perf_counter() - t0) < seconds:
            due = int(elapsed / interval) + 1
            while n < due:
                if load.idle.empty():
                    ws = await http.ws_connect(f"{load.url}/v1/chat/ws")
                    await ws.receive()
                    pool.append(ws)
                else:
                    ws = load.idle.get_nowait()
                t = asyncio.create_task(load.customer(ws, f"t{n}"))
                chats.add(t)
                t.add_done_callback(chats.discard)
                n += 1
            await asyncio.sleep(interval / 2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*chats), 30)
        wall = time.perf_counter() - t0
        cpu = sum(proc_cpu_s(p) for p in pids) - cpu0
        rss = sum(proc_rss_mb(p) for p in pids)
        for ws in pool:
            await ws.close()
        for t in desks:
            t.cancel()
        await asyncio.gather(*desks, return_exceptions=True)
    return {
        "agents": agents,
        "chats": n,
        "offer_ms": summary_ms(load.offer_lat),
        "relay_ms": summary_ms(load.relay_lat),
        "not_offered": len(load.started),
        "errors": load.errors,
        "login_all_s": round(login_s, 2),
        "server_cpu_s": round(cpu, 2),
        "server_cpu_pct": round(100 * cpu / wall, 1),
        "server_rss_mb": round(rss, 1),
        "customer_sockets": len(pool),
    }


async def bench_echo(rate: float, seconds: float, conns: int) -> dict[str, Any]:
    """The floor: a bare aiohttp WebSocket echo server's round trip."""
    port = free_port()
    proc = await start_process(sys.executable, "-c", ECHO_SERVER, str(port), ready=b"ready")
    lat: list[float] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            socks = [await http.ws_connect(f"http://127.0.0.1:{port}/ws") for _ in range(conns)]
            idle: asyncio.Queue[aiohttp.ClientWebSocketResponse] = asyncio.Queue()
            for ws in socks:
                idle.put_nowait(ws)

            async def one(ws: aiohttp.ClientWebSocketResponse) -> None:
                t = time.perf_counter()
                await ws.send_str("x" * 64)
                await ws.receive()
                lat.append(time.perf_counter() - t)
                idle.put_nowait(ws)

            tasks: set[asyncio.Task[None]] = set()
            t0, n, interval = time.perf_counter(), 0, 1.0 / rate
            while (elapsed := time.perf_counter() - t0) < seconds:
                while n < int(elapsed / interval) + 1:
                    task = asyncio.create_task(one(await idle.get()))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    n += 1
                await asyncio.sleep(interval / 2)
            await asyncio.gather(*tasks)
            for ws in socks:
                await ws.close()
    finally:
        await stop_process(proc)
    return {"messages": n, "round_trip_ms": summary_ms(lat)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    echo = await bench_echo(args.rate, min(args.seconds, 10), 100)
    acd = await bench_acd(args.agents, args.rate, args.seconds)
    floor = echo["round_trip_ms"]["p99"]
    return {
        "benchmark": "bench_load",
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "acd": acd,
        "echo_floor": echo,
        "offer_p99_over_echo_p99": round(acd["offer_ms"]["p99"] / floor, 2) if floor else None,
        "target_offer_p99_ms": 20.0,
        "met": acd["offer_ms"]["p99"] < 20.0 and acd["not_offered"] == 0 and acd["errors"] == 0,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--rate", type=float, default=200.0, help="chats started per second")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--quick", action="store_true", help="200 agents, 100 chats/s, 5 s")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.agents, args.rate, args.seconds = 200, 100.0, 5.0
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(result))
    else:
        a, e = result["acd"], result["echo_floor"]["round_trip_ms"]
        print(f"{a['agents']} agents, {a['chats']} chats at {args.rate:g}/s")
        print(f"offer  p50 {a['offer_ms']['p50']} ms  p99 {a['offer_ms']['p99']} ms  (target p99 < 20 ms)")
        print(f"relay  p50 {a['relay_ms']['p50']} ms  p99 {a['relay_ms']['p99']} ms")
        print(f"echo floor p50 {e['p50']} ms  p99 {e['p99']} ms")
        print(f"server CPU {a['server_cpu_s']} s ({a['server_cpu_pct']}%), RSS {a['server_rss_mb']} MB")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
