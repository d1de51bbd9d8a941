"""Any node accepts anyone: a standby forwards to the owner.

A node that does not own the routing still listens on the configured HTTP
and FastAGI ports and passes every request, WebSocket and AGI connection
through to the owner (where it advertised itself in Redis). One writer
keeps all the routing's state, so nothing is decided twice; the forwarder
holds no state but open sockets. When the owner changes, the sockets it
forwarded close with 1012 (service restart) and the clients come back, to
this node or any other, with their resume and session tokens
(docs/cluster.md). Health (``/healthz``, ``/readyz``, ``/metrics``) is
answered here, about this node.

The owner trusts what a forwarder says of its client (its address, for the
per-address limits; its scheme, for the origin check) only with the peer
secret (:func:`peer_middleware`); a client's own ``X-ACD-*`` headers are
dropped on the way.

Bounds: a forwarded body is bounded like the owner's (``client_max_size``),
a frame by ``frames.MAX_FRAME``, the sockets held (WebSockets and AGI
connections together) by ``[cluster] forwarded_sockets``; a slow reader
slows only its own pair of sockets (each write awaits its drain).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from acd.adapters.cluster.lease import Owner
from acd.adapters.web.frames import MAX_FRAME
from acd.adapters.web.http_api import MAX_BODY, error_response
from acd.adapters.web.peers import FORWARDED_FOR, FORWARDED_PROTO, PEER

log = logging.getLogger("acd.cluster")

SERVICE_RESTART = 1012  # RFC 6455 (IANA registry): come back, the service restarted
TRY_AGAIN_LATER = 1013
_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)
_WS_HANDSHAKE = frozenset(
    h.lower()
    for h in (
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
    )
)
_LOCAL = frozenset({"/healthz", "/readyz", "/metrics"})
_CLOSE_WAIT_S = 0.2  # for clients' close replies when this node stops forwarding
_FROM_OWNER_MAX = 16 * 1024 * 1024  # a frame from the owner (trusted): an offer with a long transcript


class Forwarder:
    """What a standby serves: the owner, through this node. The writer of
    its own counters only; ``owner`` is set by whoever polls the lease."""

    def __init__(self, node: str, secret: str, heartbeat_s: float, max_sockets: int) -> None:
        self.node = node
        self.secret = secret
        self.heartbeat_s = heartbeat_s
        self.max_sockets = max_sockets
        self.owner: Owner | None = None
        self.refresh: Callable[[], Awaitable[None]] | None = None  # read the owner again (after a failure)
        self.counts: Counter[str] = Counter()
        self._sockets: set[web.WebSocketResponse] = set()
        self._pipes: set[asyncio.StreamWriter] = set()
        self._http: aiohttp.ClientSession | None = None
        self._web: web.AppRunner | None = None
        self._agi: asyncio.Server | None = None
        self._closing = False

    def point_to(self, owner: Owner | None) -> None:
        """Forward to ``owner`` from now on (None: nobody owns the routing
        this instant); a new owner is logged, wherever it was learnt."""
        if owner is not None and owner != self.owner:
            log.info("standby: forwarding to %s (%s)", owner.node, owner.http)
        self.owner = owner

    # ------------------------------------------------------------ lifecycle

    async def start(
        self, host: str, port: int, agi: tuple[str, int] | None, tls: ssl.SSLContext | None
    ) -> tuple[int, int | None]:
        """Listen; returns the ports bound (the owner binds the same later)."""
        self._http = aiohttp.ClientSession(
            # aiohttp's default of 100 connections would cap the sockets held: forwarded_sockets bounds them
            connector=aiohttp.TCPConnector(limit=0),
            cookie_jar=aiohttp.DummyCookieJar(),  # one client's cookies must never reach another
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=60, sock_connect=2),
        )
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._web = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=_CLOSE_WAIT_S)
        await self._web.setup()
        site = web.TCPSite(self._web, host, port, ssl_context=tls)
        agi_port = None
        try:
            await site.start()
            if agi is not None:
                self._agi = await asyncio.start_server(self._pipe, agi[0], agi[1])
                agi_port = int(self._agi.sockets[0].getsockname()[1])
        except OSError:
            await self.stop()
            raise
        bound = self._web.addresses
        return (int(bound[0][1]) if bound else port), agi_port

    async def stop(self) -> None:
        """Close every forwarded socket (1012: come back), stop listening."""
        self._closing = True
        if self._agi is not None:
            self._agi.close()
        for w in list(self._pipes):
            w.close()
        # Each client is told to come back; one that does not answer its
        # close frame at once is cut off: the new owner waits for no one.
        closing = [
            asyncio.create_task(ws.close(code=SERVICE_RESTART, message=b"owner-changed"))
            for ws in list(self._sockets)
        ]
        if closing:
            _, late = await asyncio.wait(closing, timeout=_CLOSE_WAIT_S)
            for t in late:
                t.cancel()
            await asyncio.gather(*closing, return_exceptions=True)
        if self._web is not None:
            await self._web.cleanup()
        if self._agi is not None:
            await self._agi.wait_closed()
        if self._http is not None:
            await self._http.close()

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path in _LOCAL:
            return self._local(request)
        owner = self.owner
        if owner is None or self._closing:
            return self._unavailable("no node owns the routing right now")
        if hmac.compare_digest(request.headers.get(PEER, "").encode(), self.secret.encode()):
            # Another node forwarded it here on an owner it had not yet seen
            # change: passing it on again could loop. The client retries.
            self.counts["refused"] += 1
            return self._unavailable("this node does not own the routing either")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._socket(request, owner)
        assert self._http is not None
        body = await request.read()  # bounded by client_max_size: 413 beyond
        self.counts["requests"] += 1
        try:
            async with self._http.request(
                request.method,
                owner.http + request.path_qs,
                headers=self._headers(request),
                data=body,
                allow_redirects=False,
            ) as r:
                data = await r.read()
                headers = CIMultiDict((k, v) for k, v in r.headers.items() if k.lower() not in _HOP_BY_HOP)
                return web.Response(status=r.status, body=data, headers=headers)
        except (aiohttp.ClientError, OSError, TimeoutError):
            await self._owner_failed()
            return self._unavailable("the owner did not answer")

    def _headers(self, request: web.Request) -> CIMultiDict[str]:
        """The client's headers for the owner: hop-by-hop and any ``X-ACD-*``
        dropped, the peer's own added. O(headers)."""
        out = CIMultiDict(
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in _HOP_BY_HOP and not k.lower().startswith("x-acd-")
        )
        out["Host"] = request.host
        out[PEER] = self.secret
        out[FORWARDED_FOR] = request.remote or "unknown"
        out[FORWARDED_PROTO] = request.scheme
        return out

    def _local(self, request: web.Request) -> web.Response:
        owner = self.owner
        if request.path == "/healthz":
            return web.json_response({"status": "ok", "role": "standby", "node": self.node})
        if request.path == "/readyz":  # ready to serve (through the owner) when there is one
            body = {"ready": owner is not None, "role": "standby", "node": self.node}
            body["owner"] = owner.node if owner is not None else None
            return web.json_response(body, status=200 if owner is not None else 503)
        lines = [
            "# HELP acd_cluster_owner 1 on the node that owns the routing, 0 on a standby",
            "# TYPE acd_cluster_owner gauge",
            "acd_cluster_owner 0",
            "# HELP acd_forwarded_total Requests and connections this standby forwarded to the owner",
            "# TYPE acd_forwarded_total counter",
            *(f'acd_forwarded_total{{kind="{k}"}} {n}' for k, n in sorted(self.counts.items())),
            "# HELP acd_forwarded_open Sockets this standby holds open to the owner",
            "# TYPE acd_forwarded_open gauge",
            f"acd_forwarded_open {len(self._sockets) + len(self._pipes)}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    @staticmethod
    def _unavailable(message: str) -> web.Response:
        r = error_response("no-owner", message, status=503)
        r.headers["Retry-After"] = "1"
        return r

    async def _owner_failed(self) -> None:
        self.counts["owner-unreachable"] += 1
        if self.refresh is not None:
            await self.refresh()

    # ------------------------------------------------------------- WebSocket

    async def _socket(self, request: web.Request, owner: Owner) -> web.StreamResponse:
        """One client socket, one socket to the owner, frames passed both
        ways until either closes."""
        if len(self._sockets) + len(self._pipes) >= self.max_sockets:
            self.counts["refused"] += 1
            return error_response("too-many-sockets", "this node forwards no more sockets", status=503)
        assert self._http is not None
        headers = self._headers(request)
        for h in _WS_HANDSHAKE:
            headers.popall(h, None)
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
        ]
        url = owner.http.replace("http", "ws", 1) + request.path_qs
        try:
            upstream = await self._http.ws_connect(
                url, headers=headers, protocols=protocols, max_msg_size=_FROM_OWNER_MAX, autoping=True
            )
        except aiohttp.WSServerHandshakeError as e:  # the owner refused it (origin, limits): say so
            return error_response(
                "refused-by-owner", f"the owner refused the socket ({e.status})", status=e.status
            )
        except (aiohttp.ClientError, OSError, TimeoutError):
            await self._owner_failed()
            return self._unavailable("the owner did not answer")
        ws = web.WebSocketResponse(
            timeout=1.0,  # for the client's close reply
            heartbeat=self.heartbeat_s,
            max_msg_size=MAX_FRAME,
            protocols=[upstream.protocol] if upstream.protocol else (),
        )
        self.counts["sockets"] += 1
        self._sockets.add(ws)
        try:
            await ws.prepare(request)
            down = asyncio.create_task(_pass(upstream, ws), name="acd-forward-down")
            up = asyncio.create_task(_pass(ws, upstream), name="acd-forward-up")
            done, _ = await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
            for t in (down, up):
                t.cancel()
            await asyncio.gather(down, up, return_exceptions=True)
            if up in done:  # the client left (or this node stopped forwarding)
                await upstream.close(code=ws.close_code or 1000)
            elif upstream.close_code in (None, 1006):  # the owner went away: come back
                await ws.close(code=SERVICE_RESTART, message=b"owner-changed")
            else:  # the owner closed it (a logout, a limit): its code, as it gave it
                await ws.close(code=upstream.close_code)
        finally:
            self._sockets.discard(ws)
            if not upstream.closed:
                await upstream.close()
        return ws

    # ------------------------------------------------------------------ AGI

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A FastAGI connection from Asterisk, passed byte for byte to the
        owner's FastAGI server. Refused (closed at once: Asterisk goes on in
        its dialplan, AGISTATUS=FAILURE) when no owner serves AGI."""
        owner = self.owner
        if owner is None or owner.agi is None or len(self._sockets) + len(self._pipes) >= self.max_sockets:
            self.counts["refused"] += 1
            writer.close()
            return
        host, _, port = owner.agi.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2)
        except (OSError, TimeoutError):
            await self._owner_failed()
            writer.close()
            return
        self.counts["agi"] += 1
        self._pipes.add(writer)
        try:
            a = asyncio.create_task(_copy(reader, up_writer), name="acd-agi-up")
            b = asyncio.create_task(_copy(up_reader, writer), name="acd-agi-down")
            await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
            for t in (a, b):
                t.cancel()
            await asyncio.gather(a, b, return_exceptions=True)
        finally:
            self._pipes.discard(writer)
            for w in (writer, up_writer):
                w.close()


async def _pass(src: Any, dst: Any) -> None:
    """Frames from one WebSocket to the other, in order; returns when
    ``src`` closes. Each send awaits its drain: a slow reader slows its
    sender only."""
    async for msg in src:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        else:
            return


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
