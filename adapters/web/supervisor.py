"""Supervisor actions (REST) and the supervisor WebSocket.

Everything here sits under ``/v1`` and needs the admin token (the middleware
in :mod:`acd.adapters.web.http_api` checks it). Actions translate to engine
commands through the single writer; the WebSocket streams every engine
event and, every few seconds, the live queue statistics.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from acd import commands as cmds
from acd import events as ev
from acd.adapters.daemon.conversations import Conversation
from acd.adapters.daemon.hub import Hub
from acd.adapters.web import frames
from acd.adapters.web.bodies import json_body
from acd.adapters.web.origin import check_origin
from acd.adapters.web.outbox import Outbox
from acd.adapters.web.sessions import Forbidden, agent_in_scope, check_queue, scope
from acd.codec import MalformedMessage
from acd.errors import InvalidRequest, QueueClosed, QueueFull, UnknownAgent, UnknownContact, UnknownSkill
from acd.states import CONNECTED, LOGGED_OUT, OFFERED

log = logging.getLogger("acd.supervisor")

HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
STATS_INTERVAL_S = 2.0


MAX_LISTED = 1000


async def list_contacts(request: web.Request) -> web.Response:
    """The open contacts, longest waiting first, at most ``limit`` (default
    200): what the wallboard lists. O(n log limit) for n open contacts: for
    a supervisor's screen every few seconds, not for the hot path."""
    engine = request.app[HUB].runner.engine
    raw = request.query.get("limit", "200")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LISTED:
        raise MalformedMessage(f"'limit' is a whole number 1..{MAX_LISTED}")
    allowed = scope(request)
    now = engine.now
    shown = (c for c in engine.contacts.values() if allowed is None or c.queue in allowed)
    oldest = heapq.nsmallest(int(raw), shown, key=lambda c: c.entered)
    return web.json_response(
        {
            "contacts": [
                {
                    "id": c.id,
                    "queue": c.queue,
                    "channel": c.channel,
                    "state": c.state,
                    "priority": c.priority,
                    "agent": c.agent_id,
                    "waited_s": round(now - c.entered, 3),
                }
                for c in oldest
            ],
            "open": len(engine.contacts),
        }
    )


async def create_contact(request: web.Request) -> web.Response:
    """A work item from a back office (e-mail, task, a test call). With an
    ``Idempotency-Key`` header, a retry with the same key and body gets the
    first answer again instead of a second contact."""
    hub = request.app[HUB]
    data = await json_body(request, required=True)
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return await _create_contact(hub, data)
    return await request.app[IDEMPOTENCY].once(key, data, lambda: _create_contact(hub, data))


async def _create_contact(hub: Hub, data: dict[str, Any]) -> web.Response:
    queue = frames.text(data, "queue")
    channel = frames.opt_text(data, "channel")
    spec = hub.runner.engine.queues.get(queue)
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise MalformedMessage("'priority' must be an integer")
    skills = data.get("skills", {})
    if (
        not isinstance(skills, dict)
        or len(skills) > 50
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in skills.values())
    ):
        raise MalformedMessage("'skills' must map at most 50 skill names to levels")
    unknown = sorted(s for s in skills if s not in hub.runner.engine.config.skills)
    if unknown:
        raise UnknownSkill(f"unknown skill {unknown[0]!r}")
    cid = frames.opt_text(data, "id") or hub.new_contact_id("api")
    if not _CONTACT_ID.fullmatch(cid):
        raise MalformedMessage(
            "'id' is 1-200 letters, digits and . _ : @ - (it goes in URLs), starting alphanumeric"
        )
    conv = Conversation(
        contact_id=cid,
        channel=channel or (spec.default_channel if spec is not None else "task"),
        queue=queue,
        priority=priority,
        customer=frames.opt_text(data, "customer") or cid,
        origin="api",
        identity=frames.mapping(data, "identity"),  # the back office is authenticated: verified
        attributes=frames.mapping(data, "attributes"),
    )
    events = await hub.start_contact(
        conv, frames.opt_text(data, "text", frames.MAX_TEXT), tuple(sorted(skills.items()))
    )
    for e in events:  # turned away at the door (full, closed with nowhere to go): not created
        if isinstance(e, ev.ContactOverflowed) and e.contact_id == cid and e.to_queue is None:
            err = QueueFull if e.reason == "queue-full" else QueueClosed
            raise err(f"contact {cid!r} was not queued: {e.queue} {e.reason}")
    return web.json_response({"contact": cid}, status=201, headers={"Location": f"/v1/contacts/{cid}"})


async def end_contact(request: web.Request) -> web.Response:
    """A supervisor ends any contact, whatever holds it: waiting or ringing,
    it is abandoned; connected, it ends (by the agent's hand) and its
    wrap-up is closed, so the agent is free at once."""
    hub = request.app[HUB]
    cid = request.match_info["id"]
    engine = hub.runner.engine
    c = engine.contacts.get(cid)
    if c is None:
        raise UnknownContact(f"no open contact {cid!r}")
    check_queue(request, c.queue)
    agent = c.agent_id
    asg = engine.agents[agent].assignments.get(cid) if agent is not None and agent in engine.agents else None
    if agent is None or asg is None or asg.state == OFFERED:
        await hub.runner.submit(lambda now: cmds.Abandon(now, cid))
    else:
        if asg.state == CONNECTED:
            await hub.runner.submit(lambda now: cmds.EndContact(now, agent, cid))
        if cid in engine.contacts:  # in wrap-up now (a queue without wrap-up completed it)
            await hub.runner.submit(lambda now: cmds.EndWrapUp(now, agent, cid))
    log.info("contact %s ended by a supervisor", cid)
    return web.json_response({"contact": cid, "ended": True})


class Idempotency:
    """Answers to ``POST /v1/contacts`` by ``Idempotency-Key``, for 24 h, at
    most ``capacity`` of them (the oldest forgotten first). The same key with
    another body is refused; a retry while the first is running waits for it."""

    def __init__(self, capacity: int, keep_s: float = 86_400.0) -> None:
        self.capacity = capacity
        self.keep_s = keep_s
        self._done: OrderedDict[str, tuple[float, str, asyncio.Future[tuple[int, bytes, str | None]]]] = (
            OrderedDict()
        )

    async def once(
        self, key: str, body: dict[str, Any], run: Callable[[], Awaitable[web.Response]]
    ) -> web.Response:
        if not _KEY.fullmatch(key):
            raise MalformedMessage("Idempotency-Key must be 1..200 printable ASCII characters, no spaces")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        now = time.monotonic()
        while self._done and next(iter(self._done.values()))[0] < now - self.keep_s:
            self._done.popitem(last=False)
        got = self._done.get(key)
        if got is not None:
            if got[1] != digest:
                raise IdempotencyKeyReused("this Idempotency-Key was used with another body")
            status, text, location = await asyncio.shield(got[2])
            return _replay(status, text, location)
        fut: asyncio.Future[tuple[int, bytes, str | None]] = asyncio.get_running_loop().create_future()
        if self.capacity:
            self._done[key] = (now, digest, fut)
            if len(self._done) > self.capacity:
                self._done.popitem(last=False)
        try:
            r = await run()
        except BaseException as e:
            self._done.pop(key, None)  # refused: nothing to remember, a retry runs again
            fut.set_exception(e)
            fut.exception()  # retrieved: a retry that waited sees it, nobody else must
            raise
        assert isinstance(r.body, bytes)
        fut.set_result((r.status, r.body, r.headers.get("Location")))
        return r


def _replay(status: int, body: bytes, location: str | None) -> web.Response:
    headers = {"Idempotent-Replayed": "true", **({"Location": location} if location else {})}
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


_KEY = re.compile(r"[!-~]{1,200}")
_CONTACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}")


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency-key-reused"


async def move_contact(request: web.Request) -> web.Response:
    """Move a waiting (or ringing) contact to another queue or agent."""
    hub = request.app[HUB]
    data = await json_body(request)
    cid = request.match_info["id"]
    queue, agent = frames.opt_text(data, "queue"), frames.opt_text(data, "agent")
    if queue is None and agent is None:
        raise MalformedMessage("give 'queue' or 'agent'")
    _check_contact(request, hub, cid)
    if queue is not None:
        check_queue(request, queue)
    await hub.runner.submit(lambda now: cmds.Transfer(now, cid, to_queue=queue, to_agent=agent))
    return web.json_response({"contact": cid})


def _check_contact(request: web.Request, hub: Hub, cid: str) -> None:
    """A supervisor limited to some queues acts on their contacts only."""
    c = hub.runner.engine.contacts.get(cid)
    if c is not None:
        check_queue(request, c.queue)


def _check_agent(request: web.Request, hub: Hub, aid: str) -> None:
    a = hub.runner.engine.agents.get(aid)
    if a is not None and not agent_in_scope(scope(request), a.spec.queues):
        raise Forbidden(f"agent {aid!r} serves none of your queues")


async def agent_away(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    aid = request.match_info["id"]
    _check_agent(request, hub, aid)
    reason = frames.opt_text(await json_body(request), "reason") or "supervisor"
    await hub.runner.submit(lambda now: cmds.SetAway(now, aid, reason))
    return web.json_response(frames.stats(hub.runner.engine.agent_stats(aid)))


async def agent_logout(request: web.Request) -> web.Response:
    """Log an agent out (idempotent); what nobody else could end goes back to its queue first."""
    hub = request.app[HUB]
    aid = request.match_info["id"]
    _check_agent(request, hub, aid)
    a = hub.runner.engine.agents.get(aid)
    if a is None:
        raise UnknownAgent(f"unknown agent {aid!r}")
    if a.status != LOGGED_OUT:
        await hub.release_contacts(aid)
        await hub.runner.submit(lambda now: cmds.Logout(now, aid))
    return web.json_response(frames.stats(hub.runner.engine.agent_stats(aid)))


async def supervisor_ws(request: web.Request) -> web.StreamResponse:
    """Every engine event as it happens, and queue statistics every few seconds."""
    hub = request.app[HUB]
    check_origin(request, hub.limits.allowed_origins)
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    box = hub.outbox(ws, "supervisor", limit=20_000)
    hub.track("supervisor", box)
    allowed = scope(request)
    hub.supervisors[box] = allowed
    box.put({"type": "hello", "api": "acd-supervisor/1"})
    stats = asyncio.create_task(_stream_stats(hub, box, allowed))
    try:
        async for msg in ws:  # the only request: {"type": "stats"}, answered at once
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            try:
                frame = frames.decode(msg.type, msg.data)
            except MalformedMessage as e:
                box.put(frames.error(None, e.code, e.message))
                continue
            if frame["type"] == "stats":
                box.put(_stats_frame(hub, allowed))
            else:
                box.put(frames.error(frames.request_id(frame), "unknown-frame", "only 'stats' is understood"))
    finally:
        stats.cancel()
        await asyncio.gather(stats, return_exceptions=True)
        hub.untrack("supervisor", box)
        await box.close()
    return ws


def _stats_frame(hub: Hub, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    engine = hub.runner.engine
    shown = [q for q in engine.queues if allowed is None or q in allowed]
    return {
        "type": "stats",
        # with each queue's target, so a wallboard colours a missed one
        "queues": [
            {
                **frames.stats(engine.queue_stats(q)),
                "target_pct": engine.queues[q].service_level_pct,
                # channel -> [offered, answered, abandoned] since start
                "by_channel": {ch: list(row) for ch, row in engine.qstats[q].by_channel.items()},
                "forecast": hub.forecast(q) if hub.forecast is not None else None,
            }
            for q in shown
        ],
    }


async def _stream_stats(hub: Hub, box: Outbox, allowed: frozenset[str] | None) -> None:
    while box.open:
        box.put(_stats_frame(hub, allowed))
        await asyncio.sleep(STATS_INTERVAL_S)


async def survey_stats(request: web.Request) -> web.Response:
    """Survey answers so far (since start): per queue and per agent, count,
    average and how many of each score."""
    surveys = request.app[HUB].surveys
    return web.json_response(surveys.stats() if surveys is not None else {"queues": {}, "agents": {}})


IDEMPOTENCY: web.AppKey[Idempotency] = web.AppKey("idempotency", Idempotency)


def add_routes(app: web.Application, hub: Hub) -> None:
    app[HUB] = hub
    app[IDEMPOTENCY] = Idempotency(hub.limits.idempotency_keys)
    app.router.add_post("/v1/contacts", create_contact)
    app.router.add_get("/v1/contacts", list_contacts)
    app.router.add_post("/v1/contacts/{id}/move", move_contact)
    app.router.add_post("/v1/contacts/{id}/end", end_contact)
    app.router.add_post("/v1/agents/{id}/away", agent_away)
    app.router.add_post("/v1/agents/{id}/logout", agent_logout)
    app.router.add_get("/v1/supervisor/ws", supervisor_ws)
    app.router.add_get("/v1/surveys", survey_stats)
