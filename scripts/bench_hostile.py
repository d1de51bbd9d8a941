#!/usr/bin/env python3
"""What hostile clients cost the daemon: three attacks of the outside review,
each against a baseline measured in the same run.

* ``flood``: /healthz latency and the latency from ``POST /v1/contacts`` to
  the agent's ``offer`` frame, idle (the baseline), then while 50 clients
  send wrong admin tokens as fast as they can. The ratio is what counts.
* ``amplify``: the daemon's RSS before and after one web chat customer who
  fills a conversation, stops reading, and asks ``resume`` (whose answer
  carries the transcript) again and again.
* ``probes``: the daemon's open descriptors before and after 5,000 FastAGI
  connections that close, or go silent, before their environment ends.

``--checkout DIR`` runs another checkout's daemon (its own shipped config,
pure Python) to compare, e.g. the commit before the hardening:

    git worktree add /tmp/before f2654ec
    .venv/bin/python scripts/bench_hostile.py --json --checkout /tmp/before
    .venv/bin/python scripts/bench_hostile.py --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, free_port, proc_rss_mb, start_process, stop_process, summary_ms

ADMIN = "admin-demo-token"  # config/acd.toml's, before and after
ATTACK_S = 5.0  # the attack lasts at least this long


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Daemon:
    """``acd run`` of a checkout with its shipped config/acd.toml, on free ports."""

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout
        self.port = free_port()
        self.agi_port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Daemon:
        text = (self.checkout / "config" / "acd.toml").read_text()
        text = text.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{self.port}"')
        text = text.replace(
            'fastagi_listen = "127.0.0.1:4573"', f'fastagi_listen = "127.0.0.1:{self.agi_port}"'
        )
        cfg = Path(tempfile.mkdtemp(prefix="acd-hostile-")) / "acd.toml"
        cfg.write_text(text)
        new_layout = (self.checkout / "adapters" / "daemon" / "cli.py").exists()
        module = "acd.adapters.daemon.cli" if new_layout else "acd.adapters.cli"
        env = {**os.environ, "PYTHONPATH": str(self.checkout)}
        if self.checkout != ROOT:
            env["ACD_PURE_PYTHON"] = "1"  # that checkout has no compiled build
        os.environ.update({k: v for k, v in env.items() if k in ("PYTHONPATH", "ACD_PURE_PYTHON")})
        try:
            self.proc = await start_process(
                sys.executable, "-m", module, "run", "--config", str(cfg), ready=b"serving on", cwd=cfg.parent
            )
        finally:
            os.environ.pop("PYTHONPATH", None)
            os.environ.pop("ACD_PURE_PYTHON", None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            await stop_process(self.proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def url(self, path: str, ws: bool = False) -> str:
        return f"{'ws' if ws else 'http'}://127.0.0.1:{self.port}{path}"


async def frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=30)
    if msg.type != aiohttp.WSMsgType.TEXT:
        raise SystemExit(f"the daemon closed a socket: {msg.type.name} {msg.data!r} {msg.extra!r}")
    got: dict[str, Any] = json.loads(msg.data)
    return got


async def agent_desk(http: aiohttp.ClientSession, d: Daemon, agent: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(d.url("/v1/agent/ws", ws=True))
    await ws.send_json({"type": "auth", "id": 1, "agent": agent, "password": f"{agent}-demo"})
    await ws.send_json({"type": "login", "id": 2})
    while True:
        f = await frame(ws)
        if f.get("type") == "error":
            raise SystemExit(f"agent {agent}: {f}")
        if f.get("id") == 2:
            return ws


async def measure(
    http: aiohttp.ClientSession, d: Daemon, desk: aiohttp.ClientWebSocketResponse, n: int
) -> dict[str, Any]:
    health: list[float] = []
    offers: list[float] = []
    auth = {"Authorization": f"Bearer {ADMIN}"}
    for i in range(n):
        t0 = time.perf_counter()
        async with http.get(d.url("/healthz")) as r:
            await r.read()
        health.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        body = {"queue": "support", "channel": "chat", "text": f"sample {i}"}
        async with http.post(d.url("/v1/contacts"), json=body, headers=auth) as r:
            cid = (await r.json())["contact"]
        while True:
            f = await frame(desk)
            if f.get("type") == "offer" and f.get("contact") == cid:
                offers.append(time.perf_counter() - t0)
                break
        for kind in ("accept", "end", "wrap-up-done"):
            await desk.send_json({"type": kind, "contact": cid})
    seconds = sum(health) + sum(offers)
    return {"healthz_ms": summary_ms(health), "offer_ms": summary_ms(offers), "seconds": round(seconds, 3)}


async def flood(d: Daemon, clients: int, samples: int) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        desk = await agent_desk(http, d, "chen")  # chat-only: takes the work items
        idle = await measure(http, d, desk, samples)
        # The attackers run in a process of their own: in this one, their
        # requests would queue the measuring client's behind them.
        attack = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--attack",
            d.url("/v1/queues"),
            "--clients",
            str(clients),
            stdout=asyncio.subprocess.PIPE,
        )
        assert attack.stdout is not None
        await attack.stdout.readline()  # "attacking": every client has sent its first request
        attacked = await measure(http, d, desk, samples)
        await asyncio.sleep(max(0.0, ATTACK_S - attacked["seconds"]))  # a rate over a few seconds at least
        attack.terminate()
        out, _ = await attack.communicate()
        sent, seconds = (float(x) for x in out.split()[-2:])
        await desk.close()
    return {
        "idle": idle,
        "attacked": attacked,
        "wrong_tokens_per_s": round(sent / seconds),  # answered, over the attack's whole length
        "offer_p50_ratio": round(attacked["offer_ms"]["p50"] / idle["offer_ms"]["p50"], 2),
        "healthz_p50_ratio": round(attacked["healthz_ms"]["p50"] / idle["healthz_ms"]["p50"], 2),
    }


async def attack(url: str, clients: int) -> None:
    """``--attack``: wrong admin tokens as fast as ``clients`` connections can
    send them, until SIGTERM; prints how many were answered."""
    sent = 0
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(15, stop.set)
    started = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(k: int) -> None:
            nonlocal sent
            bad = {"Authorization": f"Bearer wrong-token-{k}-" + "x" * 24}
            while not stop.is_set():
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url, headers=bad) as r:
                        await r.read()
                sent += 1
                if sent >= clients:
                    started.set()

        tasks = [asyncio.create_task(one(k)) for k in range(clients)]
        await started.wait()
        t0 = time.perf_counter()
        print("attacking", flush=True)
        await stop.wait()
        await asyncio.gather(*tasks)
    print(sent, time.perf_counter() - t0, flush=True)


async def amplify(d: Daemon, messages: int, resumes: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        base = proc_rss_mb(d.pid)
        ws = await http.ws_connect(d.url("/v1/chat/ws", ws=True), max_msg_size=0)
        await ws.send_json({"type": "start", "id": 0, "queue": "sales", "text": "hi"})
        token = None
        while token is None:
            f = await frame(ws)
            token = f.get("resume_token")
        accepted = 0
        for i in range(messages):  # fill the conversation as far as the server lets it
            # 16,000 emoji: 64,000 bytes of UTF-8, just under the frame limit
            await ws.send_str(
                json.dumps({"type": "message", "id": i + 1, "text": "😀" * 15_990}, ensure_ascii=False)
            )
            while True:
                f = await frame(ws)
                if f.get("id") == i + 1:
                    break
            if f["type"] != "ack":
                break
            accepted += 1
        ws._response.connection.transport.pause_reading()  # type: ignore[union-attr]  # stop reading
        for i in range(resumes):
            try:
                await ws.send_json({"type": "resume", "id": 10**6 + i, "token": token})
            except (ConnectionError, RuntimeError):
                break
            await asyncio.sleep(0)
        await asyncio.sleep(3)  # the daemon works through what it was sent: nothing to await from outside
        peak = proc_rss_mb(d.pid)
        with contextlib.suppress(Exception):
            await ws.close()
    return {
        "messages_accepted": accepted,
        "resumes_sent": resumes,
        "rss_mb_before": round(base, 1),
        "rss_mb_after": round(peak, 1),
        "rss_mb_growth": round(peak - base, 1),
    }


async def probes(d: Daemon, n: int) -> dict[str, Any]:
    before = open_fds(d.pid)

    async def one(k: int) -> None:
        with contextlib.suppress(OSError):
            _, w = await asyncio.open_connection("127.0.0.1", d.agi_port)
            if k % 5 == 0:
                w.write(b"agi_network: yes\n")  # half an environment
            w.close()
            await w.wait_closed()

    t0 = time.perf_counter()
    for start in range(0, n, 250):
        await asyncio.gather(*(one(k) for k in range(start, min(n, start + 250))))
    await asyncio.sleep(1)  # let the daemon see the last closes
    return {
        "probes": n,
        "fds_before": before,
        "fds_after": open_fds(d.pid),
        "seconds": round(time.perf_counter() - t0, 2),
    }


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer samples (< 1 min)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--checkout", type=Path, default=ROOT, help="the checkout whose daemon to run")
    p.add_argument("--only", default="flood,amplify,probes")
    p.add_argument("--attack", metavar="URL", help=argparse.SUPPRESS)
    p.add_argument("--clients", type=int, default=50, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.attack:
        await attack(args.attack, args.clients)
        return
    checkout = args.checkout.resolve()
    out: dict[str, Any] = {"checkout": str(checkout)}
    only = set(args.only.split(","))
    if "flood" in only:
        async with Daemon(checkout) as d:
            out["flood"] = await flood(d, 50, 20 if args.quick else 60)
    if "amplify" in only:
        async with Daemon(checkout) as d:
            out["amplify"] = await amplify(d, 100 if args.quick else 400, 200 if args.quick else 400)
    if "probes" in only:
        async with Daemon(checkout) as d:
            out["probes"] = await probes(d, 1000 if args.quick else 5000)
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    asyncio.run(main())
