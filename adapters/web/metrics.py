"""Prometheus metrics: every name in one place, read from the engine on scrape.

Counts and gauges come from the engine's incremental statistics when
Prometheus scrapes (no per-event bookkeeping here); the decision latency is a
histogram the runner feeds with the engine time of each command that made an
offer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, GCCollector, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acd.engine import Engine
from acd.events import ContactOffered, Event
from acd.states import PRESENCES

PREFIX = "acd"
WAITING = f"{PREFIX}_queue_waiting"
RINGING = f"{PREFIX}_queue_ringing"
CONNECTED = f"{PREFIX}_queue_connected"
LONGEST_WAIT = f"{PREFIX}_queue_longest_wait_seconds"
SERVICE_LEVEL = f"{PREFIX}_queue_service_level_ratio"
OFFERED = f"{PREFIX}_contacts_offered"
ANSWERED = f"{PREFIX}_contacts_answered"
ABANDONED = f"{PREFIX}_contacts_abandoned"
OVERFLOWED = f"{PREFIX}_contacts_overflowed"
AGENTS = f"{PREFIX}_agents"
AGENTS_TOTAL = f"{PREFIX}_agents_by_presence"
DECISION_SECONDS = f"{PREFIX}_decision_seconds"
CONNECTIONS = f"{PREFIX}_websocket_connections"
AMI_CONNECTED = f"{PREFIX}_ami_connected"
AMI_LOGINS = f"{PREFIX}_ami_logins"
CALLBACKS_WAITING = f"{PREFIX}_callbacks_waiting"
AUTH_FAILURES = f"{PREFIX}_auth_failures"
AUTH_REFUSED = f"{PREFIX}_auth_rate_limited"
LIMIT_REFUSALS = f"{PREFIX}_limit_refusals"
JOURNAL_RECORDS = f"{PREFIX}_journal_records"
JOURNAL_BYTES = f"{PREFIX}_journal_bytes"
JOURNAL_SYNCS = f"{PREFIX}_journal_syncs"
JOURNAL_ERRORS = f"{PREFIX}_journal_errors"
JOURNAL_HEALTHY = f"{PREFIX}_journal_healthy"
JOURNAL_SNAPSHOTS = f"{PREFIX}_journal_snapshots"
JOURNAL_SNAPSHOT_FAILURES = f"{PREFIX}_journal_snapshot_failures"


class EngineCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        e = self.engine
        waiting = GaugeMetricFamily(WAITING, "Contacts waiting in the queue", labels=["queue"])
        ringing = GaugeMetricFamily(RINGING, "Contacts offered, not yet answered", labels=["queue"])
        connected = GaugeMetricFamily(CONNECTED, "Contacts in conversation", labels=["queue"])
        longest = GaugeMetricFamily(LONGEST_WAIT, "Longest current wait", labels=["queue"])
        sl = GaugeMetricFamily(
            SERVICE_LEVEL, "Answered within target / (answered + abandoned)", labels=["queue"]
        )
        offered = CounterMetricFamily(OFFERED, "Offers made", labels=["queue", "channel"])
        answered = CounterMetricFamily(ANSWERED, "Contacts answered", labels=["queue", "channel"])
        abandoned = CounterMetricFamily(ABANDONED, "Contacts abandoned", labels=["queue", "channel"])
        overflowed = CounterMetricFamily(OVERFLOWED, "Contacts overflowed", labels=["queue"])
        agents = GaugeMetricFamily(
            AGENTS,
            "Agents serving the queue, by presence (an agent counts once per queue it serves)",
            labels=["queue", "presence"],
        )
        total = GaugeMetricFamily(AGENTS_TOTAL, "Agents by presence, each once", labels=["presence"])
        by_presence = dict.fromkeys(PRESENCES, 0)
        for a in e.agents.values():
            by_presence[a.presence] += 1
        for presence, n in by_presence.items():
            total.add_metric([presence], n)
        for name in e.queues:
            s = e.queue_stats(name)
            waiting.add_metric([name], s.waiting)
            ringing.add_metric([name], s.ringing)
            connected.add_metric([name], s.connected)
            longest.add_metric([name], s.longest_wait_s)
            if s.service_level_pct is not None:
                sl.add_metric([name], s.service_level_pct / 100)
            # Every configured (queue, channel) from the start, at 0: a rate() needs its first sample.
            counts: dict[str, Sequence[int]] = dict.fromkeys(e.queues[name].channels, (0, 0, 0))
            counts.update(e.qstats[name].by_channel)
            for channel, (n_offered, n_answered, n_abandoned) in counts.items():
                offered.add_metric([name, channel], n_offered)
                answered.add_metric([name, channel], n_answered)
                abandoned.add_metric([name, channel], n_abandoned)
            overflowed.add_metric([name], s.overflowed)
            for presence, n in zip(PRESENCES, e.qstats[name].agents.counts(), strict=True):
                agents.add_metric([name, presence], n)
        yield from (
            total,
            waiting,
            ringing,
            connected,
            longest,
            sl,
            offered,
            answered,
            abandoned,
            overflowed,
            agents,
        )


class ConnectionCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily(CONNECTIONS, "Open WebSocket connections", labels=["kind"])
        for kind, n in self.counts().items():
            g.add_metric([kind], n)
        yield g


class AmiState(Protocol):
    connected: bool
    logins: int

    def callbacks(self) -> int: ...


class AmiCollector(Collector):
    """The AMI link, read on scrape: whether it is logged in now, how many
    logins it took (more than one: Asterisk was lost and found again), and
    the callbacks it holds."""

    def __init__(self, link: AmiState) -> None:
        self.link = link

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            AMI_CONNECTED, "1 while the AMI link is logged in", value=int(self.link.connected)
        )
        yield CounterMetricFamily(AMI_LOGINS, "Successful AMI logins", value=self.link.logins)
        yield GaugeMetricFamily(
            CALLBACKS_WAITING,
            "Callbacks held: waiting, or being made",
            value=self.link.callbacks(),
        )


class GuardState(Protocol):
    @property
    def failures(self) -> Mapping[str, int]: ...
    @property
    def refused(self) -> int: ...


class GuardCollector(Collector):
    """Failed authentications by credential kind, attempts refused by the
    per-address limit, and every other limit's refusals by name."""

    def __init__(self, guard: GuardState, refusals: Mapping[str, int]) -> None:
        self.guard = guard
        self.refusals = refusals

    def collect(self) -> Iterator[Metric]:
        f = CounterMetricFamily(AUTH_FAILURES, "Failed authentications", labels=["kind"])
        for kind in ("admin-token", "agent-password", "agent-session", "identity-token"):
            f.add_metric([kind], self.guard.failures.get(kind, 0))
        yield f
        yield CounterMetricFamily(
            AUTH_REFUSED, "Authentications refused by the per-address limit", value=self.guard.refused
        )
        r = CounterMetricFamily(
            LIMIT_REFUSALS, "Requests or connections refused by a limit", labels=["limit"]
        )
        for name in LIMIT_NAMES:
            r.add_metric([name], self.refusals.get(name, 0))
        yield r


# Every limit of [limits] that refuses something, as counted in acd_limit_refusals_total.
LIMIT_NAMES = (
    "outbox_bytes",
    "transcript_chars",
    "chat_starts_per_minute",
    "chat_sockets",
    "chat_sockets_per_address",
    "chat_idle_s",
    "origin",
    "password_backlog",
)


class JournalState(Protocol):
    @property
    def records(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def syncs(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def healthy(self) -> bool: ...
    @property
    def snapshots(self) -> int: ...
    @property
    def snapshot_failures(self) -> int: ...


class JournalCollector(Collector):
    def __init__(self, journal: JournalState) -> None:
        self.journal = journal

    def collect(self) -> Iterator[Metric]:
        j = self.journal
        yield CounterMetricFamily(JOURNAL_RECORDS, "Records appended to the journal", value=j.records)
        yield CounterMetricFamily(JOURNAL_BYTES, "Bytes appended to the journal", value=j.bytes)
        yield CounterMetricFamily(JOURNAL_SYNCS, "Journal disk syncs", value=j.syncs)
        yield CounterMetricFamily(JOURNAL_ERRORS, "Journal writes or syncs that failed", value=j.errors)
        yield GaugeMetricFamily(
            JOURNAL_HEALTHY, "1 while the journal's last write succeeded", value=int(j.healthy)
        )
        yield CounterMetricFamily(JOURNAL_SNAPSHOTS, "Journal snapshots written", value=j.snapshots)
        yield CounterMetricFamily(
            JOURNAL_SNAPSHOT_FAILURES,
            "Journal snapshots that failed (the journal stays whole, only longer to replay)",
            value=j.snapshot_failures,
        )


class Metrics:
    """A registry per server (tests run several servers in one process)."""

    def __init__(self, engine: Engine, connections: Callable[[], dict[str, int]] | None = None) -> None:
        self.registry = CollectorRegistry()
        # The process: CPU, memory, open descriptors (Linux), and the interpreter.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.registry.register(EngineCollector(engine))
        if connections is not None:
            self.registry.register(ConnectionCollector(connections))
        self.decision = Histogram(
            DECISION_SECONDS,
            "Engine time of a command that made offers, per offer",
            registry=self.registry,
            buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2),
        )

    def watch_guard(self, guard: GuardState, refusals: Mapping[str, int]) -> None:
        self.registry.register(GuardCollector(guard, refusals))

    def watch_journal(self, journal: JournalState) -> None:
        self.registry.register(JournalCollector(journal))

    def watch_ami(self, link: AmiState) -> None:
        self.registry.register(AmiCollector(link))

    def on_handled(self, events: list[Event], seconds: float) -> None:
        offers = sum(1 for e in events if isinstance(e, ContactOffered))
        for _ in range(offers):
            self.decision.observe(seconds / offers)
