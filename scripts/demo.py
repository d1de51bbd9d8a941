#!/usr/bin/env python3
"""Watch routing work: simulated agents and customers against a running server.

Start the server (``./scripts/run``), then in another terminal::

    .venv/bin/python scripts/demo.py            # about a minute
    .venv/bin/python scripts/demo.py --seconds 20 --url http://127.0.0.1:8080

Agents from ``config/acd.toml`` (alice and bob blended, chen chat, dana voice)
log in over the agent WebSocket with their demo passwords. Customers arrive
on the web chat WebSocket, through the signed WeChat gateway webhook, and as
phone calls (created through the supervisor API, as the Asterisk adapter
will). Agents accept, reply, sometimes transfer to support, end and finish
wrap-up; some customers give up. Every offer, answer, transfer and the queue
statistics are printed as they happen.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

ADMIN_TOKEN = "admin-demo-token"
# config/acd.toml's [webchat] identity_secret: the demo plays the shop's backend,
# which vouches for its logged-in visitors by signing an identity token.
IDENTITY_SECRET = "demo-identity-secret-for-loopback-only-0123456789"


def identity_token(claims: dict[str, Any]) -> str:
    """An HS256 JWT, as a shop's backend makes one (docs/protocol.md)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    head = b64(b'{"alg":"HS256","typ":"JWT"}')
    body = b64(json.dumps({**claims, "iat": now, "exp": now + 300}).encode())
    mac = hmac.new(IDENTITY_SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


WECHAT_SECRET = "demo-wechat-secret-change-me"
AGENTS = ("alice", "bob", "chen", "dana")


@dataclass
class Tally:
    offers: int = 0
    answered: int = 0
    transferred: int = 0
    ended: int = 0
    customers: int = 0
    gave_up: int = 0
    lines: list[str] = field(default_factory=list)


class Demo:
    def __init__(self, url: str, seconds: float, seed: int, out: Any = sys.stdout) -> None:
        self.url = url.rstrip("/")
        self.ws_url = self.url.replace("http", "ws", 1)
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.out = out
        self.t0 = time.monotonic()
        self.tally = Tally()
        self.ids = itertools.count(1)
        self.held: dict[str, set[str]] = {}  # agent -> contacts answered and not yet ended

    def say(self, who: str, text: str) -> None:
        line = f"[{time.monotonic() - self.t0:5.1f}s] {who:<9} {text}"
        self.tally.lines.append(line)
        print(line, file=self.out, flush=True)

    # ------------------------------------------------------------ agents

    async def agent(self, http: aiohttp.ClientSession, name: str, stop: asyncio.Event) -> None:
        async with http.ws_connect(f"{self.ws_url}/v1/agent/ws") as ws:
            seq = itertools.count(1)

            async def send(kind: str, **fields: Any) -> None:
                await ws.send_json({"type": kind, "id": next(seq), **fields})

            await send("auth", agent=name, password=f"{name}-demo")
            await send("login")
            work: set[asyncio.Task[None]] = set()
            stopper = asyncio.create_task(stop.wait())
            try:
                while not stop.is_set():
                    reader = asyncio.create_task(ws.receive())
                    done, _ = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    if reader not in done:
                        reader.cancel()
                        break
                    msg = reader.result()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    frame = json.loads(msg.data)
                    if frame["type"] == "error":
                        self.say(name, f"error: {frame['error']['code']}: {frame['error']['message']}")
                    elif frame["type"] == "offer":
                        self.tally.offers += 1
                        d = frame.get("decision", {})
                        first = frame["transcript"][0]["text"] if frame.get("transcript") else ""
                        self.say(
                            name,
                            f"offered {frame['channel']:<6} {frame['contact']} from {frame['queue']} "
                            f"({d.get('strategy')}, {d.get('score')}) {first[:30]!r}",
                        )
                        t = asyncio.create_task(self.handle(name, frame, send))
                        work.add(t)
                        t.add_done_callback(work.discard)
                    elif frame["type"] == "message" and frame.get("from") == "customer":
                        self.say(name, f"reads    {frame['contact']}: {frame['text']!r}")
            finally:
                stopper.cancel()
                for t in work:
                    t.cancel()
                await asyncio.gather(stopper, *work, return_exceptions=True)
                if not ws.closed:  # the end of the shift: finish what is open, then log out
                    for cid in sorted(self.held.pop(name, set())):
                        await send("end", contact=cid)
                        await send("wrap-up-done", contact=cid)
                    await send("logout")
                    await self.drain(ws)

    @staticmethod
    async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read until the server has answered everything sent (the last frame sent has id 'bye')."""
        await ws.send_json({"type": "ping", "id": "bye"})
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.TEXT or json.loads(msg.data).get("id") == "bye":
                return

    async def handle(self, name: str, offer: dict[str, Any], send: Any) -> None:
        cid = offer["contact"]
        await asyncio.sleep(self.rng.uniform(0.3, 1.5))
        await send("accept", contact=cid)
        held = self.held.setdefault(name, set())
        held.add(cid)
        self.tally.answered += 1
        self.say(name, f"answers  {cid}")
        if offer["channel"] != "voice":
            await send("message", contact=cid, text=f"Hello, this is {name}. How can I help?")
        await asyncio.sleep(self.rng.uniform(2, 6))
        held.discard(cid)  # from here on the contact leaves this agent
        chat = offer["channel"] != "voice"
        if offer["queue"] == "sales" and chat and (self.tally.transferred == 0 or self.rng.random() < 0.3):
            await send("transfer", contact=cid, queue="support")
            self.tally.transferred += 1
            self.say(name, f"transfers {cid} to support")
        else:
            await send("end", contact=cid)
            self.tally.ended += 1
            self.say(name, f"ends     {cid}")
        await asyncio.sleep(self.rng.uniform(0.5, 2))
        await send("wrap-up-done", contact=cid)

    # --------------------------------------------------------- customers

    async def web_customer(self, http: aiohttp.ClientSession, queue: str) -> None:
        n = next(self.ids)
        start: dict[str, Any] = {
            "type": "start",
            "id": 1,
            "queue": queue,
            "text": self.rng.choice(["Is this in stock?", "My order is late", "Do you ship abroad?"]),
        }
        if n % 2:  # logged in at the shop: verified, so their history follows them
            start["identity_token"] = identity_token(
                {"name": f"Visitor {n}", "email": f"visitor{n}@example.com"}
            )
        else:  # anonymous: what they type is shown to the agent as claimed, nothing more
            start["identity"] = {"name": f"Visitor {n}"}
        async with http.ws_connect(f"{self.ws_url}/v1/chat/ws") as ws:
            await ws.send_json(start)
            self.tally.customers += 1
            patience = self.rng.uniform(8, 40)
            deadline = time.monotonic() + patience
            while True:
                try:
                    msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
                except TimeoutError:
                    self.tally.gave_up += 1
                    self.say("customer", f"visitor {n} gives up after {patience:.0f}s")
                    await ws.send_json({"type": "end"})
                    return
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                frame = json.loads(msg.data)
                if frame["type"] == "ack" and "contact" in frame:
                    self.say("customer", f"visitor {n} starts a chat in {queue}: {frame['contact']}")
                elif frame["type"] == "position":
                    self.say("customer", f"visitor {n} is #{frame['position']} in line")
                elif frame["type"] == "agent-joined":
                    deadline = float("inf")
                    await ws.send_json({"type": "message", "text": "Thanks! Order 42, please."})
                elif frame["type"] == "ended":
                    return

    async def wechat_customer(self, http: aiohttp.ClientSession) -> None:
        n = next(self.ids)
        body = json.dumps(
            {"message_id": f"demo-{n}-{time.time()}", "user": f"openid-{n}", "text": "你好, my parcel?"}
        ).encode()
        ts = str(int(time.time()))
        sig = (
            "sha256="
            + hmac.new(WECHAT_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        headers = {"X-Acd-Timestamp": ts, "X-Acd-Signature": sig, "Content-Type": "application/json"}
        async with http.post(f"{self.url}/v1/gateways/wechat/messages", data=body, headers=headers) as r:
            reply = await r.json()
        self.tally.customers += 1
        self.say("wechat", f"openid-{n} writes in: {reply.get('contact', reply)}")

    async def caller(self, http: aiohttp.ClientSession) -> None:
        n = next(self.ids)
        body = {"queue": "sales", "channel": "voice", "customer": f"+86138000{n:05d}"}
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with http.post(f"{self.url}/v1/contacts", json=body, headers=headers) as r:
            reply = await r.json()
        self.tally.customers += 1
        self.say("phone", f"+86138000{n:05d} calls sales: {reply.get('contact', reply)}")

    # --------------------------------------------------------------- run

    async def stats(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 10)
            async with http.get(f"{self.url}/v1/queues", headers=headers) as r:
                queues = (await r.json())["queues"]
            for q in queues:
                sl = q["service_level_pct"]
                self.say(
                    "stats",
                    f"{q['name']:<8} waiting {q['waiting']} connected {q['connected']} "
                    f"offered {q['offered']} answered {q['answered']} abandoned {q['abandoned']} "
                    f"SL {'-' if sl is None else f'{sl:.0f}%'}",
                )

    async def run(self) -> Tally:
        stop = asyncio.Event()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.url}/readyz") as r:
                if r.status != 200:
                    raise SystemExit(f"the server at {self.url} is not ready (HTTP {r.status})")
            background = [asyncio.create_task(self.agent(http, a, stop)) for a in AGENTS]
            background.append(asyncio.create_task(self.stats(http, stop)))
            customers: list[asyncio.Task[None]] = []
            end = time.monotonic() + self.seconds
            while time.monotonic() < end:
                kind = self.rng.random()
                if kind < 0.55:
                    coro = self.web_customer(http, self.rng.choice(["sales", "support"]))
                elif kind < 0.75:
                    coro = self.wechat_customer(http)
                else:
                    coro = self.caller(http)
                customers.append(asyncio.create_task(coro))
                await asyncio.sleep(self.rng.uniform(0.5, 3))
            for task in customers:
                task.cancel()
            await asyncio.gather(*customers, return_exceptions=True)
            stop.set()
            await asyncio.gather(*background)
        t = self.tally
        self.say(
            "summary",
            f"{t.customers} customers, {t.offers} offers, {t.answered} answered, "
            f"{t.transferred} transferred, {t.ended} ended, {t.gave_up} gave up",
        )
        return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--seconds", type=float, default=60.0, help="how long customers keep arriving")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    asyncio.run(Demo(args.url, args.seconds, args.seed).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
