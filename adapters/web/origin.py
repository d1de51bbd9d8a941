"""Which web pages may open our WebSockets.

A browser always sends ``Origin`` on a WebSocket upgrade, and a page on
another site must not drive an agent's or a customer's socket with the
user's cookies or from their network (cross-site WebSocket hijacking). A
socket is accepted when it has no ``Origin`` (not a browser: a desktop
app, a test, a gateway), when its origin is the server's own (scheme and
``Host`` as the request names them), or when ``[limits] allowed_origins``
lists it. Otherwise the upgrade is refused with 403 ``origin-not-allowed``.
"""

from __future__ import annotations

from aiohttp import web

from acd.errors import InvalidRequest


class OriginNotAllowed(InvalidRequest):
    code = "origin-not-allowed"


def check_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        return
    own = f"{request.scheme}://{request.host}"
    if origin == own or origin in allowed:
        return
    raise OriginNotAllowed(f"origin {origin[:100]!r} may not open this socket (see [limits] allowed_origins)")
