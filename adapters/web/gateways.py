"""Messaging gateways (WeChat, WhatsApp, Telegram bridges, e-mail): signed
webhooks in, signed callbacks out.

Inbound: ``POST /v1/gateways/{name}/messages`` with a JSON body
``{"message_id", "user", "text", "identity"?, "attributes"?, "type"?}`` and
two headers: ``X-Acd-Timestamp`` (Unix seconds) and ``X-Acd-Signature:
sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``. A bad signature,
a timestamp more than ``WINDOW_S`` away, or a ``message_id`` already seen in
that window is refused and changes nothing. The first message of a user
starts a conversation in the gateway's queue; later ones join it.

Outbound: what the customer should see (agent joined, agent messages,
transferred, ended) is POSTed to the gateway's ``callback_url``, signed the
same way, one at a time per gateway so order is kept, retried with backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from acd import commands as cmds
from acd.adapters.daemon.config_file import GatewaySettings
from acd.adapters.daemon.conversations import Conversation
from acd.adapters.daemon.hub import Hub
from acd.adapters.daemon.surveys import parse_score
from acd.adapters.web import frames
from acd.adapters.web.frames import Unauthorized
from acd.codec import MalformedMessage
from acd.errors import InvalidRequest
from acd.journal import Journal

log = logging.getLogger("acd.gateways")

WINDOW_S = 300.0  # accepted clock skew either way; message ids are remembered twice as long
TIMESTAMP = "X-Acd-Timestamp"
SIGNATURE = "X-Acd-Signature"
RETRIES_S = (0.2, 1.0, 5.0)  # waits between delivery attempts
# Frames an external platform gets (position updates would be spam there).
DELIVERED = frozenset({"agent-joined", "message", "transferred", "ended", "queued", "survey", "handed-off"})
MAX_BODY = 64 * 1024


class Replayed(InvalidRequest):
    code = "replayed"


class NoConversation(InvalidRequest):
    code = "no-conversation"


class UnknownGateway(InvalidRequest):
    code = "unknown-gateway"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def check_signature(secret: str, timestamp: str, body: bytes, signature: str, now: float) -> None:
    """Raise Unauthorized unless the signature matches and the time is fresh."""
    try:
        ts = float(timestamp)
    except ValueError:
        raise Unauthorized(f"{TIMESTAMP} must be Unix seconds") from None
    if not math.isfinite(ts) or abs(now - ts) > WINDOW_S:
        raise Unauthorized(f"{TIMESTAMP} is more than {WINDOW_S:.0f} s away from the server's clock")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise Unauthorized("bad signature")


class Gateway:
    """One configured gateway: its replay memory and its delivery queue."""

    def __init__(self, settings: GatewaySettings, wall_clock: Callable[[], float]) -> None:
        self.settings = settings
        self.wall_clock = wall_clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # message id -> when, oldest first
        self._out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.journal: Journal | None = None
        self.delivered = 0
        self.failed = 0

    def remember(self, message_id: str, now: float) -> None:
        """Raise Replayed for an id seen within the window. O(1) amortised.

        A signature is fresh while its timestamp is within WINDOW_S of the
        clock, either way: a message signed for now + WINDOW_S can be
        replayed until now + 2 x WINDOW_S, so ids are kept that long."""
        while self._seen and next(iter(self._seen.values())) < now - 2 * WINDOW_S:
            self._seen.popitem(last=False)
        if message_id in self._seen:
            raise Replayed(f"message {message_id!r} was already received")
        self._seen[message_id] = now
        if self.journal is not None:  # a restart must not accept it again
            self.journal.append({"k": "gwid", "g": self.settings.name, "id": message_id, "at": now})

    def deliver(self, conv: Conversation, frame: dict[str, Any]) -> None:
        if frame["type"] in DELIVERED:
            self.deliver_to(conv.external_user, conv.contact_id, frame)

    def deliver_to(self, user: str | None, contact_id: str, frame: dict[str, Any]) -> None:
        if self.settings.callback_url is not None:
            self._out.put_nowait(
                {"gateway": self.settings.name, "user": user, "contact": contact_id, **frame}
            )

    async def run(self, http: aiohttp.ClientSession) -> None:
        """Deliver in order, one at a time; give up on one after the retries."""
        while True:
            item = await self._out.get()
            url = self.settings.callback_url  # read per item: a reload may change it
            if url is None:
                continue
            body = json.dumps(item, separators=(",", ":")).encode()
            for wait in (*RETRIES_S, None):
                ts = str(int(self.wall_clock()))
                headers = {
                    "Content-Type": "application/json",
                    TIMESTAMP: ts,
                    SIGNATURE: sign(self.settings.secret, ts, body),
                }
                try:
                    async with http.post(url, data=body, headers=headers) as r:
                        if r.status < 300:
                            self.delivered += 1
                            break
                        problem = f"HTTP {r.status}"
                except (aiohttp.ClientError, TimeoutError) as e:
                    problem = type(e).__name__
                if wait is None:
                    self.failed += 1
                    log.warning(
                        "gateway %s: gave up delivering to the callback: %s", self.settings.name, problem
                    )
                    break
                await asyncio.sleep(wait)


class Gateways:
    def __init__(
        self, hub: Hub, settings: dict[str, GatewaySettings], wall_clock: Callable[[], float] = time.time
    ) -> None:
        self.hub = hub
        self.wall_clock = wall_clock
        self.gateways = {name: Gateway(g, wall_clock) for name, g in settings.items()}
        self._http: aiohttp.ClientSession | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._journal: Journal | None = None

    async def start(self) -> None:
        for name in self.gateways:
            self._deliver(name)

    def use_journal(self, journal: Journal | None, records: list[dict[str, Any]]) -> None:
        """Put accepted message ids on record, and take back those of the
        replay window from before a restart. O(records)."""
        now = self.wall_clock()
        self._journal = journal
        for g in self.gateways.values():
            g.journal = journal
        for rec in records:
            gw = self.gateways.get(rec["g"])
            if gw is not None and rec["at"] >= now - 2 * WINDOW_S:
                gw._seen[rec["id"]] = rec["at"]

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = {}
        if self._http is not None:
            await self._http.close()

    async def update(self, settings: dict[str, GatewaySettings]) -> None:
        """A reload: new secrets, queues and callbacks apply to the next
        request; a removed gateway stops delivering; a new one starts."""
        for name in [n for n in self.gateways if n not in settings]:
            del self.gateways[name]
            task = self._tasks.pop(name, None)
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for name, g in settings.items():
            if name in self.gateways:
                self.gateways[name].settings = g
            else:
                self.gateways[name] = Gateway(g, self.wall_clock)
                self.gateways[name].journal = self._journal
            self._deliver(name)

    def _deliver(self, name: str) -> None:
        """Start the delivery task of a gateway with a callback, once."""
        g = self.gateways[name]
        if g.settings.callback_url is None or name in self._tasks:
            return
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._tasks[name] = asyncio.create_task(g.run(self._http), name=f"acd-gateway-{name}")

    async def inbound(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        gw = self.gateways.get(name)
        if gw is None:
            raise UnknownGateway(f"no gateway named {name!r}")
        body = await request.read()
        if len(body) > MAX_BODY:
            raise MalformedMessage(f"body larger than {MAX_BODY} bytes")
        now = self.wall_clock()
        check_signature(
            gw.settings.secret,
            request.headers.get(TIMESTAMP, ""),
            body,
            request.headers.get(SIGNATURE, ""),
            now,
        )
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise MalformedMessage(f"the body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise MalformedMessage("the body must be a JSON object")
        data.setdefault("type", "message")
        if not isinstance(data["type"], str):
            raise MalformedMessage("'type' must be a string")
        message_id = frames.text(data, "message_id")
        user = frames.text(data, "user")
        if data["type"] not in ("message", "end"):
            raise MalformedMessage("'type' is 'message' (default) or 'end'")
        text = frames.text(data, "text", frames.MAX_TEXT) if data["type"] == "message" else ""
        conv = self.hub.conversations.of_user(name, user)
        if data["type"] == "end" and (conv is None or conv.ended):
            raise NoConversation(f"user {user[:100]!r} has no open conversation")
        gw.remember(message_id, now)  # only once valid: a corrected retry is not a replay
        if data["type"] == "end":
            assert conv is not None
            contact_id = conv.contact_id
            await self.hub.runner.submit(lambda t: cmds.Abandon(t, contact_id))
            return web.json_response({"contact": contact_id}, status=202)
        if conv is not None and not conv.ended:
            sent = self.hub.customer_message(conv, text)
            return web.json_response({"contact": conv.contact_id, "seq": sent["seq"]}, status=202)
        surveys = self.hub.surveys
        rated = surveys.asked_of_user(name, user) if surveys is not None else None
        score = parse_score(text)
        if surveys is not None and rated is not None and score is not None:
            surveys.answer(rated, score)  # the reply to the survey question, not a new contact
            gw.deliver_to(user, rated, {"type": "message", "from": "system", "text": surveys.settings.thanks})
            return web.json_response({"contact": rated, "survey": score}, status=202)
        identity = frames.mapping(data, "identity")
        conv = Conversation(
            contact_id=self.hub.new_contact_id(name),
            channel=gw.settings.channel,
            queue=gw.settings.queue,
            priority=0,
            customer=f"{name}:{user}",
            origin=name,
            identity=identity,
            attributes=frames.mapping(data, "attributes"),
            sink=gw,
            external_user=user,
        )
        await self.hub.start_contact(conv, text)
        return web.json_response({"contact": conv.contact_id, "seq": 1}, status=202)
