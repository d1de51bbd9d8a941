#!/usr/bin/env python3
"""What the browser pages cost in script time, in Debian's Chromium.

    .venv/bin/python scripts/bench_ui.py --json            # 1,000 agents, 100 queues, 60 offers
    .venv/bin/python scripts/bench_ui.py --quick --json    # 100 agents, 10 queues, 20 offers

A daemon with the centre above (every agent logged in over the agent
socket, half of them available) and, in Chromium driven by Playwright:

* the wallboard (``/supervisor``): the page measures every repaint
  (``performance.measure("acd-paint")``: queue table, agent grid, open
  contacts, events) for ten seconds while a tenth of the agents change
  presence every second and stats frames (every 2 s) and agent refreshes
  arrive; target: a 1-second update under 50 ms of script time (the first
  paint, which builds every row, is reported apart);
* the agent desktop (``/agent``): customers start chats that are offered to
  that agent, who rejects each so the next comes; the page measures from
  the offer frame to the offer drawn (``acd-offer``); target under 50 ms.

Baseline in the same run, the same page: parsing the same data
(``JSON.parse`` of the agents and queue statistics), the floor of any page
that shows them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import free_port, start_daemon, stop_process, summary_ms

from acd.adapters.security.passwords import hash_password

CHROMIUM = "/usr/bin/chromium"


def write_config(path: Path, agents: int, queues: int, port: int) -> None:
    pw = hash_password("bench", iterations=1000)
    lines = [
        'skills = ["chat"]',
        "[server]",
        f'listen = "127.0.0.1:{port}"',
        "[limits]",
        "chat_starts_per_minute = 100000",
        "chat_start_burst = 100000",
        "chat_sockets_per_address = 100000",
        "password_backlog = 10000",
        "auth_failure_burst = 10000",
        "[asterisk]",
        'fastagi_listen = ""',
        "[supervisors.boss]",
        f'password_hash = "{pw}"',
        'role = "admin"',
    ]
    for q in range(queues):
        lines += [f"[queues.q{q}]", 'channels = ["chat"]', "skills = { chat = 1 }", "offer_timeout_s = 30"]
    for i in range(agents):
        serves = ", ".join(f"q{(i + k) % queues} = {k + 1}" for k in range(3))
        lines += [f"[agents.a{i}]", 'profile = "chat"', "skills = { chat = 3 }", f"queues = {{ {serves} }}"]
        lines.append(f'password_hash = "{pw}"')
    path.write_text("\n".join(lines) + "\n")


async def staff(http: aiohttp.ClientSession, base: str, agents: int) -> list[aiohttp.ClientWebSocketResponse]:
    """Every agent at a desktop, logged in; even ones available, odd ones away."""
    socks = []
    for i in range(agents):
        if i == 0:
            continue  # a0 works in the browser
        ws = await http.ws_connect(f"{base.replace('http', 'ws')}/v1/agent/ws")
        await ws.receive_json()
        await ws.send_json({"type": "auth", "id": 1, "agent": f"a{i}", "password": "bench"})
        await ws.send_json({"type": "login", "id": 2, **({"away_reason": "lunch"} if i % 2 else {})})
        socks.append(ws)
    for ws in socks:  # drain both acks
        while True:
            f = await ws.receive_json()
            if f.get("id") == 2:
                break
    return socks


async def run(agents: int, queues: int, offers: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="acd-ui-"))
    port = free_port()
    cfg = work / "ui.toml"
    write_config(cfg, agents, queues, port)
    proc = await start_daemon(cfg, work)
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"benchmark": "bench_ui", "agents": agents, "queues": queues}
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # a socket per agent
    try:
        desks = await staff(http, base, agents)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            wall = await (await browser.new_context()).new_page()
            await wall.goto(f"{base}/supervisor")
            await wall.fill("input[name=user]", "boss")
            await wall.fill("input[name=password]", "bench")
            await wall.click("#login button[type=submit]")
            # a function, not an expression: the pages' CSP forbids eval
            await wall.wait_for_function(
                "n => document.querySelectorAll('#agents tbody tr').length === n", arg=agents
            )
            await wall.wait_for_timeout(2500)  # the first full build, and a stats frame
            first = await wall.evaluate("performance.getEntriesByName('acd-paint').map(e => e.duration)")
            # Ten seconds of a live centre: every second a tenth of the agents
            # change presence (their rows change), queue stats every 2 s.
            for second in range(10):
                for i, ws in enumerate(desks):
                    if i % 10 == second:
                        change = (
                            {"type": "away", "reason": "break"} if (i // 10) % 2 else {"type": "available"}
                        )
                        await ws.send_json({**change, "id": 9})
                await wall.wait_for_timeout(1000)
            paints = await wall.evaluate("performance.getEntriesByName('acd-paint').map(e => e.duration)")
            out["wallboard_first_paint_ms"] = round(first[0], 1) if first else None
            paints = paints[len(first) :]  # the updates, after the first paints
            floor = await wall.evaluate(
                """async () => {
                  const agents = JSON.stringify(await (await fetch('/v1/agents')).json());
                  const queues = JSON.stringify(await (await fetch('/v1/queues')).json());
                  const out = [];
                  for (let i = 0; i < 20; i++) {
                    const t0 = performance.now();
                    JSON.parse(agents); JSON.parse(queues);
                    out.push(performance.now() - t0);
                  }
                  return out;
                }"""
            )
            out["wallboard_paint_ms"] = summary_ms([x / 1000 for x in paints])  # it takes seconds
            out["wallboard_paints"] = len(paints)
            out["baseline_parse_ms"] = summary_ms([x / 1000 for x in floor])

            desk = await (await browser.new_context()).new_page()
            await desk.goto(f"{base}/agent")
            await desk.fill("input[name=user]", "a0")
            await desk.fill("input[name=password]", "bench")
            await desk.click("#login button[type=submit]")
            await desk.wait_for_function("() => document.getElementById('net').textContent.length > 0")
            await desk.select_option("#presence", "available")
            for ws in desks:  # only a0 takes work now
                await ws.send_json({"type": "away", "id": 3, "reason": "bench"})
            async with aiohttp.ClientSession() as customers:
                for n in range(offers):
                    chat = await customers.ws_connect(f"{base.replace('http', 'ws')}/v1/chat/ws")
                    await chat.receive_json()
                    await chat.send_json({"type": "start", "id": 1, "queue": "q0", "text": f"hello {n}"})
                    await desk.wait_for_selector(".offer")
                    await desk.click(".offer button:has-text('Reject')")
                    await desk.wait_for_selector(".offer", state="detached")
                    await chat.close()
            lat = await desk.evaluate("performance.getEntriesByName('acd-offer').map(e => e.duration)")
            out["offer_to_screen_ms"] = summary_ms([x / 1000 for x in lat])
            out["offers"] = len(lat)
            await browser.close()
        for ws in desks:
            await ws.close()
    finally:
        await http.close()
        await stop_process(proc)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--queues", type=int, default=100)
    p.add_argument("--offers", type=int, default=60)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.agents, args.queues, args.offers = 100, 10, 20
    result = asyncio.run(run(args.agents, args.queues, args.offers))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
