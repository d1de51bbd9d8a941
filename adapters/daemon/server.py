"""The composition root: build the engine, the runner and the HTTP server;
own start-up and shutdown.

Signal handlers only set flags (uvicorn): the first SIGTERM/SIGINT starts a
graceful stop bounded by ``grace_s``, a second SIGINT forces it. aiohttp is
embedded with ``AppRunner``/``TCPSite``, so the port is known once bound (0
asks the OS for a free one, as the tests do).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sqlite3
import ssl
import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import asyncpg
from aiohttp import web
from redis.exceptions import RedisError

from acd import CORE_BUILD
from acd import commands as cmds
from acd.adapters.asterisk.ami import AmiLink
from acd.adapters.asterisk.fastagi import VoiceCalls
from acd.adapters.cluster.forwarding import Forwarder
from acd.adapters.cluster.lease import Lease
from acd.adapters.customers.api import add_routes as add_customer_routes
from acd.adapters.customers.desk import CustomerDesk, Customers
from acd.adapters.customers.store import CustomerStore, RedisStore, SqliteStore
from acd.adapters.daemon.config_file import AcdSettings, CustomerSettings, load, parse
from acd.adapters.daemon.conversations import Conversation
from acd.adapters.daemon.hub import Hub
from acd.adapters.daemon.opening_hours import OpeningHours
from acd.adapters.daemon.runner import EngineRunner
from acd.adapters.daemon.runtime import tune_gc
from acd.adapters.daemon.snapshots import Snapshots, journaled_routing
from acd.adapters.daemon.staffing import StaffingForecast
from acd.adapters.daemon.surveys import Surveys
from acd.adapters.durable.journal import DirectoryJournal
from acd.adapters.durable.recovery import Recovered, recover
from acd.adapters.durable.redis_journal import RedisJournal
from acd.adapters.reports.postgres import PostgresReportStore
from acd.adapters.reports.queue_log_file import QueueLogFile
from acd.adapters.reports.store import ReportStore
from acd.adapters.reports.writer import ReportWriter
from acd.adapters.security.auth import AuthGuard, Verifier
from acd.adapters.web.agent_ws import AgentDesks
from acd.adapters.web.chat_ws import WebChat
from acd.adapters.web.gateways import Gateways
from acd.adapters.web.http_api import CLUSTER_NODE, FORECAST, HEALTHY, READY, SESSIONS, build_app
from acd.adapters.web.metrics import Metrics
from acd.adapters.web.pages import add_routes as add_pages
from acd.adapters.web.peers import peer_middleware
from acd.adapters.web.reports import add_routes as add_report_routes
from acd.adapters.web.sessions import Sessions
from acd.adapters.web.supervisor import add_routes as add_supervisor_routes
from acd.engine import Engine
from acd.errors import ConfigError
from acd.hours import Schedule
from acd.queue_log import Directory
from acd.settings import HANDOFF_CHANNEL, RoutingConfig
from acd.states import CONNECTED, OFFERED, QUEUED, WRAP_UP
from acd.stays import Thresholds

log = logging.getLogger("acd.server")
STEPPED_DOWN = 3  # exit code: another node owns the routing now


class StartError(ConfigError):
    """The server cannot start as configured (a port in use): said in one line."""

    code = "cannot-start"

    def __init__(self, message: str) -> None:
        super().__init__([message])


@dataclass
class Server:
    settings: AcdSettings
    port: int | None = None  # None: the configured one; 0: any free port
    agi_port: int | None = None  # FastAGI, the same way (when [asterisk] enables it)
    grace_s: float = 5.0
    runner: EngineRunner = field(init=False)
    bound_port: int = field(init=False, default=0)
    bound_agi_port: int | None = field(init=False, default=None)
    _syncer: asyncio.Task[None] | None = field(init=False, default=None)
    journal: DirectoryJournal | RedisJournal | None = field(init=False, default=None)
    snapshots: Snapshots | None = field(init=False, default=None)
    lease: Lease | None = field(init=False, default=None)
    peer_secret: str | None = field(init=False, default=None)
    queue_log: QueueLogFile | None = field(init=False, default=None)
    reports: ReportWriter | None = field(init=False, default=None)
    _renewer: asyncio.Task[None] | None = field(init=False, default=None)

    async def start(self) -> None:
        # Recovery builds millions of objects and frees none: automatic
        # collections would walk them again and again (3x the time at 100,000
        # contacts). tune_gc then freezes what start-up built.
        gc.disable()
        try:
            await self._start()
        finally:
            gc.enable()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.settings.cluster.enabled:
            await self._become_owner()
        srv = self.settings.server
        self.recovered = self._open_journal(loop)
        if self.recovered is not None:
            # Engine time goes on from where the journal ends, downtime included
            # (customers were waiting): the new clock is the old one, shifted.
            rec = self.recovered
            offset = rec.now + max(0.0, time.time() - rec.wall) - loop.time()
            self.runner = EngineRunner(rec.engine, lambda: loop.time() + offset)
        else:
            engine = Engine(self.settings.routing, now=loop.time())
            self.runner = EngineRunner(engine)
            if self.journal is not None:
                self.journal.append(
                    {"k": "start", "now": loop.time(), "w": time.time(), "toml": self.settings.text}
                )
        self.runner.journal = self.journal
        if self.journal is not None:
            journal, limit = self.journal, self.settings.journal.outage_bytes
            self.runner.backlogged = lambda: not journal.healthy and journal.pending_bytes > limit
        self.hub = Hub(self.runner, srv.position_interval_s)
        self.hub.limits = self.settings.limits
        self.hub.journal = self.journal
        metrics = Metrics(self.runner.engine, self.hub.connection_counts)
        self.runner.listen(metrics.on_handled)
        lim = self.settings.limits
        self.verifier = Verifier(lim.password_workers, lim.password_backlog)
        self.guard = AuthGuard(lim.auth_failures_per_minute, lim.auth_failure_burst, self.verifier)
        metrics.watch_guard(self.guard, self.hub.refusals)
        self.desks = AgentDesks(
            self.hub, dict(self.settings.credentials), self.guard, srv.agent_grace_s, srv.heartbeat_s
        )
        self.webchat = WebChat(
            self.hub, self.guard, srv.customer_grace_s, srv.heartbeat_s, self.settings.webchat
        )
        self.hub.conversations.on_remove.append(self.webchat.forget)
        self.gateways = Gateways(self.hub, dict(self.settings.gateways))
        cs = self.settings.customers
        self.store = make_store(cs)
        try:
            await self.store.open()
        except Exception as e:
            raise ConfigError([f"customers: cannot open the {cs.store} store: {e}"]) from e
        self.customers = Customers(self.store, cs.country_code, self.hub.wall_clock)
        self.customer_desk = CustomerDesk(
            self.customers, self.runner, self.hub.conversations, cs, self.hub.wall_clock
        )
        self.hub.customer_desk = self.customer_desk
        self.runner.listen(self.customer_desk.on_events)
        self.surveys = Surveys(self.settings.survey, self.hub.wall_clock, self.customer_desk.survey_answered)
        self.hub.surveys = self.surveys
        self.surveys.tell_agent = lambda agent, cid, score: self.hub.to_desk(
            agent, {"type": "survey-answer", "contact": cid, "score": score}
        )
        self.customer_desk.survey_asked = self.surveys.is_asked
        self._apply_policies(self.settings)
        self.surveys.journal = self.journal
        other = self.recovered.other if self.recovered is not None else {}
        self.surveys.replay(sorted(other.get("ask", []) + other.get("answer", []), key=_journal_order))
        self.gateways.use_journal(self.journal, other.get("gwid", []))
        self.hours = OpeningHours(self.runner, _schedules(self.settings))
        self.voice = VoiceCalls(self.hub, self.settings.asterisk)
        self.hub.has_call = self.voice.has_call
        self.queue_log = self._open_queue_log()
        ami = self.settings.asterisk.ami
        self.ami = AmiLink(ami, self.runner, self.voice) if ami is not None else None
        if self.ami is not None:
            metrics.watch_ami(self.ami)
        self.app = build_app(self.settings, self.runner, metrics, self.reload, self.guard)
        self.staffing = StaffingForecast(self.runner)
        self.app[FORECAST] = self.hub.forecast = self.staffing.for_queue
        if self.peer_secret is not None:  # requests other nodes forward: their clients' addresses
            self.app.middlewares.insert(0, peer_middleware(self.peer_secret))
            self.app[CLUSTER_NODE] = self.settings.cluster.node
        if self.journal is not None:
            journal = self.journal
            self.app[HEALTHY] = lambda: journal.healthy
            metrics.watch_journal(journal)
        tls_on = bool(srv.tls_cert and srv.tls_key)
        self.sessions = Sessions(
            self.guard,
            lambda: self.settings.credentials,
            lambda: self.settings.supervisors,
            lambda: self.settings.desktop.session_hours * 3600.0,
            tls=tls_on,
        )
        self.app[SESSIONS] = self.sessions
        self.sessions.journal = self.journal
        self.sessions.replay(sorted(other.get("web", []), key=_journal_order))
        self.sessions.add_routes(self.app)
        self.desks.sessions = self.sessions
        self.desks.desktop = self.settings.desktop
        add_pages(self.app, lambda: self.settings)
        add_supervisor_routes(self.app, self.hub)
        add_customer_routes(self.app, self.customers)
        await self._open_reports()
        self.app.router.add_get("/v1/agent/ws", self.desks.handle)
        self.app.router.add_get("/v1/chat/ws", self.webchat.handle)
        self.app.router.add_post("/v1/gateways/{name}/messages", self.gateways.inbound)
        self._web = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._web.setup()
        port = srv.port if self.port is None else self.port
        site = web.TCPSite(self._web, srv.host, port, ssl_context=self._tls())
        ast = self.settings.asterisk
        # Both ports first, before any task runs: a port in use stops the
        # start-up cleanly with one line, nothing half started.
        try:
            await site.start()
            if ast.fastagi_port is not None:
                agi_port = ast.fastagi_port if self.agi_port is None else self.agi_port
                self.bound_agi_port = await self.voice.start(ast.fastagi_host, agi_port)
        except OSError as e:
            await self.voice.stop()
            await self._web.cleanup()
            await self.store.close()
            self.verifier.close()
            raise StartError(f"cannot listen: {e.strerror or e}") from None
        sockets = self._web.addresses
        self.bound_port = int(sockets[0][1]) if sockets else port
        await self.runner.start()
        if isinstance(self.journal, DirectoryJournal) and self.journal.fsync == "interval":
            self._syncer = asyncio.create_task(self.journal.sync_every(), name="acd-journal-sync")
        if self.snapshots is not None:
            await self.snapshots.start()
        if self.lease is not None:
            self._renewer = asyncio.create_task(self._keep_lease(), name="acd-lease")
            await asyncio.to_thread(self.lease.advertise, *self._addresses())
        if self.recovered is not None:
            await self._restore(self.recovered)
        await self.hours.start()
        await self.customer_desk.start()
        if self.reports is not None:
            await self.reports.start()
        await self.staffing.start()
        await self.hub.start()
        await self.gateways.start()
        if self.ami is not None:
            await self.ami.start()
        tune_gc()
        self.app[READY]["ready"] = True
        agi = f", FastAGI on {ast.fastagi_host}:{self.bound_agi_port}" if self.bound_agi_port else ""
        log.info(
            "serving on %s:%d (config %s: %d queues, %d agents%s; routing core: %s)",
            srv.host,
            self.bound_port,
            self.settings.path or self.settings.source,
            len(self.settings.routing.queues),
            len(self.settings.routing.agents),
            agi,
            CORE_BUILD,
        )
        if self.settings.path is None:
            log.warning(
                "running the embedded defaults: no agent has a password (nobody can log in) and the admin "
                "API is off (no admin_token_hash); give --config FILE (see config/acd.toml)"
            )
        for w in self.settings.warnings:
            log.warning("config: %s", w)

    async def _become_owner(self) -> None:
        """[cluster]: until this node holds the lease, forward everyone to
        the node that does (docs/cluster.md); then stop forwarding and start
        as the owner on the same ports. The fence token it gets guards every
        journal append."""
        cs, js = self.settings.cluster, self.settings.journal
        self.lease = lease = Lease(js.redis_url, js.redis_key, cs.node, cs.lease_ms)
        try:
            self.peer_secret = await asyncio.to_thread(lease.peer_secret)
            if await asyncio.to_thread(lease.try_acquire):
                log.info("node %s owns the routing (fence %d)", cs.node, lease.token)
                return
        except RedisError as e:
            raise StartError(f"cluster: cannot reach Redis: {e}") from None
        forwarder = Forwarder(
            cs.node, self.peer_secret, self.settings.server.heartbeat_s, cs.forwarded_sockets
        )
        try:
            await self._forward_until_owner(forwarder)
        finally:  # owner now, or stopped while waiting: the forwarded sockets come back
            forwarder.owner = None
            await forwarder.stop()
        log.info("node %s owns the routing (fence %d)", cs.node, lease.token)

    async def _forward_until_owner(self, forwarder: Forwarder) -> None:
        """Listen on this node's ports, forward to the owner, poll the lease
        every third of it. After Redis was unreachable, the owner gets one
        lease of head start to renew (it may hold contacts not yet written):
        only a lease that lapsed while Redis answered means a dead owner."""
        cs, srv, ast = self.settings.cluster, self.settings.server, self.settings.asterisk
        lease = self.lease
        assert lease is not None
        loop = asyncio.get_running_loop()

        async def refresh() -> None:
            try:
                forwarder.point_to(await asyncio.to_thread(lease.whereabouts))
            except RedisError:
                forwarder.point_to(None)

        forwarder.refresh = refresh
        await refresh()
        port = srv.port if self.port is None else self.port
        agi = None
        if ast.fastagi_port is not None:
            agi = (ast.fastagi_host, ast.fastagi_port if self.agi_port is None else self.agi_port)
        try:
            self.port, agi_port = await forwarder.start(srv.host, port, agi, self._tls())
        except OSError as e:
            raise StartError(f"cannot listen: {e.strerror or e}") from None
        if agi_port is not None:
            self.agi_port = agi_port
        log.info(
            "standby: %s owns the routing; node %s forwards %s:%d to it and takes over when its lease lapses",
            forwarder.owner.node if forwarder.owner is not None else "another node",
            cs.node,
            srv.host,
            self.port,
        )
        patience_until = 0.0
        while True:
            await asyncio.sleep(cs.lease_ms / 3000)
            try:
                forwarder.point_to(await asyncio.to_thread(lease.whereabouts))
                if loop.time() >= patience_until and await asyncio.to_thread(lease.try_acquire) > 0:
                    return
            except RedisError as e:
                if patience_until < loop.time():
                    log.warning("cluster: cannot reach Redis (%s)", e)
                patience_until = loop.time() + cs.lease_ms / 1000

    def _addresses(self) -> tuple[str, str | None]:
        """Where the other nodes reach this one: its HTTP base URL and its
        FastAGI host:port (None when off)."""
        srv = self.settings.server
        host = self.settings.cluster.advertise_host or srv.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        scheme = "https" if srv.tls_cert and srv.tls_key else "http"
        agi = f"{host}:{self.bound_agi_port}" if self.bound_agi_port else None
        return f"{scheme}://{host}:{self.bound_port}", agi

    def _tls(self) -> ssl.SSLContext | None:
        srv = self.settings.server
        if not (srv.tls_cert and srv.tls_key):
            return None
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(srv.tls_cert, srv.tls_key)
        return tls

    async def _keep_lease(self) -> None:
        """Renew every third of the lease; a lease found lost stops the node."""
        lease = self.lease
        assert lease is not None
        away = False
        while True:
            await asyncio.sleep(lease.ttl_ms / 3000)
            try:
                ours = await asyncio.to_thread(lease.renew)
            except RedisError as e:  # the owner keeps routing; the fence guards every write
                if not away:
                    log.warning("cluster: cannot renew the lease (%s): routing on from memory", e)
                away = True
                continue
            if away and ours:
                log.info("cluster: Redis answers again; node %s still owns the routing", lease.node)
            away = False
            if not ours:
                self._step_down("the lease lapsed and another node holds it")
                return

    def _step_down(self, why: str) -> None:
        """This node no longer owns the routing: nothing more may leave it.
        Exit at once (before any effect of what it could not write runs);
        a process supervisor brings it back as a standby."""
        log.critical("stepping down: %s", why)
        logging.shutdown()
        os._exit(STEPPED_DOWN)

    def _open_journal(self, loop: asyncio.AbstractEventLoop) -> Recovered | None:
        """Open the journal (if configured) and replay what it holds."""
        js = self.settings.journal
        self.journal = (
            DirectoryJournal(js.path, js.fsync)
            if js.store == "directory"
            else RedisJournal(js.redis_url, js.redis_key)
            if js.store == "redis"
            else None
        )
        if self.journal is None:
            return None
        if isinstance(self.journal, RedisJournal) and self.lease is not None:
            self.journal.fence = (self.lease.fence_key, self.lease.token)
            self.journal.on_fenced = lambda: self._step_down("a newer owner fenced the journal")
        started = time.perf_counter()
        try:
            self.journal.open()
            rec = recover(self.journal, self._routing, self.settings.text, self.settings.routing)
        except (OSError, RedisError) as e:
            raise StartError(f"journal: cannot open the {js.store} journal: {e}") from None
        except ValueError as e:
            raise StartError(str(e)) from None
        if self.settings.text is not None:  # the worker rebuilds the routing from the journaled text
            self.snapshots = Snapshots(self.journal, js)
        if rec is None:
            return None
        rec.conversations = rec.open_conversations()
        log.info(
            "recovered from the journal in %.3f s: %s%d records; %d contacts, %d conversations, "
            "%d agents logged in",
            time.perf_counter() - started,
            "a snapshot and " if rec.from_snapshot else "",
            rec.records,
            len(rec.engine.contacts),
            len(rec.conversations),
            sum(1 for a in rec.engine.agents.values() if a.status != "logged-out"),
        )
        return rec

    def _routing(self, data: dict[str, Any]) -> RoutingConfig:
        """A journaled configuration's routing (its secrets may not be in
        this environment: only the routing matters to the engine)."""
        if not data:  # recorded without a file (the embedded defaults): the same as now
            return self.settings.routing
        try:
            return parse(data, "journal", env=os.environ).routing
        except ConfigError:
            return journaled_routing(data)

    async def _restore(self, rec: Recovered) -> None:
        """Give the recovered contacts their customer side back, then apply
        this start's configuration if it is not the journaled one (refused,
        the journaled one stays, as a refused reload would leave it)."""
        self._restore_conversations(rec)
        await self.desks.restore(rec.tokens)
        self.customer_desk.adopt(rec.history, list(self.hub.conversations.by_id.values()))
        await self._restore_calls(rec)
        if self.settings.text is not None and self.settings.text != rec.toml:
            try:
                await self.runner.submit(lambda now: self._reconfigure_to(self.settings, now))
            except ConfigError as e:
                log.error(
                    "%s cannot apply to the recovered contacts; the journal's configuration stays:\n  %s",
                    self.settings.path,
                    "\n  ".join(e.problems),
                )

    def _restore_conversations(self, rec: Recovered) -> None:
        engine = self.runner.engine
        for cid, doc in rec.conversations.items():
            conv = Conversation.from_record(doc)
            c = engine.contacts[cid]
            conv.queue, conv.channel = c.queue, c.channel
            conv.journal = self.journal
            holder = engine.agents.get(c.agent_id or "")
            asg = holder.assignments.get(cid) if holder is not None else None
            if asg is not None and asg.state == CONNECTED:
                conv.agent_id = holder.id if holder is not None else None
            conv.ended = asg is not None and asg.state == WRAP_UP
            conv.handed_off = conv.channel != doc["channel"] and conv.channel == HANDOFF_CHANNEL
            self.hub.conversations.add(conv)
            if conv.origin in self.gateways.gateways:
                conv.sink = self.gateways.gateways[conv.origin]
        pages = [c for c in self.hub.conversations.by_id.values() if c.origin == "webchat"]
        self.webchat.restore(pages)

    async def _restore_calls(self, rec: Recovered) -> None:
        engine = self.runner.engine
        callbacks = self.voice.callbacks
        for cb in rec.other.get("cb", []):
            if cb["id"] in engine.contacts:  # still to call back
                callbacks.keep(cb["id"], cb["number"], cb["queue"], cb["agi"], journal=False)
        # Calls: their FastAGI sessions died with the old process and Asterisk
        # went on in the dialplan, which may send the same channel back
        # (docs/asterisk.md): a waiting call keeps its place for the grace.
        for cid, c in list(engine.contacts.items()):
            held = self.hub.conversations.get(cid)
            call = (held is None or held.origin == "voice") and c.channel in engine.phone_channels
            if not call or cid in callbacks.pending:
                continue
            uniqueid = held.attributes.get("uniqueid") if held is not None else None
            if c.state in (QUEUED, OFFERED):
                if uniqueid:
                    self.voice.adopt(uniqueid, cid, self.settings.server.customer_grace_s)
                else:
                    await self.runner.submit(partial(cmds.Abandon, contact_id=cid))
            elif c.state == CONNECTED and uniqueid:
                # still bridged in Asterisk: AMI tells its end (docs/asterisk.md)
                self.voice.adopt_bridged(uniqueid, cid)

    def _open_queue_log(self) -> QueueLogFile | None:
        """[reports] queue_log: Asterisk's format, from the engine's events (acd/queue_log.py)."""
        path = self.settings.reports.queue_log
        if not path:
            return None
        engine, hub = self.runner.engine, self.hub

        def callid(contact_id: str) -> str:
            conv = hub.conversations.get(contact_id)
            uniqueid = conv.attributes.get("uniqueid") if conv is not None else None
            return uniqueid or contact_id  # a call's Uniqueid: the lines join Asterisk's CDRs

        names = Directory(callid, lambda ch: ch in engine.phone_channels, hub.agent_name, self._agent_queues)
        qlog = QueueLogFile(path, names, lambda: time.time() - self.runner.now())
        try:
            qlog.open()
        except OSError as e:
            raise StartError(f"reports: cannot open the queue_log {path}: {e.strerror or e}") from None
        self.runner.listen(qlog.on_events)
        return qlog

    async def _open_reports(self) -> None:
        """[reports] store: stays and agent intervals for the interval reports."""
        rs = self.settings.reports
        if rs.store == "off":
            return
        store: ReportStore | PostgresReportStore = (
            ReportStore(rs.sqlite_path) if rs.store == "sqlite" else PostgresReportStore(rs.postgres_url)
        )
        try:
            await store.open()
        except (OSError, sqlite3.Error, asyncpg.PostgresError) as e:
            where = rs.sqlite_path if rs.store == "sqlite" else "PostgreSQL"
            raise StartError(f"reports: cannot open {where}: {e}") from None
        engine = self.runner.engine

        def threshold(queue: str) -> float:
            spec = engine.queues.get(queue)
            return spec.service_level_s if spec is not None else 0.0

        def offset() -> float:  # engine time -> Unix time
            return time.time() - self.runner.now()

        self.reports = ReportWriter(
            store, Thresholds(threshold, rs.short_abandon_s), offset, rs.retention_days
        )
        self.runner.listen(self.reports.on_events)
        self.surveys.counted = self.reports.survey
        add_report_routes(self.app, store, rs.time_zone, self._agent_queues, self.reports.live_intervals)

    def _agent_queues(self, agent_id: str) -> tuple[str, ...]:
        """The queues an agent serves now (none once a reload removed it). O(its queues)."""
        a = self.runner.engine.agents.get(agent_id)
        return tuple(a.spec.queues) if a is not None else ()

    def _reconfigure_to(self, settings: AcdSettings, now: float) -> list[Any]:
        """In the writer: apply ``settings`` and put it on record (replay applies it too)."""
        if self.journal is not None:
            self.journal.append({"k": "config", "now": now, "w": time.time(), "toml": settings.text})
        return self.runner.engine.reconfigure(settings.routing, now)

    async def reload(self) -> list[str]:
        """Read the config file again and apply it, or raise ConfigError with
        every problem and keep the running config. Returns notes for the
        operator. Every attempt is logged with its outcome. The queue_log
        is reopened first, whatever the file says (log rotation)."""
        if self.queue_log is not None:
            self.queue_log.reopen()
        try:
            return await self._reload()
        except ConfigError as e:
            log.error("reload refused; the running configuration stays:\n  %s", "\n  ".join(e.problems))
            raise
        except Exception:
            log.exception("reload failed; the running configuration stays")
            raise

    async def _reload(self) -> list[str]:
        path = self.settings.path
        if path is None:
            raise ConfigError(["started on the embedded default: there is no file to reload"])
        new = await asyncio.to_thread(load, path)
        engine = self.runner.engine
        before = set(engine.agents)
        await self.runner.submit(lambda now: self._reconfigure_to(new, now))
        self.desks.removed(before - set(engine.agents))
        if self.ami is not None:
            self.ami.remap()
        notes = []
        if new.server != self.settings.server:
            notes.append("[server] changes (listen, TLS, admin token, timers) apply at the next restart")
        if new.asterisk != self.settings.asterisk:
            notes.append("[asterisk] changes (FastAGI, AMI, music, announcements) apply at the next restart")
        if new.customers != self.settings.customers:
            notes.append("[customers] changes (store, country code, history) apply at the next restart")
        self._apply_policies(new)
        self.surveys.settings = new.survey
        self.hours.update(_schedules(new))
        self.desks.credentials = dict(new.credentials)
        self.desks.desktop = new.desktop
        self.webchat.settings = new.webchat
        if new.limits != self.settings.limits:
            notes.append("[limits] changes apply at the next restart")
        await self.gateways.update(dict(new.gateways))
        self.settings = replace(
            new,
            server=self.settings.server,
            asterisk=self.settings.asterisk,
            customers=self.settings.customers,
            limits=self.settings.limits,
        )
        log.info(
            "reloaded %s: %d queues, %d agents, %d contacts kept",
            path,
            len(new.routing.queues),
            len(new.routing.agents),
            len(engine.contacts),
        )
        return notes

    def _apply_policies(self, settings: AcdSettings) -> None:
        """What the hub reads per contact: routing rules, queue options."""
        self.hub.rules = settings.rules
        self.hub.queue_options = settings.options

    async def stop(self) -> None:
        """Stop accepting, finish queued commands, close; bounded by grace_s."""
        self.app[READY]["ready"] = False
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
        # Stop listening, say goodbye on every socket, drop grace timers (the
        # contacts they guard stay open until the process ends), then finish
        # the commands already queued.
        for site in list(self._web.sites):
            await site.stop()
        self.desks.closing = self.webchat.closing = True
        if self.ami is not None:
            await self.ami.stop()
        await self.voice.stop()
        await self.hub.stop()
        await self.staffing.stop()
        await self._web.cleanup()
        await self.desks.close()
        await self.webchat.close()
        await self.gateways.stop()
        await self.hours.stop()
        await self.runner.stop()
        await self.customer_desk.stop()  # after the runner: every finished contact is queued
        if self.reports is not None:  # after the runner too: the last rows are written
            await self.reports.stop()
            await self.reports.store.close()
        await self.store.close()
        if self._syncer is not None:
            self._syncer.cancel()
            await asyncio.gather(self._syncer, return_exceptions=True)
        if self.snapshots is not None:
            await self.snapshots.stop(final=True)  # the rest of the grace: the next start reads little
        if self.journal is not None:
            self.journal.close()
        if self.queue_log is not None:
            self.queue_log.close()
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        if self.lease is not None:  # hand over at once: a standby need not wait for the lapse
            await asyncio.to_thread(self.lease.release)
            self.lease.close()
        self.verifier.close()


def _journal_order(rec: dict[str, Any]) -> int:
    return int(rec["_n"])


def _schedules(settings: AcdSettings) -> dict[str, Schedule]:
    return {q: o.hours for q, o in settings.queue_options.items() if o.hours is not None}


def make_store(cs: CustomerSettings) -> CustomerStore:
    if cs.store == "redis":
        return RedisStore(cs.redis_url, cs.redis_prefix)
    return SqliteStore(cs.sqlite_path)


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

    hup = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    # A standby ([cluster]) may wait in start() a long time: a signal ends the wait.
    starting = asyncio.create_task(server.start(), name="acd-start")
    stopping = asyncio.create_task(stop.wait(), name="acd-stop-wait")
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()
        await asyncio.gather(starting, stopping, return_exceptions=True)
        log.info("stopped before owning the routing")
        return 0
    await asyncio.gather(stopping, return_exceptions=True)
    try:
        starting.result()
    except ConfigError as e:  # a port in use, a store that cannot open: said, not a traceback
        for problem in e.problems:
            log.error("%s", problem)
        return 1
    reloader = asyncio.create_task(_reload_on_hup(server, hup), name="acd-sighup")
    await stop.wait()
    reloader.cancel()
    await asyncio.gather(reloader, return_exceptions=True)
    await server.stop()
    return 0


async def _reload_on_hup(server: Server, hup: asyncio.Event) -> None:
    while True:
        await hup.wait()
        hup.clear()
        try:
            for note in await server.reload():
                log.warning("reload: %s", note)
        except Exception:
            pass
