"""Requests a node of the cluster forwards (adapters/cluster/forwarding.py).

The owner sees a forwarded request as coming from the client the forwarder
names (its address, for the per-address limits; its scheme, for the origin
check), but only when it carries the peer secret, which the nodes share
through Redis. Anyone else's ``X-ACD-*`` headers change nothing (and a
forwarder drops a client's own before adding its).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

PEER = "X-ACD-Peer"  # the peer secret: the request comes from a node of the cluster
FORWARDED_FOR = "X-ACD-Forwarded-For"  # the client's address, as the forwarder saw it
FORWARDED_PROTO = "X-ACD-Forwarded-Proto"  # the scheme the client used ("https" behind TLS)


def peer_middleware(secret: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The owner's side: a request that carries the peer secret is seen as
    coming from the client the forwarder names. O(1) per request."""
    expected = secret.encode()

    @web.middleware
    async def trusted_peer(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        claim = request.headers.get(PEER)
        if claim is not None and hmac.compare_digest(claim.encode(), expected):
            remote = request.headers.get(FORWARDED_FOR, request.remote or "unknown")[:64]
            scheme = "https" if request.headers.get(FORWARDED_PROTO) == "https" else "http"
            request = request.clone(remote=remote, scheme=scheme)
        return await handler(request)

    return trusted_peer
