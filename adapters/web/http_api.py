"""HTTP: health, metrics and the supervisor REST API (aiohttp).

Handlers translate between HTTP and the engine; the one table below maps
error codes to statuses, and every answer that is not a success, from a
404 to an unexpected 500, is ``{"error": {"code", "message"}}``. Everything
under ``/v1`` needs the admin token (``Authorization: Bearer ...``, the
scheme in any case), checked against its keyed digest; with no hash
configured the API is closed. Failed tokens are limited per client address
(:mod:`acd.adapters.security.auth`).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from acd.adapters.daemon.config_file import AcdSettings
from acd.adapters.daemon.runner import EngineRunner
from acd.adapters.security.auth import AuthGuard, RateLimited, client_address
from acd.adapters.web import frames
from acd.adapters.web.metrics import Metrics
from acd.adapters.web.pages import security_headers
from acd.adapters.web.sessions import SESSION, Forbidden, Sessions, agent_in_scope, check_queue, scope
from acd.errors import AcdError, ConfigError

log = logging.getLogger("acd.http")

STATUS_BY_CODE: dict[str, int] = {
    "unauthorized": 401,
    "rate-limited": 429,
    "busy": 503,
    "not-found": 404,
    "method-not-allowed": 405,
    "body-too-large": 413,
    "unsupported-media-type": 415,
    "internal-error": 500,
    "conflict": 409,
    "conversation-full": 409,
    "no-conversation": 409,
    "disposition-required": 409,
    "agent-unavailable": 409,
    "bad-identity-token": 401,
    "idempotency-key-reused": 422,
    "unknown-gateway": 404,
    "replayed": 409,
    "admin-disabled": 403,
    "not-your-contact": 403,
    "origin-not-allowed": 403,
    "too-many-connections": 503,
    "unknown-agent": 404,
    "unknown-contact": 404,
    "unknown-queue": 404,
    "unknown-skill": 404,
    "unknown-customer": 404,
    "unknown-merge": 404,
    "invalid-transition": 409,
    "contact-ended": 409,
    "queue-full": 409,
    "channel-not-allowed": 409,  # the queue exists and takes other channels
    "queue-closed": 409,
    "transfer-loop": 409,
    "duplicate-contact": 409,
    "journal-unavailable": 503,
    "invalid-config": 422,
    "csrf-refused": 403,
    "forbidden": 403,
}
DEFAULT_ERROR_STATUS = 400
MAX_BODY = 256 * 1024  # bytes in a REST body; beyond: 413 body-too-large
PUBLIC_PATHS = frozenset({"/v1/agent/ws", "/v1/chat/ws", "/v1/session", "/v1/chat/config"})

RUNNER: web.AppKey[EngineRunner] = web.AppKey("runner", EngineRunner)
SETTINGS: web.AppKey[AcdSettings] = web.AppKey("settings", AcdSettings)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
READY: web.AppKey[dict[str, bool]] = web.AppKey("ready", dict)
TOKENS: web.AppKey[set[str]] = web.AppKey("tokens", set)
GUARD: web.AppKey[AuthGuard] = web.AppKey("guard", AuthGuard)
HEALTHY: web.AppKey[Callable[[], bool]] = web.AppKey("healthy")
CLUSTER_NODE: web.AppKey[str] = web.AppKey("cluster-node", str)  # [cluster]: this node's name
# queue -> its staffing forecast (adapters/daemon/staffing.py)
FORECAST: web.AppKey[Callable[[str], dict[str, Any]]] = web.AppKey("forecast")
# aiohttp's own refusals (no route, wrong method, body too big ...) by status
_HTTP_CODES = {
    400: "malformed-message",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
}
Reload = Callable[[], Awaitable[list[str]]]
RELOAD: web.AppKey[Reload] = web.AppKey("reload")
SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions", Sessions)


def error_response(
    code: str, message: str, problems: list[str] | None = None, status: int | None = None
) -> web.Response:
    status = status or STATUS_BY_CODE.get(code, DEFAULT_ERROR_STATUS)
    body: dict[str, object] = {"code": code, "message": message}
    if problems is not None:
        body["problems"] = problems
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="acd"'
    return web.json_response({"error": body}, status=status, headers=headers)


def acd_error_response(e: AcdError) -> web.Response:
    r = error_response(e.code, e.message)
    if isinstance(e, RateLimited):
        r.headers["Retry-After"] = str(math.ceil(e.retry_after_s))
    return r


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The agent and customer sockets authenticate in their first frame,
    # gateways by signing each request.
    path = request.path
    try:
        if path.startswith("/v1/") and path not in PUBLIC_PATHS and not path.startswith("/v1/gateways/"):
            denied = await _check_admin(request)
            if denied is not None:
                return denied
        return await handler(request)
    except ConfigError as e:
        return error_response(e.code, "the configuration was not applied", e.problems)
    except AcdError as e:
        if isinstance(e, RateLimited):
            await request.app[GUARD].tarpit()
        return acd_error_response(e)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = _HTTP_CODES.get(e.status, "malformed-message" if e.status < 500 else "internal-error")
        r = error_response(code, e.reason, status=e.status)
        if "Allow" in e.headers:  # 405: which methods the resource has (RFC 9110)
            r.headers["Allow"] = e.headers["Allow"]
        return r
    except Exception:  # a bug: a JSON 500 and a logged traceback, never the server
        log.exception("%s %s failed", request.method, path)
        return error_response("internal-error", "the server failed to handle this request")


def bearer(request: web.Request) -> str:
    """The token of ``Authorization: Bearer <token>`` (the scheme in any case, RFC 7235), or ''."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _check_admin(request: web.Request) -> web.Response | None:
    """A machine's admin token, or a supervisor's browser session (whose
    changes carry the CSRF token; only the ``admin`` role reloads)."""
    sessions = request.app.get(SESSIONS)
    if sessions is not None and not bearer(request):
        s = sessions.of(request)
        if s is not None and s.role != "agent":
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                sessions.require_csrf(request, s)
            if request.path.startswith("/v1/admin/") and s.role != "admin":
                raise Forbidden("only an admin supervisor may do this")
            request[SESSION] = s
            return None
    stored = request.app[SETTINGS].server.admin_token_hash
    if stored is None:
        return error_response("admin-disabled", "no admin token is configured (server.admin_token_hash)")
    token = bearer(request)
    if not token:
        return error_response("unauthorized", "an admin token is required (Authorization: Bearer ...)")
    # A PBKDF2-hashed token (older configs) is slow to check: remember the
    # ones verified (by digest). A keyed-digest hash needs no memory.
    digest = hashlib.sha256(token.encode()).hexdigest()
    known = request.app[TOKENS]
    if digest not in known:
        guard = request.app[GUARD]
        if not await guard.verify(client_address(request.remote), "admin-token", token, stored):
            return error_response("unauthorized", "invalid admin token")
        if len(known) < MAX_KNOWN_TOKENS:
            known.add(digest)
    return None


MAX_KNOWN_TOKENS = 64


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Started (recovery done) and not stopping, and the journal is writing."""
    ready = request.app[READY]["ready"] and request.app[HEALTHY]()
    body: dict[str, object] = {"ready": ready}
    node = request.app.get(CLUSTER_NODE)
    if node is not None:  # a standby answers too (adapters/cluster/forwarding.py): who is who
        body.update(role="owner", node=node)
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def queues(request: web.Request) -> web.Response:
    engine = request.app[RUNNER].engine
    allowed = scope(request)
    shown = [q for q in engine.queues if allowed is None or q in allowed]
    forecast = request.app.get(FORECAST)
    out = []
    for q in shown:
        row = frames.stats(engine.queue_stats(q))
        if forecast is not None:
            row["forecast"] = forecast(q)
        out.append(row)
    return web.json_response({"queues": out})


async def agents(request: web.Request) -> web.Response:
    engine = request.app[RUNNER].engine
    allowed = scope(request)
    shown = [a for a, rec in engine.agents.items() if agent_in_scope(allowed, rec.spec.queues)]
    return web.json_response({"agents": [frames.stats(engine.agent_stats(a)) for a in shown]})


async def contact(request: web.Request) -> web.Response:
    engine = request.app[RUNNER].engine
    why = engine.explain(request.match_info["id"])
    check_queue(request, why.queue)
    return web.json_response(frames.stats(why))


async def reload(request: web.Request) -> web.Response:
    notes = await request.app[RELOAD]()
    engine = request.app[RUNNER].engine
    return web.json_response(
        {"reloaded": True, "notes": notes, "queues": len(engine.queues), "agents": len(engine.agents)}
    )


def build_app(
    settings: AcdSettings, runner: EngineRunner, metrics_: Metrics, reload_: Reload, guard: AuthGuard
) -> web.Application:
    app = web.Application(middlewares=[security_headers, errors_and_auth], client_max_size=MAX_BODY)
    app[GUARD] = guard
    app[HEALTHY] = lambda: True  # the server adds what it depends on (the journal)
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
