"""Supervisor actions (REST) and the supervisor WebSocket.

Everything here sits under ``/v1`` and needs the admin token (the middleware
in :mod:`acd.adapters.web.http_api` checks it). Actions translate to engine
commands through the single writer; the WebSocket streams every engine
event and, every few seconds, the live queue statistics.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from aiohttp import WSMsgType, web

from acd import commands as cmds
from acd.adapters.daemon.conversations import Conversation
from acd.adapters.daemon.hub import Hub
from acd.adapters.web import frames
from acd.adapters.web.http_api import json_body
from acd.adapters.web.origin import check_origin
from acd.adapters.web.outbox import Outbox
from acd.codec import MalformedMessage

HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
STATS_INTERVAL_S = 2.0


async def create_contact(request: web.Request) -> web.Response:
    """A work item from a back office (e-mail, task, a test call)."""
    hub = request.app[HUB]
    data = await json_body(request)
    queue = frames.text(data, "queue")
    channel = frames.opt_text(data, "channel")
    spec = hub.runner.engine.queues.get(queue)
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise MalformedMessage("'priority' must be an integer")
    skills = data.get("skills", {})
    if not isinstance(skills, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in skills.values()
    ):
        raise MalformedMessage("'skills' must map skill names to levels")
    cid = frames.opt_text(data, "id") or hub.new_contact_id("api")
    conv = Conversation(
        contact_id=cid,
        channel=channel or (spec.default_channel if spec is not None else "task"),
        queue=queue,
        priority=priority,
        customer=frames.opt_text(data, "customer") or cid,
        origin="api",
        identity=frames.mapping(data, "identity"),
        attributes=frames.mapping(data, "attributes"),
    )
    await hub.start_contact(conv, frames.opt_text(data, "text"), tuple(sorted(skills.items())))
    return web.json_response({"contact": cid}, status=201)


async def move_contact(request: web.Request) -> web.Response:
    """Move a waiting (or ringing) contact to another queue or agent."""
    hub = request.app[HUB]
    data = await json_body(request)
    cid = request.match_info["id"]
    queue, agent = frames.opt_text(data, "queue"), frames.opt_text(data, "agent")
    if queue is None and agent is None:
        raise MalformedMessage("give 'queue' or 'agent'")
    await hub.runner.submit(lambda now: cmds.Transfer(now, cid, to_queue=queue, to_agent=agent))
    return web.json_response({"contact": cid})


async def agent_away(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    aid = request.match_info["id"]
    reason = frames.opt_text(await json_body(request), "reason") or "supervisor"
    await hub.runner.submit(lambda now: cmds.SetAway(now, aid, reason))
    return web.json_response(asdict(hub.runner.engine.agent_stats(aid)))


async def agent_logout(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    aid = request.match_info["id"]
    await hub.runner.submit(lambda now: cmds.Logout(now, aid))
    return web.json_response(asdict(hub.runner.engine.agent_stats(aid)))


async def supervisor_ws(request: web.Request) -> web.StreamResponse:
    """Every engine event as it happens, and queue statistics every few seconds."""
    hub = request.app[HUB]
    check_origin(request, hub.limits.allowed_origins)
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    box = hub.outbox(ws, "supervisor", limit=20_000)
    hub.track("supervisor", box)
    hub.supervisors.add(box)
    box.put({"type": "hello", "api": "acd-supervisor/1"})
    stats = asyncio.create_task(_stream_stats(hub, box))
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
                box.put(_stats_frame(hub))
            else:
                box.put(frames.error(frames.request_id(frame), "unknown-frame", "only 'stats' is understood"))
    finally:
        stats.cancel()
        await asyncio.gather(stats, return_exceptions=True)
        hub.untrack("supervisor", box)
        await box.close()
    return ws


def _stats_frame(hub: Hub) -> dict[str, Any]:
    engine = hub.runner.engine
    return {"type": "stats", "queues": [asdict(engine.queue_stats(q)) for q in engine.queues]}


async def _stream_stats(hub: Hub, box: Outbox) -> None:
    while box.open:
        box.put(_stats_frame(hub))
        await asyncio.sleep(STATS_INTERVAL_S)


async def survey_stats(request: web.Request) -> web.Response:
    """Survey answers so far (since start): per queue and per agent, count,
    average and how many of each score."""
    surveys = request.app[HUB].surveys
    return web.json_response(surveys.stats() if surveys is not None else {"queues": {}, "agents": {}})


def add_routes(app: web.Application, hub: Hub) -> None:
    app[HUB] = hub
    app.router.add_post("/v1/contacts", create_contact)
    app.router.add_post("/v1/contacts/{id}/move", move_contact)
    app.router.add_post("/v1/agents/{id}/away", agent_away)
    app.router.add_post("/v1/agents/{id}/logout", agent_logout)
    app.router.add_get("/v1/supervisor/ws", supervisor_ws)
    app.router.add_get("/v1/surveys", survey_stats)
