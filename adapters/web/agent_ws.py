"""The agent desktop WebSocket: ``GET /v1/agent/ws``.

One connection per agent. The first frame authenticates (``auth`` with the
agent's password, or the session token a previous ``auth`` returned); then
each frame is a request (``login``, ``available``, ``away``, ``accept``,
``reject``, ``message``, ``end``, ``wrap-up-done``, ``transfer``, ...)
translated to an engine command, answered with ``ack`` or ``error``. What the
engine does in return (offers, presence, customer messages) arrives as
frames from the hub, always before the ``ack`` of the request that caused it.

An agent acts only on its own contacts: the engine refuses accept/reject/end/
transfer of a contact not offered or assigned to the agent, and a message is
relayed only to a conversation the agent is connected to.

A dropped connection starts a grace period: the agent is set away
(``disconnected``) so no new offer waits on a dead desktop, and its
conversations stay. Reconnecting within the grace restores the previous
status; after it, open chats go back to their queue and the agent is logged
out. Calls stay with the agent (the phone still works).

See docs/protocol.md for every frame.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from acd import commands as cmds
from acd.adapters.daemon.config_file import DesktopSettings
from acd.adapters.daemon.conversations import Conversation
from acd.adapters.daemon.grace import Graces
from acd.adapters.daemon.hub import Hub
from acd.adapters.security.auth import RATE_LIMITED_CLOSE, AuthGuard, RateLimited, client_address
from acd.adapters.web import frames
from acd.adapters.web.frames import Unauthorized, UnknownFrame
from acd.adapters.web.origin import check_origin
from acd.adapters.web.outbox import Outbox
from acd.adapters.web.requests import answer_requests
from acd.adapters.web.sessions import Sessions
from acd.codec import MalformedMessage
from acd.errors import AcdError, InvalidRequest, NotYourContact, UnknownAgent, UnknownContact
from acd.states import AVAILABLE, AWAY, CONNECTED, LOGGED_OUT, NOT_RESPONDING, WRAP_UP

log = logging.getLogger("acd.agent_ws")

MAX_AUTH_FAILURES = 3
POLICY_VIOLATION = 1008
REPLACED = 4001  # close code: the same agent connected elsewhere
DISCONNECTED = "disconnected"  # the away reason while a dropped desktop may come back


_CONTACT_COMMANDS: dict[str, Callable[[float, str, str], cmds.Command]] = {
    "accept": cmds.Accept,
    "reject": cmds.Reject,
    "end": cmds.EndContact,
    "wrap-up-done": cmds.EndWrapUp,
}
# Frames that may carry the wrap-up code and notes (set before the command).
_WRAP_UP_FIELDS = frozenset({"end", "wrap-up-done"})
MAX_NOTE = 4000


class AgentUnavailable(InvalidRequest):
    code = "agent-unavailable"


class UnknownDisposition(InvalidRequest):
    code = "unknown-disposition"


class DispositionRequired(InvalidRequest):
    code = "disposition-required"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AgentDesks:
    def __init__(
        self,
        hub: Hub,
        credentials: dict[str, str],
        guard: AuthGuard,
        grace_s: float = 30.0,
        heartbeat_s: float = 20.0,
    ) -> None:
        self.hub = hub
        self.guard = guard
        self.runner = hub.runner
        self.credentials = credentials
        self.grace_s = grace_s
        self.heartbeat_s = heartbeat_s
        self.graces = Graces("agent-grace")
        self.sessions: Sessions | None = None  # browser logins (the server sets it)
        self.desktop = DesktopSettings()  # what the browser desktop offers (reasons, replies)
        self.closing = False  # shutting down: a dropped socket starts no grace
        self._tokens: dict[str, str] = {}  # sha256(session token) -> agent id
        self._token_of: dict[str, str] = {}  # agent id -> its token's digest
        self._before_drop: dict[str, str] = {}  # agent id -> status before its desktop dropped
        self._handlers: dict[str, Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "ping": self._ping,
            "state": self._state,
            "login": self._login,
            "logout": self._logout,
            "available": self._available,
            "away": self._away,
            **dict.fromkeys(_CONTACT_COMMANDS, self._on_contact),
            "message": self._message,
            "transfer": self._transfer,
            "note": self._note,
            "disposition": self._disposition,
            "consult": self._consult,
            "consult-message": self._consult_message,
            "consult-end": self._consult_end,
        }

    async def close(self) -> None:
        await self.graces.close()

    # --------------------------------------------------------- connection

    async def handle(self, request: web.Request) -> web.StreamResponse:
        check_origin(request, self.hub.limits.allowed_origins)
        ws = web.WebSocketResponse(heartbeat=self.heartbeat_s, max_msg_size=frames.MAX_FRAME)
        await ws.prepare(request)
        box = self.hub.outbox(ws, "agent-desk")
        address = client_address(request.remote)
        self.hub.track("agent", box)
        box.put({"type": "hello", "api": "acd-agent/1", "heartbeat_s": self.heartbeat_s})
        agent_id: str | None = None
        failures = 0

        async def dispatch(frame: dict[str, Any]) -> dict[str, Any]:
            nonlocal agent_id
            if agent_id is None:
                if frame["type"] != "auth":
                    raise Unauthorized("authenticate first: {'type': 'auth', ...}")
                agent_id = await self._authenticate(frame, address, request)
                box.label = f"agent-desk:{agent_id}"
                return await self._attach(agent_id, box)
            handler = self._handlers.get(frame["type"])
            if handler is None:
                raise UnknownFrame(
                    f"unknown frame type {frame['type']!r} (allowed: {', '.join(self._handlers)})"
                )
            return await handler(agent_id, frame)

        limited = False

        def too_many_failures(e: AcdError) -> bool:
            nonlocal failures, limited
            failures += isinstance(e, Unauthorized)
            limited = isinstance(e, RateLimited)
            return failures >= MAX_AUTH_FAILURES or limited

        try:
            await answer_requests(ws, box, dispatch, too_many_failures)
            if limited:
                await self.guard.tarpit()
                await box.close(RATE_LIMITED_CLOSE, b"too many failed authentications from this address")
            elif failures >= MAX_AUTH_FAILURES:
                await box.close(POLICY_VIOLATION, b"too many failed authentications")
        finally:
            self.hub.untrack("agent", box)
            if agent_id is not None and self.hub.desks.get(agent_id) is box:
                del self.hub.desks[agent_id]
                await self._dropped(agent_id)
            await box.close()
        return ws

    async def _authenticate(self, frame: dict[str, Any], address: str, request: web.Request) -> str:
        """The browser's session cookie (``"cookie": true``: the page logged
        in with ``POST /v1/session``), a session token (a dict lookup of its
        SHA-256: tokens are random and 256 bits, nothing to slow down) or the
        agent's password (PBKDF2 in the guard's bounded pool, run even for an
        unknown agent so timing does not reveal which ids exist). Failures
        count per address."""
        if frame.get("cookie") is True:
            s = self.sessions.of(request) if self.sessions is not None else None
            if s is None or s.role != "agent" or s.user not in self.runner.engine.agents:
                raise Unauthorized("no agent session: log in first (POST /v1/session)")
            return s.user
        token = frame.get("token")
        if isinstance(token, str) and token:
            self.guard.check(address, "agent-session")
            agent_id = self._tokens.get(_digest(token))
            if agent_id is None:
                self.guard.failed(address, "agent-session")
                raise Unauthorized("unknown or expired session token")
            return agent_id
        agent_id = frames.text(frame, "agent")
        password = frames.text(frame, "password", 1000)
        stored = self.credentials.get(agent_id)
        ok = await self.guard.verify(address, "agent-password", password, stored)
        if not ok or agent_id not in self.runner.engine.agents:
            raise Unauthorized("unknown agent or wrong password")
        return agent_id

    async def _attach(self, agent_id: str, box: Outbox) -> dict[str, Any]:
        """Bind the desktop to the agent (replacing an older one), end a
        grace period (restoring the status the drop took away); return the
        session token and the state to draw."""
        old = self.hub.desks.get(agent_id)
        if old is not None and old is not box:
            old.put_close(REPLACED, b"replaced by a newer connection", bye="replaced")
        self.hub.desks[agent_id] = box
        self.graces.cancel(agent_id)
        token = secrets.token_urlsafe(32)
        self._forget(agent_id)
        self._tokens[_digest(token)] = agent_id
        self._token_of[agent_id] = _digest(token)
        if self.hub.journal is not None:  # a restart keeps it valid
            self.hub.journal.append({"k": "tok", "a": agent_id, "d": _digest(token)})
        before = self._before_drop.pop(agent_id, None)
        a = self.runner.engine.agents[agent_id]
        # Only undo our own away: a supervisor may have set another reason meanwhile.
        if before in (AVAILABLE, NOT_RESPONDING) and a.status == AWAY and a.reason == DISCONNECTED:
            await self._submit(lambda now: cmds.SetAvailable(now, agent_id))
        return {
            "agent": agent_id,
            "token": token,
            **self.snapshot(agent_id),
            "desktop": self._desktop(agent_id),
        }

    def _desktop(self, agent_id: str) -> dict[str, Any]:
        """What the browser desktop offers this agent: away reasons, canned
        replies, and the wrap-up codes of the queues it serves."""
        a = self.runner.engine.agents[agent_id]
        return {
            "away_reasons": list(self.desktop.away_reasons),
            "canned_replies": list(self.desktop.canned_replies),
            "dispositions": {q: list(self.hub.queue_options(q).dispositions) for q in a.spec.queues},
            "queues": sorted(self.runner.engine.queues),
            "capacity": dict(a.profile.maximum),  # channel -> how many at once
        }

    def snapshot(self, agent_id: str) -> dict[str, Any]:
        engine = self.runner.engine
        s = engine.agent_stats(agent_id)
        contacts = []
        for cid, state in s.contacts.items():
            conv = self.hub.conversations.get(cid)
            item: dict[str, Any] = {"contact": cid, "state": state}
            if conv is not None:
                item.update(channel=conv.channel, queue=conv.queue, **conv.screen_pop())
            contacts.append(item)
        return {
            "name": s.name,
            "presence": s.presence,
            "status": s.status,
            "reason": s.reason,
            "contacts": contacts,
        }

    async def _dropped(self, agent_id: str) -> None:
        """The desktop went away: away now, logged out after the grace."""
        a = self.runner.engine.agents.get(agent_id)  # None: a reload removed the agent
        status = a.status if a is not None else LOGGED_OUT
        if self.closing:  # the server stops: the token stays valid for the desktop to come back
            return
        if status == LOGGED_OUT:
            self._forget(agent_id)
            return
        self._before_drop[agent_id] = status
        if status in (AVAILABLE, NOT_RESPONDING):
            await self._submit(lambda now: cmds.SetAway(now, agent_id, DISCONNECTED))
        self.graces.start(agent_id, self.grace_s, lambda: self._give_up(agent_id))

    def removed(self, agent_ids: set[str]) -> None:
        """A reload removed these agents: end their sessions."""
        for aid in agent_ids:
            self._forget(aid)
            self.graces.cancel(aid)
            self._before_drop.pop(aid, None)
            box = self.hub.desks.pop(aid, None)
            if box is not None:
                box.put_close(POLICY_VIOLATION, b"agent removed from the configuration", bye="removed")

    async def _give_up(self, agent_id: str) -> None:
        """Grace over: chats back to their queue, wrap-ups closed, logged out."""
        self._before_drop.pop(agent_id, None)
        self._forget(agent_id)
        if agent_id not in self.runner.engine.agents:
            return
        await self.hub.release_contacts(agent_id)
        await self._submit(lambda now: cmds.Logout(now, agent_id))
        log.info("agent %s did not come back within %.0f s: logged out", agent_id, self.grace_s)

    def _forget(self, agent_id: str) -> None:
        """Revoke the agent's session token."""
        digest = self._token_of.pop(agent_id, None)
        if digest is not None:
            self._tokens.pop(digest, None)
            if self.hub.journal is not None:
                self.hub.journal.append({"k": "tok", "a": agent_id, "d": None})

    async def restore(self, tokens: dict[str, str]) -> None:
        """After a restart: the session tokens in force, and every agent who
        was logged in treated as a dropped desktop (away, with the grace to
        come back: their desktops reconnect with the same token)."""
        for agent_id, digest in tokens.items():
            if agent_id in self.runner.engine.agents:
                self._tokens[digest] = agent_id
                self._token_of[agent_id] = digest
        for agent_id, a in list(self.runner.engine.agents.items()):
            if a.status != LOGGED_OUT:
                await self._dropped(agent_id)

    async def _submit(self, make: Callable[[float], cmds.Command]) -> None:
        await self.runner.attempt(make, "grace step skipped")  # the state may have moved on meanwhile

    # ----------------------------------------------------------- requests

    async def _ping(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        return {"pong": True}

    async def _state(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        return self.snapshot(agent_id)

    async def _login(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        reason = frames.opt_text(frame, "away_reason")
        await self.runner.submit(lambda now: cmds.Login(now, agent_id, reason))
        return {}

    async def _logout(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        """Log out (idempotent: an agent already logged out gets an ack) and
        revoke the session token: the socket stays, a reconnect needs the password."""
        if self.runner.engine.agents[agent_id].status != LOGGED_OUT:
            await self.hub.release_contacts(agent_id)
            await self.runner.submit(lambda now: cmds.Logout(now, agent_id))
        self._forget(agent_id)
        return {}

    async def _available(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        await self.runner.submit(lambda now: cmds.SetAvailable(now, agent_id))
        return {}

    async def _away(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        reason = frames.opt_text(frame, "reason") or "away"
        await self.runner.submit(lambda now: cmds.SetAway(now, agent_id, reason))
        return {}

    async def _on_contact(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        """accept / reject / end / wrap-up-done: one engine command on one
        contact (end and wrap-up-done may bring the disposition and notes)."""
        cid = frames.text(frame, "contact")
        kind = frame["type"]
        make = _CONTACT_COMMANDS[kind]
        if kind in _WRAP_UP_FIELDS:
            conv = self.hub.conversations.get(cid)
            if conv is not None and self._holds(agent_id, cid):  # else the engine says what is wrong
                self._wrap_up_fields(conv, agent_id, frame)
                if kind == "wrap-up-done":
                    self._require_disposition(conv)
        await self.runner.submit(lambda now: make(now, agent_id, cid))
        return {"contact": cid}

    async def _transfer(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        """Blind transfer to a queue or an agent; a ``note`` travels with the
        conversation (the next agent's screen pop shows it)."""
        cid = frames.text(frame, "contact")
        queue = frames.opt_text(frame, "queue")
        to_agent = frames.opt_text(frame, "agent")
        note = frames.opt_text(frame, "note", MAX_NOTE)
        if queue is None and to_agent is None:
            raise MalformedMessage("transfer: give 'queue' or 'agent'")
        conv = self.hub.conversations.get(cid)
        added = None
        if note and conv is not None and self._holds(agent_id, cid):
            added = conv.note(agent_id, note, self.hub.wall_clock())
        try:
            await self.runner.submit(
                lambda now: cmds.Transfer(now, cid, by_agent=agent_id, to_queue=queue, to_agent=to_agent)
            )
        except InvalidRequest:
            if added is not None and conv is not None:
                conv.unnote(added)  # refused: nothing changed, the note neither
            raise
        return {"contact": cid}

    async def _consult(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        """Warm transfer, first half: the connected agent asks another agent
        about a chat in private (the customer sees nothing); the other gets
        the screen pop. ``transfer`` with ``agent`` then hands it over."""
        cid = frames.text(frame, "contact")
        other = frames.text(frame, "agent")
        conv = self._own_conversation(agent_id, cid)
        if conv.channel in self.runner.engine.phone_channels:
            raise InvalidRequest("consult is for text conversations: use the phone's attended transfer")
        a = self.runner.engine.agents.get(other)
        if a is None or other == agent_id:
            raise UnknownAgent(f"no other agent {other!r} to consult")
        if a.status == LOGGED_OUT or other not in self.hub.desks:
            raise AgentUnavailable(f"agent {other!r} is not logged in at a desktop")
        if conv.consultant is not None and conv.consultant != other:
            self.hub.end_consult(conv, "replaced")
        conv.consultant = other
        text = frames.opt_text(frame, "text", MAX_NOTE)
        item = {"type": "consult", "contact": cid, "from": agent_id, "text": text}
        self.hub.desks[other].put({**item, "queue": conv.queue, "channel": conv.channel, **conv.screen_pop()})
        if text:
            conv.note(agent_id, text, self.hub.wall_clock())
        return {"contact": cid, "agent": other}

    async def _consult_message(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        """Between the connected agent and the one consulted, kept as notes."""
        cid = frames.text(frame, "contact")
        conv = self.hub.conversations.get(cid)
        if conv is None or conv.consultant is None:
            raise UnknownContact(f"no consultation open on {cid!r}")
        if agent_id not in (conv.agent_id, conv.consultant):
            raise NotYourContact(f"{agent_id!r} is not in the consultation on {cid!r}")
        other = conv.consultant if agent_id == conv.agent_id else conv.agent_id
        m = conv.note(agent_id, frames.text(frame, "text", MAX_NOTE), self.hub.wall_clock())
        if other is not None:
            self.hub.to_desk(other, {"type": "consult-message", "contact": cid, **m.to_dict()})
        return {"contact": cid, "note": m.seq}

    async def _consult_end(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        cid = frames.text(frame, "contact")
        conv = self.hub.conversations.get(cid)
        if conv is None or agent_id not in (conv.agent_id, conv.consultant) or conv.consultant is None:
            raise NotYourContact(f"{agent_id!r} has no consultation open on {cid!r}")
        self.hub.end_consult(conv, "ended", by=agent_id)
        return {"contact": cid}

    async def _note(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        cid = frames.text(frame, "contact")
        conv = self._held_conversation(agent_id, cid)
        m = conv.note(agent_id, frames.text(frame, "text", MAX_NOTE), self.hub.wall_clock())
        return {"contact": cid, "note": m.seq}

    async def _disposition(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        """Set the wrap-up code (and notes) while connected or in wrap-up."""
        cid = frames.text(frame, "contact")
        conv = self._held_conversation(agent_id, cid)
        self._wrap_up_fields(conv, agent_id, frame)
        return {"contact": cid, "disposition": conv.disposition}

    def _holds(self, agent_id: str, cid: str) -> bool:
        """The agent holds the contact, connected or wrapping it up."""
        a = self.runner.engine.agents.get(agent_id)
        asg = a.assignments.get(cid) if a is not None else None
        return asg is not None and asg.state in (CONNECTED, WRAP_UP)

    def _held_conversation(self, agent_id: str, cid: str) -> Conversation:
        if not self._holds(agent_id, cid):
            raise NotYourContact(f"contact {cid!r} is not connected to or wrapped up by {agent_id!r}")
        conv = self.hub.conversations.get(cid)
        if conv is None:
            raise UnknownContact(f"no open conversation {cid!r}")
        return conv

    def _wrap_up_fields(self, conv: Conversation, agent_id: str, frame: dict[str, Any]) -> None:
        code = frames.opt_text(frame, "disposition")
        notes = frames.opt_text(frame, "notes", MAX_NOTE)
        if code is not None:
            codes = self.hub.queue_options(conv.queue).dispositions
            if code not in codes:
                allowed = ", ".join(codes) if codes else "none: the queue has no disposition codes"
                raise UnknownDisposition(
                    f"queue {conv.queue!r}: unknown disposition {code!r} (allowed: {allowed})"
                )
            conv.set_disposition(code)
        if notes:
            conv.note(agent_id, notes, self.hub.wall_clock())

    def _require_disposition(self, conv: Conversation) -> None:
        opts = self.hub.queue_options(conv.queue)
        if opts.disposition_required and conv.disposition is None:
            raise DispositionRequired(
                f"queue {conv.queue!r} needs a disposition before wrap-up ends "
                f"({', '.join(opts.dispositions)})"
            )

    async def _message(self, agent_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        cid = frames.text(frame, "contact")
        text = frames.text(frame, "text", frames.MAX_TEXT)
        conv = self._own_conversation(agent_id, cid)
        sent = self.hub.agent_message(conv, agent_id, text)
        return {"contact": cid, "seq": sent["seq"]}

    def _own_conversation(self, agent_id: str, cid: str) -> Conversation:
        conv = self.hub.conversations.get(cid)
        if conv is None:
            raise UnknownContact(f"no open conversation {cid!r}")
        if conv.agent_id != agent_id:
            raise NotYourContact(f"contact {cid!r} is not connected to {agent_id!r}")
        return conv
