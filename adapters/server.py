"""The composition root: build the engine, the runner and the HTTP server;
own start-up and shutdown.

Signal handlers only set flags (uvicorn): the first SIGTERM/SIGINT starts a
graceful stop bounded by ``grace_s``, a second SIGINT forces it. aiohttp is
embedded with ``AppRunner``/``TCPSite``, so the port is known once bound (0
asks the OS for a free one, as the tests do).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from dataclasses import dataclass, field

from aiohttp import web

from acd.adapters.config_file import AcdSettings
from acd.adapters.http_api import READY, build_app
from acd.adapters.metrics import Metrics
from acd.adapters.runner import EngineRunner
from acd.adapters.runtime import tune_gc
from acd.engine import Engine

log = logging.getLogger("acd.server")


@dataclass
class Server:
    settings: AcdSettings
    port: int | None = None  # None: the configured one; 0: any free port
    grace_s: float = 5.0
    runner: EngineRunner = field(init=False)
    bound_port: int = field(init=False, default=0)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        engine = Engine(self.settings.routing, now=loop.time())
        self.runner = EngineRunner(engine)
        metrics = Metrics(engine)
        self.runner.on_handled = metrics.on_handled
        self._app = build_app(self.settings, self.runner, metrics)
        self._web = web.AppRunner(self._app, handle_signals=False, access_log=None)
        await self._web.setup()
        srv = self.settings.server
        tls = None
        if srv.tls_cert and srv.tls_key:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(srv.tls_cert, srv.tls_key)
        port = srv.port if self.port is None else self.port
        site = web.TCPSite(self._web, srv.host, port, ssl_context=tls)
        await site.start()
        sockets = self._web.addresses
        self.bound_port = int(sockets[0][1]) if sockets else port
        await self.runner.start()
        tune_gc()
        self._app[READY]["ready"] = True
        log.info(
            "serving on %s:%d (%d queues, %d agents)",
            srv.host,
            self.bound_port,
            len(self.settings.routing.queues),
            len(self.settings.routing.agents),
        )

    async def stop(self) -> None:
        """Stop accepting, finish queued commands, close; bounded by grace_s."""
        self._app[READY]["ready"] = False
        try:
            await asyncio.wait_for(self._shutdown(), timeout=self.grace_s)
        except TimeoutError:
            log.warning("shutdown took longer than %.1f s; closing anyway", self.grace_s)
        c = self.runner.engine.counters
        log.info(
            "stopped: %d commands (%d refused), %d offers, %d contacts still open",
            c["commands"],
            c["refused"],
            c["offers"],
            len(self.runner.engine.contacts),
        )

    async def _shutdown(self) -> None:
        await self._web.cleanup()
        await self.runner.stop()


async def serve(settings: AcdSettings) -> int:
    """Run until SIGTERM/SIGINT; exit code 0. The handlers are installed
    before start-up, so a signal that arrives while starting stops cleanly."""
    server = Server(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hits = {"n": 0}

    def on_signal() -> None:
        hits["n"] += 1
        if hits["n"] > 1:
            log.warning("second signal: forcing exit")
            server.grace_s = 0.0
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    await server.start()
    await stop.wait()
    await server.stop()
    return 0
