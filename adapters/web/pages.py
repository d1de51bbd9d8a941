"""The browser apps, served by the daemon: ``/`` (a landing page),
``/agent`` (the agent desktop), ``/supervisor`` (the wallboard), ``/chat``
(the customer's chat page) and ``/static/`` (their modules, styles and the
embeddable chat snippet). Plain JavaScript modules: no build step, no Node
at run time, no third-party code.

Every response carries ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer``; pages carry a strict
Content-Security-Policy (scripts, styles and connections from this origin
only, no inline script, no framing, except the chat page, which the
``[limits] allowed_origins`` sites may frame). Static files are revalidated
(``Cache-Control: no-cache`` with ``ETag``/``Last-Modified``): an upgrade is
seen at once, an unchanged file costs a 304.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from acd.adapters.daemon.config_file import AcdSettings

STATIC = Path(__file__).parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PAGES = {"/": "index.html", "/agent": "agent.html", "/supervisor": "supervisor.html", "/chat": "chat.html"}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' data:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors {frames}"
)


def csp(frame_ancestors: str = "'none'") -> str:
    return _CSP.format(frames=frame_ancestors)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response: no type sniffing, no referrer; the pages and their
    files: revalidated every time (an ETag makes that a 304)."""
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path in PAGES or request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"
    return response


def add_routes(app: web.Application, settings: Callable[[], AcdSettings]) -> None:
    """The pages and their files. The chat page may be framed by the sites
    of ``[limits] allowed_origins`` (the embeddable snippet)."""
    framers = " ".join(["'self'", *settings().limits.allowed_origins])

    def page(name: str, frame_ancestors: str = "'none'") -> Handler:
        async def serve(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(
                STATIC / name,
                headers={
                    "Content-Type": "text/html; charset=utf-8",
                    "Content-Security-Policy": csp(frame_ancestors),
                },
            )

        return serve

    for path, name in PAGES.items():
        app.router.add_get(path, page(name, framers if path == "/chat" else "'none'"))
    app.router.add_static("/static/", STATIC, follow_symlinks=False)

    async def chat_config(request: web.Request) -> web.Response:
        return web.json_response(_chat_config(settings()))

    app.router.add_get("/v1/chat/config", chat_config)


def _chat_config(settings: AcdSettings) -> dict[str, object]:
    """What the public chat page needs: the queues it may start a chat in
    (those taking a channel web chat allows) and the channels."""
    webchat = settings.webchat
    queues = [q.name for q in settings.routing.queues if any(ch in q.channels for ch in webchat.channels)]
    return {"queues": queues, "channels": list(webchat.channels)}
