"""HTTP: health, metrics and the supervisor REST API (aiohttp).

Handlers translate between HTTP and the engine; the one table below maps
error codes to statuses. Everything under ``/v1`` needs the admin token
(``Authorization: Bearer ...``), checked against its salted hash; with no
hash configured the API is closed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from acd.adapters.daemon.config_file import AcdSettings
from acd.adapters.daemon.runner import EngineRunner
from acd.adapters.security.passwords import verify_password
from acd.adapters.web.metrics import Metrics
from acd.errors import AcdError, ConfigError

STATUS_BY_CODE: dict[str, int] = {
    "unauthorized": 401,
    "unknown-gateway": 404,
    "replayed": 409,
    "admin-disabled": 403,
    "not-your-contact": 403,
    "unknown-agent": 404,
    "unknown-contact": 404,
    "unknown-queue": 404,
    "unknown-customer": 404,
    "unknown-merge": 404,
    "invalid-transition": 409,
    "queue-full": 409,
    "queue-closed": 409,
    "transfer-loop": 409,
    "duplicate-contact": 409,
    "invalid-config": 422,
}
DEFAULT_ERROR_STATUS = 400
PUBLIC_PATHS = frozenset({"/v1/agent/ws", "/v1/chat/ws"})

RUNNER: web.AppKey[EngineRunner] = web.AppKey("runner", EngineRunner)
SETTINGS: web.AppKey[AcdSettings] = web.AppKey("settings", AcdSettings)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
READY: web.AppKey[dict[str, bool]] = web.AppKey("ready", dict)
TOKENS: web.AppKey[set[str]] = web.AppKey("tokens", set)
Reload = Callable[[], Awaitable[list[str]]]
RELOAD: web.AppKey[Reload] = web.AppKey("reload")


def error_response(code: str, message: str, problems: list[str] | None = None) -> web.Response:
    status = STATUS_BY_CODE.get(code, DEFAULT_ERROR_STATUS)
    body: dict[str, object] = {"code": code, "message": message}
    if problems is not None:
        body["problems"] = problems
    return web.json_response({"error": body}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The agent and customer sockets authenticate in their first frame,
    # gateways by signing each request.
    path = request.path
    if path.startswith("/v1/") and path not in PUBLIC_PATHS and not path.startswith("/v1/gateways/"):
        denied = _check_admin(request)
        if denied is not None:
            return denied
    try:
        return await handler(request)
    except ConfigError as e:
        return error_response(e.code, "the configuration was not applied", e.problems)
    except AcdError as e:
        return error_response(e.code, e.message)


def _check_admin(request: web.Request) -> web.Response | None:
    stored = request.app[SETTINGS].server.admin_token_hash
    if stored is None:
        return error_response("admin-disabled", "no admin token is configured (server.admin_token_hash)")
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if not token:
        return error_response("unauthorized", "an admin token is required (Authorization: Bearer ...)")
    # PBKDF2 is slow on purpose; remember tokens already verified (by digest).
    digest = hashlib.sha256(token.encode()).hexdigest()
    known = request.app[TOKENS]
    if digest not in known:
        if not verify_password(token, stored):
            return error_response("unauthorized", "invalid admin token")
        known.add(digest)
    return None


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[READY]["ready"]
    return web.json_response({"ready": ready}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def queues(request: web.Request) -> web.Response:
    engine = request.app[RUNNER].engine
    return web.json_response({"queues": [asdict(engine.queue_stats(q)) for q in engine.queues]})


async def agents(request: web.Request) -> web.Response:
    engine = request.app[RUNNER].engine
    return web.json_response({"agents": [asdict(engine.agent_stats(a)) for a in engine.agents]})


async def contact(request: web.Request) -> web.Response:
    engine = request.app[RUNNER].engine
    return web.json_response(asdict(engine.explain(request.match_info["id"])))


async def reload(request: web.Request) -> web.Response:
    notes = await request.app[RELOAD]()
    engine = request.app[RUNNER].engine
    return web.json_response(
        {"reloaded": True, "notes": notes, "queues": len(engine.queues), "agents": len(engine.agents)}
    )


def build_app(
    settings: AcdSettings, runner: EngineRunner, metrics_: Metrics, reload_: Reload
) -> web.Application:
    app = web.Application(middlewares=[errors_and_auth])
    app[SETTINGS] = settings
    app[RUNNER] = runner
    app[METRICS] = metrics_
    app[READY] = {"ready": False}
    app[TOKENS] = set()
    app[RELOAD] = reload_
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/queues", queues)
    app.router.add_get("/v1/agents", agents)
    app.router.add_get("/v1/contacts/{id}", contact)
    app.router.add_post("/v1/admin/reload", reload)
    return app
