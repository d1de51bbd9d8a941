"""The customer web chat WebSocket: ``GET /v1/chat/ws``.

A visitor starts a conversation (``start`` with a queue, optional channel,
identity and attributes, and usually a first message), then sees its queue
position and a wait forecast, learns when an agent joins, exchanges messages,
and learns when the conversation ends. Customers cannot choose a priority or
skills: those come from the queue (and later from identity rules).

A dropped page gets a grace period: ``resume`` with the token from the
``start`` acknowledgement rebinds the conversation, with the transcript so far;
otherwise the contact is abandoned (or ended, if an agent had it).

Anyone can open this socket, so everything here is bounded (``[limits]``):
sockets in total and per client address, conversations started per address
per minute, a socket that holds no conversation is closed when idle, the
transcript of a conversation, and the bytes a socket may leave unread. The
identity a visitor types is *claimed*: shown to the agent as such, never
used to find a customer. Only a signed ``identity_token`` from the site's
backend is *verified* (:mod:`acd.adapters.security.identity_token`).

See docs/protocol.md for every frame.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from acd import commands as cmds
from acd.adapters.daemon.config_file import WebChatSettings
from acd.adapters.daemon.conversations import Conversation
from acd.adapters.daemon.grace import Graces
from acd.adapters.daemon.hub import Hub
from acd.adapters.security import identity_token
from acd.adapters.security.auth import AuthGuard, RateLimited, client_address
from acd.adapters.security.limits import Counts, RateLimit
from acd.adapters.web import frames
from acd.adapters.web.frames import Unauthorized, UnknownFrame
from acd.adapters.web.origin import OriginNotAllowed, check_origin
from acd.adapters.web.outbox import Outbox
from acd.adapters.web.requests import IDLE, answer_requests
from acd.errors import AcdError, InvalidRequest

log = logging.getLogger("acd.chat_ws")


MAX_ENDED = 10_000  # ended conversations a page away may still resume to see the end


class NoConversation(InvalidRequest):
    code = "no-conversation"


class ChannelNotAllowed(InvalidRequest):
    code = "channel-not-allowed"


class TooManyConnections(AcdError):
    code = "too-many-connections"


class WebChatSink:
    """Frames for the customer go to whichever socket holds the conversation now."""

    def __init__(self, box: Outbox | None, address: str = "unknown") -> None:
        self.box = box
        self.address = address
        self.conv: Conversation | None = None  # the one open conversation of this socket
        self.resume_digest: str | None = None

    def deliver(self, conv: Conversation, frame: dict[str, Any]) -> None:
        if self.box is not None:
            self.box.put(frame)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WebChat:
    def __init__(
        self,
        hub: Hub,
        guard: AuthGuard,
        grace_s: float = 30.0,
        heartbeat_s: float = 20.0,
        settings: WebChatSettings | None = None,
    ) -> None:
        self.hub = hub
        self.settings = settings or WebChatSettings()
        self.guard = guard
        lim = hub.limits
        self.starts = RateLimit(lim.chat_starts_per_minute, lim.chat_start_burst)
        self.sockets = Counts()
        self.runner = hub.runner
        self.grace_s = grace_s
        self.heartbeat_s = heartbeat_s
        self.graces = Graces("chat-grace")
        self.closing = False  # shutting down: a dropped socket starts no grace
        self._resume: dict[str, str] = {}  # sha256(resume token) -> contact id
        self._restored: set[str] = set()  # recovered after a restart, their pages not back yet
        self._restore_timer: asyncio.Task[None] | None = None
        # sha256(resume token) -> (until, resume reply) of conversations that ended while the page was away
        self._ended: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._handlers: dict[str, Callable[[WebChatSink, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "start": self._start,
            "resume": self._resume_conv,
            "message": self._message,
            "end": self._end,
            "survey": self._survey,
            "ping": self._ping,
        }

    async def close(self) -> None:
        await self.graces.close()
        if self._restore_timer is not None:
            self._restore_timer.cancel()
            await asyncio.gather(self._restore_timer, return_exceptions=True)

    def _admit(self, request: web.Request, address: str) -> None:
        """Refuse the upgrade (nothing held yet) beyond the socket limits or from a foreign page."""
        lim = self.hub.limits
        try:
            check_origin(request, lim.allowed_origins)
        except OriginNotAllowed:
            self.hub.refusals["origin"] += 1
            raise
        if self.sockets.total >= lim.chat_sockets:
            self.hub.refusals["chat_sockets"] += 1
            log.warning("web chat refused from %s: %d sockets open in total", address, self.sockets.total)
            raise TooManyConnections("the chat service is full: try again shortly")
        if self.sockets.get(address) >= lim.chat_sockets_per_address:
            self.hub.refusals["chat_sockets_per_address"] += 1
            log.warning(
                "web chat refused from %s: %d sockets open from it", address, self.sockets.get(address)
            )
            raise RateLimited("too many chat connections from this address", 60.0)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        address = client_address(request.remote)
        self._admit(request, address)
        ws = web.WebSocketResponse(heartbeat=self.heartbeat_s, max_msg_size=frames.MAX_FRAME)
        await ws.prepare(request)
        self.sockets.add(address)
        box = self.hub.outbox(ws, "web-chat")
        sink = WebChatSink(box, address)
        self.hub.track("customer", box)
        box.put({"type": "hello", "api": "acd-chat/1"})

        async def dispatch(frame: dict[str, Any]) -> dict[str, Any]:
            handler = self._handlers.get(frame["type"])
            if handler is None:
                raise UnknownFrame(
                    f"unknown frame type {frame['type']!r} (allowed: {', '.join(self._handlers)})"
                )
            return await handler(sink, frame)

        def idle_s() -> float | None:
            # A waiting or served customer may be silent; a socket holding nothing may not.
            return None if sink.conv is not None and not sink.conv.ended else self.hub.limits.chat_idle_s

        try:
            if await answer_requests(ws, box, dispatch, idle_s=idle_s):
                self.hub.refusals["chat_idle_s"] += 1
                box.put_close(IDLE, b"idle", bye="idle")
        finally:
            self.sockets.remove(address)
            self.hub.untrack("customer", box)
            conv = sink.conv
            # A handed-off contact is a work item now: it needs no page to stay.
            if conv is not None and conv.sink is sink and not (conv.ended or conv.handed_off or self.closing):
                sink.box = None  # frames until a resume are dropped; the transcript keeps messages
                self.graces.start(conv.contact_id, self.grace_s, lambda: self._left(conv.contact_id))
            await box.close()
        return ws

    def restore(self, conversations: list[Conversation]) -> None:
        """After a restart: every page is away until it resumes with its
        token, within the grace, else the customer left. One timer for all
        of them (a restart may bring back 100,000). O(conversations)."""
        waiting = set()
        for conv in conversations:
            sink = WebChatSink(None)
            sink.conv, sink.resume_digest, conv.sink = conv, conv.resume_digest, sink
            if conv.resume_digest is not None:
                self._resume[conv.resume_digest] = conv.contact_id
            if not (conv.ended or conv.handed_off):
                waiting.add(conv.contact_id)
        self._restored = waiting
        if waiting:
            self._restore_timer = asyncio.create_task(self._left_unless_resumed(), name="acd-chat-restored")

    async def _left_unless_resumed(self) -> None:
        await asyncio.sleep(self.grace_s)
        left, self._restored = self._restored, set()
        for cid in left:  # not resumed (a resume takes its page out of the set)
            await self._left(cid)

    def forget(self, conv: Conversation) -> None:
        """The hub closed the conversation: its resume token dies with it. If
        the page was away when it ended, a resume within the grace still
        shows the end (and the transcript): the page must not hang."""
        sink = conv.sink
        if not isinstance(sink, WebChatSink) or sink.resume_digest is None:
            return
        self._resume.pop(sink.resume_digest, None)
        if sink.box is None and conv.ended:
            self._ended[sink.resume_digest] = (time.monotonic() + self.grace_s, self._resumed(conv))
            while self._ended and (
                len(self._ended) > MAX_ENDED or next(iter(self._ended.values()))[0] < time.monotonic()
            ):
                self._ended.popitem(last=False)

    @staticmethod
    def _bound(sink: WebChatSink) -> Conversation:
        conv = sink.conv
        if conv is None or conv.ended:
            raise NoConversation("no open conversation on this connection: send 'start' first")
        return conv

    async def _start(self, sink: WebChatSink, frame: dict[str, Any]) -> dict[str, Any]:
        if sink.conv is not None and not sink.conv.ended:
            raise InvalidRequest("this connection already has an open conversation")
        queue = frames.text(frame, "queue")
        allowed = self.settings.channels
        channel = frames.opt_text(frame, "channel") or allowed[0]
        if channel not in allowed:
            raise ChannelNotAllowed(f"a web chat may start {', '.join(allowed)}, not {channel!r}")
        claimed = frames.mapping(frame, "identity")
        identity = self._verified(frame, sink.address)
        first = frames.opt_text(frame, "text", frames.MAX_TEXT)
        wait = self.starts.take(sink.address, self.hub.wall_clock())
        if wait > 0:
            self.hub.refusals["chat_starts_per_minute"] += 1
            log.warning("web chat start refused from %s: too many conversations started", sink.address)
            raise RateLimited(f"too many conversations started: retry in {math.ceil(wait)} s", wait)
        cid = self.hub.new_contact_id("webchat")
        customer = identity.get("email") or identity.get("phone") or identity.get("user") or cid
        conv = Conversation(
            contact_id=cid,
            channel=channel,
            queue=queue,
            priority=0,
            customer=customer,
            origin="webchat",
            identity=identity,
            claimed={k: v for k, v in claimed.items() if identity.get(k) != v},
            attributes=frames.mapping(frame, "attributes"),
            sink=sink,
        )
        token = secrets.token_urlsafe(24)
        sink.conv = conv
        sink.resume_digest = conv.resume_digest = _digest(token)
        self._resume[sink.resume_digest] = cid
        try:
            await self.hub.start_contact(conv, first)
        except AcdError:
            sink.conv = None  # the hub already forgot the conversation and its token
            raise
        return {"contact": cid, "resume_token": token}

    def _verified(self, frame: dict[str, Any], address: str) -> dict[str, str]:
        """The identity an ``identity_token`` vouches for ({} without one)."""
        token = frames.opt_text(frame, "identity_token", identity_token.MAX_TOKEN)
        if token is None:
            return {}
        secret = self.settings.identity_secret
        if secret is None:
            raise identity_token.BadIdentityToken(
                "this server verifies no identity tokens ([webchat] identity_secret)"
            )
        self.guard.check(address, "identity-token")
        try:
            return identity_token.verify(
                token, secret, self.hub.wall_clock(), self.settings.identity_max_age_s
            )
        except identity_token.BadIdentityToken:
            self.guard.failed(address, "identity-token")
            raise

    async def _resume_conv(self, sink: WebChatSink, frame: dict[str, Any]) -> dict[str, Any]:
        digest = _digest(frames.text(frame, "token"))
        cid = self._resume.get(digest)
        conv = self.hub.conversations.get(cid) if cid is not None else None
        if cid is None or conv is None:
            ended = self._ended.pop(digest, None)
            if ended is not None and ended[0] >= time.monotonic():
                return ended[1]  # it ended while the page was away: show how
            raise Unauthorized("unknown or expired resume token")
        self.graces.cancel(cid)
        self._restored.discard(cid)
        old = conv.sink
        if isinstance(old, WebChatSink) and old.box is not None and old.box is not sink.box:
            old.box.put_close(1000, b"resumed elsewhere", bye="resumed elsewhere")
        conv.sink = sink
        sink.conv = conv
        sink.resume_digest = digest
        return self._resumed(conv)

    def _resumed(self, conv: Conversation) -> dict[str, Any]:
        """What a resumed page draws: the agent by display name (null while
        waiting), whether it ended, the transcript as the customer sees it."""
        return {
            "contact": conv.contact_id,
            "queue": conv.queue,
            "agent": self.hub.agent_name(conv.agent_id) if conv.agent_id is not None else None,
            "ended": conv.ended,
            "transcript": [m.for_customer(self.hub.agent_name) for m in conv.transcript],
        }

    async def _message(self, sink: WebChatSink, frame: dict[str, Any]) -> dict[str, Any]:
        conv = self._bound(sink)
        sent = self.hub.customer_message(conv, frames.text(frame, "text", frames.MAX_TEXT))
        return {"seq": sent["seq"]}

    async def _end(self, sink: WebChatSink, frame: dict[str, Any]) -> dict[str, Any]:
        conv = self._bound(sink)
        await self.runner.submit(lambda now: cmds.Abandon(now, conv.contact_id))
        return {"contact": conv.contact_id}

    async def _survey(self, sink: WebChatSink, frame: dict[str, Any]) -> dict[str, Any]:
        """The customer rates the conversation the agent just ended."""
        if sink.conv is None or self.hub.surveys is None:
            raise NoConversation("no conversation on this connection to rate")
        self.hub.surveys.answer(sink.conv.contact_id, frame.get("answer"))
        return {"contact": sink.conv.contact_id, "thanks": self.hub.surveys.settings.thanks}

    async def _ping(self, sink: WebChatSink, frame: dict[str, Any]) -> dict[str, Any]:
        return {"pong": True}

    async def _left(self, contact_id: str) -> None:
        """The page did not come back: the customer left."""
        try:
            await self.runner.submit(lambda now: cmds.Abandon(now, contact_id))
        except InvalidRequest as e:
            log.info("customer of %s left after it closed: %s", contact_id, e.message)
