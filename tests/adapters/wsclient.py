"""A test client for the daemon's WebSockets: send requests, await frames.

Frames that arrive while waiting for something else are kept in arrival
order, so a test can ask for them later; nothing sleeps, every wait is a
receive with a timeout.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import msgpack

from acd.adapters.daemon.config_file import AcdSettings, parse
from acd.adapters.daemon.server import Server
from acd.adapters.security.identity_token import sign as sign_identity
from acd.adapters.security.passwords import hash_password

TIMEOUT = 5.0
ADMIN = "test-admin-token"
IDENTITY_SECRET = "test-identity-secret-0123456789-abcdef"  # [webchat] identity_secret of settings()
AUTH = {"Authorization": f"Bearer {ADMIN}"}


class WSError(AssertionError):
    pass


class WSClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, binary: bool = False) -> None:
        self.ws = ws
        self.binary = binary
        self.pending: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    async def _recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            frame: dict[str, Any] = json.loads(msg.data)
            return frame
        if msg.type == aiohttp.WSMsgType.BINARY:
            packed: dict[str, Any] = msgpack.unpackb(msg.data, raw=False)
            return packed
        raise WSError(f"connection ended: {msg.type.name} {msg.data!r} {msg.extra!r}")

    async def send_raw(self, frame: dict[str, Any]) -> None:
        if self.binary:
            await self.ws.send_bytes(msgpack.packb(frame, use_bin_type=True))
        else:
            await self.ws.send_json(frame)

    async def call(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Send a request; return its ack, or raise WSError with its error."""
        reply = await self.request(type_, **fields)
        if reply["type"] == "error":
            raise WSError(f"{reply['error']['code']}: {reply['error']['message']}")
        return reply

    async def request(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Send a request; return the ack or error frame that answers it."""
        rid = next(self._ids)
        await self.send_raw({"type": type_, "id": rid, **fields})
        while True:
            frame = await self._recv()
            if frame.get("id") == rid and frame["type"] in ("ack", "error"):
                return frame
            self.pending.append(frame)

    async def expect(self, type_: str, **match: Any) -> dict[str, Any]:
        """The first frame (kept or new) of this type whose fields match."""
        for i, f in enumerate(self.pending):
            if f["type"] == type_ and all(f.get(k) == v for k, v in match.items()):
                return self.pending.pop(i)
        while True:
            f = await self._recv()
            if f["type"] == type_ and all(f.get(k) == v for k, v in match.items()):
                return f
            self.pending.append(f)

    def seen(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        return [
            f for f in self.pending if f["type"] == type_ and all(f.get(k) == v for k, v in match.items())
        ]


def identity_token(identity: dict[str, str], ttl_s: float = 300.0) -> str:
    now = time.time()
    return sign_identity({**identity, "iat": int(now), "exp": int(now + ttl_s)}, IDENTITY_SECRET)


def pw(agent: str) -> str:
    return f"{agent}-secret"


def settings(
    extra_agents: dict[str, dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    **server: Any,
) -> AcdSettings:
    """A small centre: sales (voice, chat), support (chat); fast timers.
    ``extra``: more top-level config (its queues are merged in)."""
    agents: dict[str, dict[str, Any]] = {
        "alice": {"profile": "blended", "skills": {"sales": 3}, "queues": {"sales": 1}},
        "bob": {
            "profile": "chat",
            "skills": {"sales": 2, "support": 3},
            "queues": {"sales": 2, "support": 1},
        },
        **(extra_agents or {}),
    }
    for aid, a in agents.items():
        a.setdefault("password_hash", hash_password(pw(aid), iterations=1000))
    data: dict[str, Any] = {
        "skills": ["sales", "support"],
        "server": {
            "listen": "127.0.0.1:0",
            "admin_token_hash": hash_password(ADMIN, iterations=1000),
            "agent_grace_s": 0.3,
            "customer_grace_s": 0.3,
            "position_interval_s": 0.05,
            **server,
        },
        "queues": {
            "sales": {
                "channels": ["voice", "chat"],
                "skills": {"sales": 1},
                "offer_timeout_s": 5,
                "wrapup_s": 30,
            },
            "support": {"channels": ["chat"], "skills": {"support": 1}, "offer_timeout_s": 5, "wrapup_s": 30},
        },
        "agents": agents,
        "webchat": {"identity_secret": IDENTITY_SECRET},
    }
    for k, v in (extra or {}).items():
        data[k] = {**data[k], **v} if k == "queues" else v
    return parse(data, "test.toml", env={})


@asynccontextmanager
async def running(s: AcdSettings | None = None) -> AsyncIterator[Server]:
    server = Server(s or settings(), port=0, agi_port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Session:
    """One aiohttp session per test; sockets close with it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = aiohttp.ClientSession()

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.server.bound_port}{path}"

    async def agent(self, agent_id: str, login: bool = True, binary: bool = False) -> WSClient:
        c = WSClient(await self.http.ws_connect(self.url("/v1/agent/ws")), binary)
        await c.expect("hello")
        await c.call("auth", agent=agent_id, password=pw(agent_id))
        if login:
            await c.call("login")
        return c

    async def customer(
        self, queue: str, text: str = "hello", verified: dict[str, str] | None = None, **fields: Any
    ) -> tuple[WSClient, str]:
        """A web chat customer; ``verified``: an identity the site's backend
        vouches for (signed into an identity token), ``identity``: one merely typed."""
        c = WSClient(await self.http.ws_connect(self.url("/v1/chat/ws")))
        await c.expect("hello")
        if verified is not None:
            fields["identity_token"] = identity_token(verified)
        ack = await c.call("start", queue=queue, text=text, **fields)
        return c, ack["contact"]

    async def serve(self, desk: WSClient, contact: str) -> None:
        """The agent takes the contact's offer, ends it, finishes wrap-up;
        returns once its history record is stored."""
        await desk.expect("offer", contact=contact)
        await desk.call("accept", contact=contact)
        await desk.call("end", contact=contact)
        await desk.call("wrap-up-done", contact=contact)
        await self.server.customer_desk.drained()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        async with self.http.post(self.url(path), json=body or {}, headers=AUTH) as r:
            return r.status, await r.json()

    async def close(self) -> None:
        await self.http.close()


@asynccontextmanager
async def session(s: AcdSettings | None = None) -> AsyncIterator[Session]:
    async with running(s) as server:
        sess = Session(server)
        try:
            yield sess
        finally:
            await sess.close()
