"""Operator configuration files: TOML in, frozen settings out.

``load(path)`` reads a file; ``parse(data, source)`` turns the parsed TOML into
:class:`AcdSettings` (server, routing, credentials, gateways). Every problem is
collected with the file, the key path, what is wrong and what is allowed, and
raised together as one :class:`~acd.errors.ConfigError`; nothing is applied
unless everything is valid. Sections left out fall back to the embedded
defaults (channels, capacity profiles), so a small file serves a small centre.

Secrets never sit in plain text here: agent passwords and the admin token are
salted PBKDF2 hashes (``acd hash-password``), gateway secrets come from an
environment variable (``secret_env``) or the file, and no settings object
shows a secret in its ``repr``.
"""

from __future__ import annotations

import math
import os
import socket
import tomllib
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from acd.adapters.security.passwords import MAX_ITERATIONS, is_password_hash, is_token_hash
from acd.capacity import CompiledProfile
from acd.contact_rules import Rule
from acd.errors import ConfigError
from acd.hours import DAYS, Schedule, Span, parse_days, parse_span
from acd.identity import BadIdentifier
from acd.identity import key as identifier_key
from acd.settings import (
    DEFAULT_CHANNELS,
    DEFAULT_PROFILES,
    MAX_LEVEL,
    MIN_LEVEL,
    STRATEGIES,
    WHEN_CLOSED,
    AgentSpec,
    CapacityProfile,
    ChannelRule,
    ChannelSpec,
    EscalationStep,
    QueueSpec,
    RoutingConfig,
)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: str | None = None
    tls_key: str | None = None
    admin_token_hash: str | None = field(default=None, repr=False)
    agent_grace_s: float = 30.0  # a dropped desktop keeps its conversations this long
    customer_grace_s: float = 30.0  # a dropped web chat page may resume this long
    heartbeat_s: float = 20.0  # WebSocket ping interval
    position_interval_s: float = 5.0  # how often waiting customers hear their place in line


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """What one client may make the server hold or compute (``[limits]``).
    Each limit, when hit, answers with a stable error or close code, logs
    a line and counts in ``acd_limit_refusals_total{limit}``."""

    auth_failures_per_minute: float = 10.0  # failed authentications per client address
    auth_failure_burst: int = 10
    password_workers: int = 2  # threads for PBKDF2 (people's passwords)
    password_backlog: int = 32  # checks waiting for them; beyond: 503 busy
    outbox_bytes: int = 8 * 1024 * 1024  # unsent bytes per socket, then it is closed (4008)
    transcript_chars: int = 100_000  # characters of messages per conversation
    chat_starts_per_minute: float = 6.0  # web chat conversations started per client address
    chat_start_burst: int = 10
    chat_sockets: int = 10_000  # open customer chat sockets in total
    chat_sockets_per_address: int = 50  # ... and per client address (a company NAT counts once)
    chat_idle_s: float = 300.0  # a chat socket with no conversation and no frame this long is closed
    allowed_origins: tuple[str, ...] = ()  # browser sockets: these origins (besides the server's own)
    idempotency_keys: int = 10_000  # Idempotency-Key answers remembered (24 h at most)


@dataclass(frozen=True, slots=True)
class JournalSettings:
    """Where the daemon keeps what it must not lose (``[journal]``)."""

    store: str = "off"  # "directory": a local journal, rebuilt from at start; "redis": a stream
    path: str = "data/journal"  # relative to the working directory
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)  # may hold a password
    redis_key: str = "acd:journal"
    fsync: str = (
        "interval"  # "always" | "batch" (each event-loop iteration) | "interval" (each second) | "off"
    )
    # A snapshot (and compaction) after this many records, or this long with any (0: never)
    snapshot_records: int = 50_000
    snapshot_interval_s: float = 600.0
    # While the journal cannot be written, new contacts are taken until this
    # much waits in memory; then refused (journal-unavailable) until it writes.
    outage_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WebChatSettings:
    """The public web chat (``[webchat]``): which channels a page may start,
    and the secret that verifies identity tokens from the customer's site."""

    channels: tuple[str, ...] = ("chat",)
    identity_secret: str | None = field(default=None, repr=False)
    identity_max_age_s: float = 600.0  # an identity token older than this is refused


@dataclass(frozen=True, slots=True)
class VoiceQueueSettings:
    """What a caller hears while waiting in one queue."""

    moh_class: str = "default"
    announce_every_s: float = 0.0  # 0: no position announcements
    callback: bool = False  # the caller may press callback_key to be called back (needs AMI)
    callback_key: str = "1"


@dataclass(frozen=True, slots=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: str = field(default="", repr=False)
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    ping_s: float = 20.0  # keepalive: a Ping unanswered for LOGIN_TIMEOUT_S means the link is dead


@dataclass(frozen=True, slots=True)
class AsteriskSettings:
    """The PBX side: FastAGI (calls in) and AMI (answer supervision, device
    state, desk-phone login). AMI is off unless a username is given."""

    fastagi_host: str = "127.0.0.1"
    fastagi_port: int | None = 4573  # None: FastAGI off
    answer: bool = True  # answer before queueing (music on hold needs an answered channel)
    dial_options: str = ""  # extra app_dial options, e.g. "t"
    voice: VoiceQueueSettings = VoiceQueueSettings()  # every queue, unless overridden
    queues: Mapping[str, VoiceQueueSettings] = field(default_factory=dict)
    # sound files for position announcements (Asterisk's core sounds by default)
    sound_next: str = "queue-youarenext"
    sound_there_are: str = "queue-thereare"
    sound_calls_waiting: str = "queue-callswaiting"
    # callback: what a waiting caller hears (offer: "" plays nothing; record your own
    # "press 1 to be called back"), and after pressing the key
    sound_callback_offer: str = ""
    sound_callback_confirmed: str = "auth-thankyou"
    # how the agent's leg reaches the customer ({number}: the caller id)
    callback_dial: str = "Local/{number}@acd-callback"
    callback_ring_s: float = 30.0
    ami: AmiSettings | None = None

    def for_queue(self, queue: str) -> VoiceQueueSettings:
        return self.queues.get(queue, self.voice)


@dataclass(frozen=True, slots=True)
class CustomerSettings:
    """Where customer profiles and contact history live, and how they are read."""

    store: str = "sqlite"  # or "redis"
    sqlite_path: str = "data/customers.sqlite3"  # relative to the working directory
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)  # may hold a password
    redis_prefix: str = "acd:"
    country_code: str | None = None  # phones without +/00 get it (E.164); None: kept as dialled
    history_limit: int = 5  # earlier contacts in an offer's screen pop
    lookup_timeout_s: float = 0.5  # a slow store never holds a contact back longer
    # A returning customer first waits for the agent who last served them, if
    # that was within this many days (the queue's preferred_wait_s); 0: off.
    preferred_agent_days: float = 30.0


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """What the adapters do around a queue's contacts (the engine routes
    them): opening hours, wrap-up codes, the post-contact survey."""

    hours: Schedule | None = None
    dispositions: tuple[str, ...] = ()  # the wrap-up codes an agent picks from
    disposition_required: bool = False  # wrap-up cannot end without one
    survey: bool = False  # ask the customer to rate the contact when the agent ends it


@dataclass(frozen=True, slots=True)
class SurveySettings:
    """The post-contact survey: one question, answered 1 (poor) to 5 (excellent)."""

    question: str = "How satisfied are you with this conversation? Reply 1 (poor) to 5 (excellent)."
    thanks: str = "Thank you for your feedback."
    answer_wait_s: float = 300.0  # a chat answer later than this is not a survey answer
    sound: str = "acd-survey"  # voice: the recorded question (press 1-5)
    sound_thanks: str = "auth-thankyou"
    voice_timeout_s: float = 6.0  # voice: how long to wait for the key


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    name: str
    secret: str = field(repr=False)
    queue: str = ""  # where a new conversation starts
    channel: str = "chat"
    callback_url: str | None = None  # where replies to the customer are POSTed


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """Several daemons on one Redis journal, one owner at a time (``[cluster]``)."""

    enabled: bool = False
    node: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    lease_ms: int = 2000  # a dead owner is replaced within this (plus the replay)
    # How the other nodes reach this one when it owns the routing ("" : the
    # [server] listen host, or this machine's name when it listens on all).
    advertise_host: str = ""
    forwarded_sockets: int = 20_000  # WebSockets and AGI connections a standby forwards at once


@dataclass(frozen=True, slots=True)
class SupervisorAccount:
    """A person who watches the centre in the browser (``[supervisors.NAME]``)."""

    name: str
    password_hash: str = field(repr=False)
    role: str = "supervisor"  # "supervisor" (watch, act on its queues) | "admin" (also reload)
    queues: tuple[str, ...] = ()  # the queues it sees and acts on; () = all


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """What the daemon puts on record for reporting (``[reports]``)."""

    queue_log: str = ""  # Asterisk's queue_log format, every channel ("" is off); reopened on SIGHUP
    store: str = "sqlite"  # where stays and agent intervals go: "sqlite", "postgres" (a cluster's), "off"
    sqlite_path: str = "data/reports.sqlite3"  # relative to the working directory
    postgres_url: str = field(default="", repr=False)  # may hold a password
    retention_days: int = 400
    short_abandon_s: float = 5.0  # an abandon sooner than this is counted apart
    time_zone: str = "UTC"  # the centre's: report intervals begin at its local times


@dataclass(frozen=True, slots=True)
class DesktopSettings:
    """What the browser desktop offers agents (``[desktop]``)."""

    away_reasons: tuple[str, ...] = ("break", "lunch", "training", "meeting")
    canned_replies: tuple[str, ...] = ()
    session_hours: float = 12.0  # a browser login lasts this long without activity


@dataclass(frozen=True, slots=True)
class AcdSettings:
    source: str
    server: ServerSettings
    routing: RoutingConfig
    # agent id -> salted password hash (agents without one cannot log in)
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    gateways: Mapping[str, GatewaySettings] = field(default_factory=dict)
    asterisk: AsteriskSettings = AsteriskSettings()
    customers: CustomerSettings = CustomerSettings()
    queue_options: Mapping[str, QueueOptions] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    survey: SurveySettings = SurveySettings()
    path: str | None = None  # the file it came from: what a reload reads again
    limits: LimitSettings = LimitSettings()
    webchat: WebChatSettings = WebChatSettings()
    warnings: tuple[str, ...] = ()  # loads, but cannot work as meant (check-config shows them)
    journal: JournalSettings = JournalSettings()
    text: str | None = field(default=None, repr=False)  # the file's text, for the journal
    supervisors: Mapping[str, SupervisorAccount] = field(default_factory=dict, repr=False)
    desktop: DesktopSettings = DesktopSettings()
    reports: ReportSettings = ReportSettings()
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    def options(self, queue: str) -> QueueOptions:
        return self.queue_options.get(queue, _NO_OPTIONS)


class _Reader:
    """Reads values by key path, collecting every problem instead of stopping."""

    def __init__(self, source: str, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.problems: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path}: {message}")

    def table(self, parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            self.error(path, f"expected a table, got {type(value).__name__}")
            return {}
        return value

    def only(self, tbl: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in tbl:
            if key not in allowed:
                self.error(f"{path}.{key}" if path else key, f"unknown key (allowed: {', '.join(allowed)})")

    def entries(
        self, data: Mapping[str, Any], section: str, allowed: tuple[str, ...], parent: str = ""
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(name, key path, table) for each ``[section.name]`` table (under
        ``parent``), with non-tables and unknown keys reported."""
        where = f"{parent}.{section}" if parent else section
        for name, tbl in self.table(data, section, where).items():
            path = f"{where}.{name}"
            if not isinstance(tbl, dict):
                self.error(path, "expected a table")
                continue
            self.only(tbl, allowed, path)
            yield name, path, tbl

    def array(
        self, parent: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...]
    ) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """(index, key path, table) for each ``[[path.key]]`` entry, with
        non-tables and unknown keys reported."""
        where = f"{path}.{key}" if path else key
        for i, tbl in enumerate(self.get(parent, key, path, list, [])):
            item = f"{where}[{i}]"
            if not isinstance(tbl, dict):
                self.error(item, f"expected a table ([[{where}]])")
                continue
            self.only(tbl, allowed, item)
            yield i, item, tbl

    def get(
        self, tbl: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any
    ) -> Any:
        if key not in tbl:
            return default
        value = tbl[key]
        # bool is an int in Python; a level of `true` is a mistake, not 1.
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        if not ok:
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            self.error(f"{path}.{key}" if path else key, f"expected {names}, got {value!r}")
            return default
        return value

    def number(
        self,
        tbl: Mapping[str, Any],
        key: str,
        path: str,
        default: Any,
        lo: float,
        hi: float,
        integer: bool = False,
    ) -> Any:
        """A number in ``lo..hi`` (finite: ``nan`` and ``inf`` are refused),
        or ``default`` (after reporting) when it is not one."""
        v = self.get(tbl, key, path, int if integer else (int, float), default)
        if v is None or v is default:
            return v
        if not (math.isfinite(v) and lo <= v <= hi):
            self.error(f"{path}.{key}" if path else key, f"must be a number in {lo:g}..{hi:g}, got {v!r}")
            return default
        return v if integer else float(v)

    def secret(self, tbl: Mapping[str, Any], path: str, key: str = "secret") -> tuple[str | None, str | None]:
        """(secret, the environment variable named for it): ``<key>_env``
        wins over ``<key>``; a variable that is not set is a problem."""
        secret = self.get(tbl, key, path, str, None)
        env_name = self.get(tbl, f"{key}_env", path, str, None)
        if env_name is not None:
            secret = self.env.get(env_name)
            if secret is None:
                self.error(f"{path}.{key}_env", f"environment variable {env_name} is not set")
        return secret, env_name

    def levels(self, tbl: Mapping[str, Any], key: str, path: str) -> dict[str, int]:
        raw = self.get(tbl, key, path, dict, {})
        out: dict[str, int] = {}
        for skill, level in raw.items():
            if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
                self.error(
                    f"{path}.{key}.{skill}",
                    f"level must be an integer {MIN_LEVEL}..{MAX_LEVEL}, got {level!r}",
                )
            else:
                out[skill] = level
        return out

    def names(self, tbl: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        raw = self.get(tbl, key, path, list, [])
        bad = [x for x in raw if not isinstance(x, str)]
        if bad:
            self.error(f"{path}.{key}", f"expected a list of names, got {bad[0]!r}")
        return tuple(x for x in raw if isinstance(x, str))


_SERVER_DEFAULTS = ServerSettings()
# (lowest, highest) seconds: a timer outside them cannot work (a busy loop, never)
_SERVER_TIMES = {
    "agent_grace_s": (0.01, 86_400.0),
    "customer_grace_s": (0.01, 86_400.0),
    "heartbeat_s": (0.1, 3_600.0),
    "position_interval_s": (0.01, 3_600.0),
}


def parse_listen(listen: str) -> tuple[str, int] | None:
    """``host:port`` (``[::1]:8080``; port 0: any free port), or None if malformed."""
    h, sep, p = listen.rpartition(":")
    if not sep or not p.isdigit() or not 0 <= int(p) < 65536:
        return None
    return h.strip("[]") or "127.0.0.1", int(p)


def _server(r: _Reader, data: Mapping[str, Any]) -> ServerSettings:
    tbl = r.table(data, "server", "server")
    r.only(tbl, ("listen", "tls_cert", "tls_key", "admin_token_hash", *_SERVER_TIMES), "server")
    host, port = "127.0.0.1", 8080
    listen = r.get(tbl, "listen", "server", str, "127.0.0.1:8080")
    address = parse_listen(listen)
    if address is None:
        r.error("server.listen", f"expected host:port, got {listen!r}")
    else:
        host, port = address
    cert = r.get(tbl, "tls_cert", "server", str, None)
    key = r.get(tbl, "tls_key", "server", str, None)
    if (cert is None) != (key is None):
        r.error("server", "tls_cert and tls_key go together")
    admin = r.get(tbl, "admin_token_hash", "server", str, None)
    if admin is not None and not (is_token_hash(admin) or is_password_hash(admin)):
        r.error(
            "server.admin_token_hash",
            f"not a hash from `acd hash-password --token` (PBKDF2 at most {MAX_ITERATIONS:,} iterations)",
        )
    times = {
        key: r.number(tbl, key, "server", getattr(_SERVER_DEFAULTS, key), lo, hi)
        for key, (lo, hi) in _SERVER_TIMES.items()
    }
    return ServerSettings(host, port, cert, key, admin, **times)


def _channels(r: _Reader, data: Mapping[str, Any]) -> tuple[ChannelSpec, ...]:
    if "channels" not in data:
        return DEFAULT_CHANNELS
    out = []
    for name, path, tbl in r.entries(data, "channels", ("like", "exclusive")):
        out.append(
            ChannelSpec(name, r.get(tbl, "like", path, str, None), r.get(tbl, "exclusive", path, bool, False))
        )
    return tuple(out)


def _profiles(r: _Reader, data: Mapping[str, Any]) -> tuple[CapacityProfile, ...]:
    if "profiles" not in data:
        return DEFAULT_PROFILES
    out = []
    for name, path, tbl in r.entries(data, "profiles", ("capacity", "channels", "blocks")):
        rules: dict[str, ChannelRule] = {}
        for ch, rule in r.get(tbl, "channels", path, dict, {}).items():
            rpath = f"{path}.channels.{ch}"
            if not isinstance(rule, dict):
                r.error(rpath, "expected { cost = N, max = N }")
                continue
            r.only(rule, ("cost", "max"), rpath)
            rules[ch] = ChannelRule(
                r.number(rule, "cost", rpath, 0, 0, 1_000_000, integer=True),
                r.number(rule, "max", rpath, 0, 0, 1_000, integer=True),
            )
        raw_blocks = r.get(tbl, "blocks", path, dict, {})
        blocks = {ch: frozenset(r.names(raw_blocks, ch, f"{path}.blocks")) for ch in raw_blocks}
        out.append(
            CapacityProfile(
                name, r.number(tbl, "capacity", path, 0, 0, 1_000_000, integer=True), rules, blocks
            )
        )
    return tuple(out)


_QUEUE_KEYS = (
    "channel",
    "channels",
    "skills",
    "weight",
    "strategy",
    "service_level_pct",
    "service_level_s",
    "offer_timeout_s",
    "wrapup_s",
    "max_size",
    "max_wait_s",
    "overflow_to",
    "escalation",
    "preferred_wait_s",
    "handoff_to",
    "when_closed",
    "hours",
    "dispositions",
    "disposition_required",
    "survey",
)
_STEP_KEYS = ("after_s", "accept_level", "drop_skills", "any_member", "borrow_from", "priority_boost")


def _queues(
    r: _Reader, data: Mapping[str, Any], schedules: Mapping[str, Schedule]
) -> tuple[tuple[QueueSpec, ...], dict[str, QueueOptions]]:
    out = []
    options: dict[str, QueueOptions] = {}
    for name, path, tbl in r.entries(data, "queues", _QUEUE_KEYS):
        if "channel" in tbl and "channels" in tbl:
            r.error(path, "give channel or channels, not both")
        single = r.get(tbl, "channel", path, str, None)
        channels = (single,) if single is not None else r.names(tbl, "channels", path) or ("voice",)
        strategy = r.get(tbl, "strategy", path, str, "longest-idle")
        if strategy not in STRATEGIES:
            r.error(f"{path}.strategy", f"{strategy!r} is not one of {', '.join(STRATEGIES)}")
            strategy = "longest-idle"
        steps = []
        for _, spath, st in r.array(tbl, "escalation", path, _STEP_KEYS):
            if "after_s" not in st:
                r.error(spath, "after_s is required (seconds of waiting)")
            steps.append(
                EscalationStep(
                    r.number(st, "after_s", spath, 0.0, 0, WEEK_S),
                    r.get(st, "accept_level", spath, int, None),
                    r.names(st, "drop_skills", spath),
                    r.get(st, "any_member", spath, bool, False),
                    r.names(st, "borrow_from", spath),
                    r.number(st, "priority_boost", spath, 0, -1000, 1000, integer=True),
                )
            )
        when_closed = r.get(tbl, "when_closed", path, str, "wait")
        if when_closed not in WHEN_CLOSED:
            r.error(f"{path}.when_closed", f"{when_closed!r} is not one of {', '.join(WHEN_CLOSED)}")
            when_closed = "wait"
        options[name] = _queue_options(r, tbl, path, schedules)
        out.append(
            QueueSpec(
                name,
                channels=channels,
                skills=r.levels(tbl, "skills", path),
                weight=r.number(tbl, "weight", path, 0, 0, 1000, integer=True),
                strategy=strategy,
                service_level_pct=r.number(tbl, "service_level_pct", path, 80.0, 0, 100),
                service_level_s=r.number(tbl, "service_level_s", path, 20.0, 0, DAY_S),
                offer_timeout_s=r.number(tbl, "offer_timeout_s", path, 20.0, 0.01, DAY_S),
                wrapup_s=r.number(tbl, "wrapup_s", path, 0.0, 0, DAY_S),
                max_size=r.number(tbl, "max_size", path, None, 0, 10_000_000, integer=True),
                max_wait_s=r.number(tbl, "max_wait_s", path, None, 0.01, WEEK_S),
                overflow_to=r.get(tbl, "overflow_to", path, str, None),
                escalation=tuple(steps),
                preferred_wait_s=r.number(tbl, "preferred_wait_s", path, 0.0, 0, DAY_S),
                handoff_to=r.get(tbl, "handoff_to", path, str, None),
                when_closed=when_closed,
            )
        )
    return tuple(out), options


_NO_OPTIONS = QueueOptions()
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S


def _queue_options(
    r: _Reader, tbl: Mapping[str, Any], path: str, schedules: Mapping[str, Schedule]
) -> QueueOptions:
    hours = None
    name = r.get(tbl, "hours", path, str, None)
    if name is not None:
        hours = schedules.get(name)
        if hours is None:
            r.error(
                f"{path}.hours", f"unknown schedule {name!r} (schedules: {', '.join(schedules) or 'none'})"
            )
    codes = r.names(tbl, "dispositions", path)
    if len(set(codes)) != len(codes) or any(not c.strip() for c in codes):
        r.error(f"{path}.dispositions", "codes must be distinct and not empty")
    required = r.get(tbl, "disposition_required", path, bool, False)
    if required and not codes:
        r.error(f"{path}.disposition_required", "needs a list of dispositions to choose from")
    return QueueOptions(hours, codes, required, r.get(tbl, "survey", path, bool, False))


def _schedules(r: _Reader, data: Mapping[str, Any]) -> dict[str, Schedule]:
    """``[schedules.NAME]``: timezone, closed_on dates, and per day (or range
    of days, ``mon-fri``) the open hours, ``"09:00-18:00"`` or a list."""
    out = {}
    for name, tbl in r.table(data, "schedules", "schedules").items():
        path = f"schedules.{name}"
        if not isinstance(tbl, dict):
            r.error(path, "expected a table")
            continue
        tz_name = r.get(tbl, "timezone", path, str, "UTC")
        try:
            tz = zoneinfo.ZoneInfo(tz_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            r.error(f"{path}.timezone", f"unknown time zone {tz_name!r} (e.g. Asia/Shanghai, Europe/Paris)")
            tz = zoneinfo.ZoneInfo("UTC")
        closed: set[date] = set()
        for d in r.names(tbl, "closed_on", path):
            try:
                closed.add(date.fromisoformat(d))
            except ValueError:
                r.error(f"{path}.closed_on", f"expected YYYY-MM-DD dates, got {d!r}")
        week: list[list[Span]] = [[] for _ in DAYS]
        for days, spans in tbl.items():
            if days in ("timezone", "closed_on"):
                continue
            dpath = f"{path}.{days}"
            try:
                which = parse_days(days)
            except ValueError as e:
                r.error(dpath, f"{e} (other keys: timezone, closed_on)")
                continue
            for text in [spans] if isinstance(spans, str) else spans if isinstance(spans, list) else [None]:
                if not isinstance(text, str):
                    r.error(dpath, 'expected "HH:MM-HH:MM" or a list of them')
                    break
                try:
                    span = parse_span(text)
                except ValueError as e:
                    r.error(dpath, str(e))
                    continue
                for wd in which:
                    week[wd].append(span)
        out[name] = Schedule(name, tz, tuple(tuple(sorted(w)) for w in week), frozenset(closed))
    return out


_RULE_KEYS = (
    "name",
    "when_queue",
    "when_channel",
    "when_keywords",
    "when_attributes",
    "when_profile",
    "when_customers",
    "queue",
    "skills",
    "raise_priority",
    "stop",
)


def _values(r: _Reader, tbl: Mapping[str, Any], k: str, path: str) -> dict[str, tuple[str, ...]]:
    """``{ tier = "gold" }`` or ``{ tier = ["gold", "platinum"] }``."""
    out = {}
    for name, v in r.get(tbl, k, path, dict, {}).items():
        vs = [v] if isinstance(v, str) else v
        if not isinstance(vs, list) or not vs or not all(isinstance(x, str) for x in vs):
            r.error(f"{path}.{k}.{name}", f"expected a text or a list of texts, got {v!r}")
            continue
        out[name] = tuple(vs)
    return out


def _rules(
    r: _Reader,
    data: Mapping[str, Any],
    queues: Mapping[str, QueueSpec],
    skills: tuple[str, ...],
    country_code: str | None,
) -> tuple[Rule, ...]:
    out = []
    for i, path, tbl in r.array(data, "rules", "", _RULE_KEYS):
        name = r.get(tbl, "name", path, str, f"rule {i + 1}")
        path = f"rules[{i}] ({name})"
        when_queue = r.names(tbl, "when_queue", path)
        target = r.get(tbl, "queue", path, str, None)
        for q in (*when_queue, *([target] if target is not None else [])):
            if q not in queues:
                r.error(path, f"unknown queue {q!r} (queues: {', '.join(queues) or 'none'})")
        customers = set()
        for ident in r.names(tbl, "when_customers", path):
            kind, sep, value = ident.partition(":")
            try:
                if not sep:
                    raise BadIdentifier(f'expected kind:value ("phone:+8613800000000"), got {ident!r}')
                customers.add(identifier_key(kind, value, country_code))
            except BadIdentifier as e:
                r.error(f"{path}.when_customers", e.message)
        keywords = r.names(tbl, "when_keywords", path)
        if any(not k.strip() for k in keywords):
            r.error(f"{path}.when_keywords", "a keyword must not be empty")
        rule = Rule(
            name,
            when_queue,
            r.names(tbl, "when_channel", path),
            keywords,
            _values(r, tbl, "when_attributes", path),
            _values(r, tbl, "when_profile", path),
            frozenset(customers),
            target,
            r.levels(tbl, "skills", path),
            r.number(tbl, "raise_priority", path, 0, -1000, 1000, integer=True),
            r.get(tbl, "stop", path, bool, False),
        )
        for skill in rule.skills:
            if skill not in skills:
                r.error(
                    f"{path}.skills", f"unknown skill {skill!r} (declared: {', '.join(skills) or 'none'})"
                )
        if not (rule.queue or rule.skills or rule.raise_priority):
            r.error(path, "does nothing: give queue, skills or raise_priority")
        out.append(rule)
    return tuple(out)


_SURVEY_DEFAULTS = SurveySettings()


def _survey(r: _Reader, data: Mapping[str, Any]) -> SurveySettings:
    path = "survey"
    tbl = r.table(data, "survey", path)
    d = _SURVEY_DEFAULTS
    r.only(tbl, ("question", "thanks", "answer_wait_s", "sound", "sound_thanks", "voice_timeout_s"), path)
    times = [
        r.number(tbl, "answer_wait_s", path, d.answer_wait_s, 0.01, DAY_S),
        r.number(tbl, "voice_timeout_s", path, d.voice_timeout_s, 0.01, 120),
    ]
    return SurveySettings(
        question=r.get(tbl, "question", path, str, d.question),
        thanks=r.get(tbl, "thanks", path, str, d.thanks),
        answer_wait_s=times[0],
        sound=r.get(tbl, "sound", path, str, d.sound),
        sound_thanks=r.get(tbl, "sound_thanks", path, str, d.sound_thanks),
        voice_timeout_s=times[1],
    )


_AGENT_KEYS = ("name", "skills", "profile", "queues", "password_hash", "endpoint")


def _agents(r: _Reader, data: Mapping[str, Any]) -> tuple[tuple[AgentSpec, ...], dict[str, str]]:
    out, creds = [], {}
    for aid, path, tbl in r.entries(data, "agents", _AGENT_KEYS):
        ranks: dict[str, int] = {}
        for q, rank in r.get(tbl, "queues", path, dict, {}).items():
            if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
                r.error(
                    f"{path}.queues.{q}", f"rank must be an integer >= 1 (1 is served first), got {rank!r}"
                )
            else:
                ranks[q] = rank
        pw = r.get(tbl, "password_hash", path, str, None)
        if pw is not None:
            if is_password_hash(pw):
                creds[aid] = pw
            else:
                r.error(
                    f"{path}.password_hash", "not a hash from `acd hash-password` (never a plain password)"
                )
        out.append(
            AgentSpec(
                aid,
                r.get(tbl, "name", path, str, aid),
                r.levels(tbl, "skills", path),
                r.get(tbl, "profile", path, str, "blended"),
                ranks,
                r.get(tbl, "endpoint", path, str, None),
            )
        )
    return tuple(out), creds


def _cluster(r: _Reader, data: Mapping[str, Any], journal: JournalSettings) -> ClusterSettings:
    path = "cluster"
    tbl = r.table(data, "cluster", path)
    r.only(tbl, ("enabled", "node", "lease_ms", "advertise_host", "forwarded_sockets"), path)
    d = ClusterSettings()
    enabled = r.get(tbl, "enabled", path, bool, False)
    if enabled and journal.store != "redis":
        r.error(f"{path}.enabled", 'the nodes share their journal: it needs [journal] store = "redis"')
    node = r.get(tbl, "node", path, str, d.node)
    if not 0 < len(node) <= 100:
        r.error(f"{path}.node", "a node name is 1-100 characters")
    lease_ms = r.number(tbl, "lease_ms", path, d.lease_ms, 300, 60_000, integer=True)
    host = r.get(tbl, "advertise_host", path, str, d.advertise_host)
    if len(host) > 253 or (any(c in host for c in "/ :@") and not host.startswith("[")):
        r.error(f"{path}.advertise_host", f"expected a host name or address, got {host[:100]!r}")
    sockets = r.number(tbl, "forwarded_sockets", path, d.forwarded_sockets, 0, 1_000_000, integer=True)
    return ClusterSettings(enabled, node, lease_ms, host, sockets)


_SUPERVISOR_KEYS = ("password_hash", "role", "queues")


def _supervisors(
    r: _Reader, data: Mapping[str, Any], queues: Mapping[str, Any]
) -> dict[str, SupervisorAccount]:
    out = {}
    for name, path, tbl in r.entries(data, "supervisors", _SUPERVISOR_KEYS):
        pw = r.get(tbl, "password_hash", path, str, None)
        if pw is None or not is_password_hash(pw):
            r.error(
                f"{path}.password_hash", "required: a hash from `acd hash-password` (never a plain password)"
            )
            continue
        role = r.get(tbl, "role", path, str, "supervisor")
        if role not in ("supervisor", "admin"):
            r.error(f"{path}.role", f'expected "supervisor" or "admin", got {role!r}')
        seen = r.names(tbl, "queues", path)
        for q in seen:
            if q not in queues:
                r.error(f"{path}.queues", f"unknown queue {q!r}")
        out[name] = SupervisorAccount(name, pw, role, seen)
    return out


def _reports(r: _Reader, data: Mapping[str, Any]) -> ReportSettings:
    path = "reports"
    tbl = r.table(data, "reports", path)
    keys = (
        "queue_log",
        "store",
        "sqlite_path",
        "postgres_url",
        "postgres_url_env",
        "retention_days",
        "short_abandon_s",
        "time_zone",
    )
    r.only(tbl, keys, path)
    d = ReportSettings()
    queue_log = r.get(tbl, "queue_log", path, str, "")
    sqlite_path = r.get(tbl, "sqlite_path", path, str, d.sqlite_path)
    for key, value in (("queue_log", queue_log), ("sqlite_path", sqlite_path)):
        if len(value) > 4096 or "\0" in value:
            r.error(f"{path}.{key}", "expected a file path")
    store = r.get(tbl, "store", path, str, d.store)
    if store not in ("sqlite", "postgres", "off"):
        r.error(f"{path}.store", f'expected "sqlite", "postgres" or "off", got {store!r}')
    pg_url, _ = r.secret(tbl, path, "postgres_url")
    if store == "postgres" and not (pg_url or "").startswith(("postgres://", "postgresql://")):
        r.error(f"{path}.postgres_url", "expected postgresql://... (not shown: it may hold a password)")
    zone = r.get(tbl, "time_zone", path, str, d.time_zone)
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        r.error(f"{path}.time_zone", f"unknown time zone {zone[:60]!r} (an IANA name: Asia/Shanghai)")
    return ReportSettings(
        queue_log,
        store,
        sqlite_path,
        pg_url or "",
        r.number(tbl, "retention_days", path, d.retention_days, 1, 3650, integer=True),
        r.number(tbl, "short_abandon_s", path, d.short_abandon_s, 0, 600),
        zone,
    )


def _desktop(r: _Reader, data: Mapping[str, Any]) -> DesktopSettings:
    path = "desktop"
    tbl = r.table(data, "desktop", path)
    r.only(tbl, ("away_reasons", "canned_replies", "session_hours"), path)
    d = DesktopSettings()
    reasons = r.names(tbl, "away_reasons", path) if "away_reasons" in tbl else d.away_reasons
    for x in reasons:
        if not 0 < len(x) <= 40:
            r.error(f"{path}.away_reasons", f"a reason is 1-40 characters, got {x!r}")
    canned = r.names(tbl, "canned_replies", path)
    for x in canned:
        if not 0 < len(x) <= 1000:
            r.error(f"{path}.canned_replies", "a reply is 1-1000 characters")
    return DesktopSettings(
        tuple(reasons), canned, r.number(tbl, "session_hours", path, d.session_hours, 0.1, 24 * 30)
    )


def _gateways(
    r: _Reader, data: Mapping[str, Any], queues: Mapping[str, QueueSpec]
) -> dict[str, GatewaySettings]:
    out = {}
    for name, path, tbl in r.entries(
        data, "gateways", ("secret", "secret_env", "queue", "channel", "callback_url")
    ):
        secret, env_name = r.secret(tbl, path)
        if secret is not None and len(secret) < 16:
            r.error(path, "the secret must be at least 16 characters")
        if secret is None and env_name is None:
            r.error(path, "a gateway needs secret_env (or secret)")
        queue = r.get(tbl, "queue", path, str, None)
        channel = r.get(tbl, "channel", path, str, "chat")
        if queue is None:
            r.error(f"{path}.queue", "required: the queue new conversations start in")
        elif queue not in queues:
            r.error(f"{path}.queue", f"unknown queue {queue!r} (queues: {', '.join(queues) or 'none'})")
        elif channel not in queues[queue].channels:
            r.error(
                f"{path}.channel",
                f"queue {queue!r} takes {', '.join(queues[queue].channels)}, not {channel!r}",
            )
        callback = r.get(tbl, "callback_url", path, str, None)
        if callback is not None and not callback.startswith(("http://", "https://")):
            r.error(f"{path}.callback_url", f"expected an http(s) URL, got {callback!r}")
        if secret is not None and queue is not None:
            out[name] = GatewaySettings(name, secret, queue, channel, callback)
    return out


_VOICE_KEYS = ("moh_class", "announce_every_s", "callback", "callback_key")
_SOUND_KEYS = (
    "sound_next",
    "sound_there_are",
    "sound_calls_waiting",
    "sound_callback_offer",
    "sound_callback_confirmed",
)
_AMI_KEYS = (
    "host",
    "port",
    "username",
    "secret",
    "secret_env",
    "reconnect_min_s",
    "reconnect_max_s",
    "ping_s",
)
DTMF_KEYS = "0123456789*#"


def _voice(r: _Reader, tbl: Mapping[str, Any], path: str, base: VoiceQueueSettings) -> VoiceQueueSettings:
    moh = r.get(tbl, "moh_class", path, str, base.moh_class)
    every = r.number(tbl, "announce_every_s", path, base.announce_every_s, 0, 3_600)
    if 0 < every < 0.01:
        r.error(f"{path}.announce_every_s", f"must be 0 (no announcements) or at least 0.01 s, got {every!r}")
    callback = r.get(tbl, "callback", path, bool, base.callback)
    key = r.get(tbl, "callback_key", path, str, base.callback_key)
    if len(key) != 1 or key not in DTMF_KEYS:
        r.error(f"{path}.callback_key", f"expected one of {' '.join(DTMF_KEYS)}, got {key!r}")
    return VoiceQueueSettings(moh, float(every), callback, key)


def _ami(r: _Reader, tbl: Mapping[str, Any]) -> AmiSettings | None:
    path = "asterisk.ami"
    r.only(tbl, _AMI_KEYS, path)
    username = r.get(tbl, "username", path, str, "")
    if not username:
        if tbl:
            r.error(f"{path}.username", "required to use AMI (leave [asterisk.ami] out to run without it)")
        return None
    secret, env_name = r.secret(tbl, path)
    if secret is None and env_name is None:
        r.error(path, "an AMI user needs secret_env (or secret)")
    port = r.get(tbl, "port", path, int, 5038)
    if not 0 < port < 65536:
        r.error(f"{path}.port", f"expected a TCP port, got {port!r}")
    low = r.number(tbl, "reconnect_min_s", path, 1.0, 0.01, 3_600)
    high = r.number(tbl, "reconnect_max_s", path, 30.0, 0.01, 3_600)
    if not low <= high:
        r.error(path, f"need 0 < reconnect_min_s <= reconnect_max_s, got {low!r} and {high!r}")
    ping = r.number(tbl, "ping_s", path, 20.0, 0.01, 3_600)
    host = r.get(tbl, "host", path, str, "127.0.0.1")
    return AmiSettings(host, port, username, secret or "", low, high, float(ping))


def _asterisk(r: _Reader, data: Mapping[str, Any], queues: Mapping[str, QueueSpec]) -> AsteriskSettings:
    tbl = r.table(data, "asterisk", "asterisk")
    r.only(
        tbl,
        (
            "fastagi_listen",
            "answer",
            "dial_options",
            "queues",
            "ami",
            "callback_dial",
            "callback_ring_s",
            *_VOICE_KEYS,
            *_SOUND_KEYS,
        ),
        "asterisk",
    )
    listen = r.get(tbl, "fastagi_listen", "asterisk", str, "127.0.0.1:4573")
    host, port = "127.0.0.1", None
    if listen:
        address = parse_listen(listen)
        if address is None:
            r.error("asterisk.fastagi_listen", f'expected host:port ("" turns FastAGI off), got {listen!r}')
        else:
            host, port = address
    options = r.get(tbl, "dial_options", "asterisk", str, "")
    if not all(ch.isalnum() or ch in "()^_-" for ch in options):
        r.error("asterisk.dial_options", f"Dial options are letters with (arguments), got {options!r}")
    voice = _voice(r, tbl, "asterisk", VoiceQueueSettings())
    per_queue = {}
    for name, path, qtbl in r.entries(tbl, "queues", _VOICE_KEYS, "asterisk"):
        if name not in queues:
            r.error(path, f"unknown queue {name!r} (queues: {', '.join(queues) or 'none'})")
        per_queue[name] = _voice(r, qtbl, path, voice)
    sounds = {k: r.get(tbl, k, "asterisk", str, getattr(_ASTERISK_DEFAULTS, k)) for k in _SOUND_KEYS}
    ami = _ami(r, r.table(tbl, "ami", "asterisk.ami"))
    answer = r.get(tbl, "answer", "asterisk", bool, True)
    dial = r.get(tbl, "callback_dial", "asterisk", str, _ASTERISK_DEFAULTS.callback_dial)
    if "{number}" not in dial or dial.replace("{number}", "").count("{"):
        r.error(
            "asterisk.callback_dial", f"a dial string with {{number}} where the caller id goes, got {dial!r}"
        )
    ring = r.number(tbl, "callback_ring_s", "asterisk", _ASTERISK_DEFAULTS.callback_ring_s, 0.01, 600)
    if ami is None:
        # Calling back is an AMI Originate, and the key press an AMI DTMFEnd event.
        why = "needs [asterisk.ami]: the key press and the call back go through AMI"
        if voice.callback:
            r.error("asterisk.callback", why)
        for q, v in per_queue.items():
            if v.callback and not voice.callback:
                r.error(f"asterisk.queues.{q}.callback", why)
    return AsteriskSettings(
        host,
        port,
        answer,
        options,
        voice,
        per_queue,
        callback_dial=dial,
        callback_ring_s=float(ring),
        ami=ami,
        **sounds,
    )


_ASTERISK_DEFAULTS = AsteriskSettings()
_CUSTOMER_DEFAULTS = CustomerSettings()
_CUSTOMER_KEYS = (
    "store",
    "sqlite_path",
    "redis_url",
    "redis_url_env",
    "redis_prefix",
    "country_code",
    "history_limit",
    "lookup_timeout_s",
    "preferred_agent_days",
)


def _customers(r: _Reader, data: Mapping[str, Any]) -> CustomerSettings:
    path = "customers"
    tbl = r.table(data, "customers", path)
    r.only(tbl, _CUSTOMER_KEYS, path)
    d = _CUSTOMER_DEFAULTS
    store = r.get(tbl, "store", path, str, d.store)
    if store not in ("sqlite", "redis"):
        r.error(f"{path}.store", f'expected "sqlite" or "redis", got {store!r}')
    url = r.get(tbl, "redis_url", path, str, d.redis_url)
    env_name = r.get(tbl, "redis_url_env", path, str, None)
    if env_name is not None:
        url = r.env.get(env_name, "")
        if not url:
            r.error(f"{path}.redis_url_env", f"environment variable {env_name} is not set")
    if store == "redis" and not url.startswith(("redis://", "rediss://", "unix://")):
        r.error(
            f"{path}.redis_url",
            "expected redis://, rediss:// or unix:// (the value is not shown: it may hold a password)",
        )
    cc = r.get(tbl, "country_code", path, str, None)
    if cc is not None and not (cc.isdigit() and 1 <= len(cc) <= 3):
        r.error(f"{path}.country_code", f"expected 1-3 digits without + (86, 1, 49), got {cc!r}")
    limit = r.number(tbl, "history_limit", path, d.history_limit, 0, 100, integer=True)
    timeout = r.number(tbl, "lookup_timeout_s", path, d.lookup_timeout_s, 0.01, 30)
    days = r.number(tbl, "preferred_agent_days", path, d.preferred_agent_days, 0, 3_650)
    return CustomerSettings(
        store,
        r.get(tbl, "sqlite_path", path, str, d.sqlite_path),
        url,
        r.get(tbl, "redis_prefix", path, str, d.redis_prefix),
        cc,
        limit,
        float(timeout),
        float(days),
    )


_LIMITS = LimitSettings()
_WEBCHAT = WebChatSettings()
# (lowest, highest) for each numeric [limits] key; integers where the default is one
_LIMIT_RANGES: dict[str, tuple[float, float]] = {
    "auth_failures_per_minute": (1, 10_000),
    "auth_failure_burst": (1, 10_000),
    "password_workers": (1, 16),
    "password_backlog": (1, 10_000),
    "outbox_bytes": (64 * 1024, 1024**3),
    "transcript_chars": (1_000, 10_000_000),
    "chat_starts_per_minute": (0.1, 100_000),
    "chat_start_burst": (1, 100_000),
    "chat_sockets": (1, 1_000_000),
    "chat_sockets_per_address": (1, 1_000_000),
    "chat_idle_s": (5, 86_400),
    "idempotency_keys": (0, 1_000_000),
}


def _limits(r: _Reader, data: Mapping[str, Any]) -> LimitSettings:
    tbl = r.table(data, "limits", "limits")
    r.only(tbl, (*_LIMIT_RANGES, "allowed_origins"), "limits")
    values = {
        k: r.number(
            tbl, k, "limits", getattr(_LIMITS, k), lo, hi, integer=isinstance(getattr(_LIMITS, k), int)
        )
        for k, (lo, hi) in _LIMIT_RANGES.items()
    }
    origins = r.names(tbl, "allowed_origins", "limits")
    for o in origins:
        if not o.startswith(("http://", "https://")) or o.count("/") != 2:
            r.error(
                "limits.allowed_origins", f'expected origins such as "https://shop.example.com", got {o!r}'
            )
    return LimitSettings(**values, allowed_origins=origins)


def _webchat(r: _Reader, data: Mapping[str, Any], channels: tuple[ChannelSpec, ...]) -> WebChatSettings:
    path = "webchat"
    tbl = r.table(data, "webchat", path)
    r.only(tbl, ("channels", "identity_secret", "identity_secret_env", "identity_max_age_s"), path)
    allowed = r.names(tbl, "channels", path) if "channels" in tbl else _WEBCHAT.channels
    known = {c.name for c in channels}
    for ch in allowed:
        if ch not in known:
            r.error(f"{path}.channels", f"unknown channel {ch!r} (channels: {', '.join(sorted(known))})")
    secret, _ = r.secret(tbl, path, "identity_secret")
    if secret is not None and len(secret) < 32:
        r.error(path, "the identity secret must be at least 32 characters")
    age = r.number(tbl, "identity_max_age_s", path, _WEBCHAT.identity_max_age_s, 10, 86_400)
    return WebChatSettings(allowed, secret, age)


def _journal(r: _Reader, data: Mapping[str, Any]) -> JournalSettings:
    path = "journal"
    tbl = r.table(data, "journal", path)
    r.only(
        tbl,
        (
            "store",
            "path",
            "fsync",
            "redis_url",
            "redis_url_env",
            "redis_key",
            "snapshot_records",
            "snapshot_interval_s",
            "outage_bytes",
        ),
        path,
    )
    d = JournalSettings()
    store = r.get(tbl, "store", path, str, d.store)
    if store not in ("off", "directory", "redis"):
        r.error(f"{path}.store", f'expected "off", "directory" or "redis", got {store!r}')
    url, _ = r.secret(tbl, path, "redis_url")
    if store == "redis" and url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        r.error(
            f"{path}.redis_url", "expected redis://, rediss:// or unix:// (not shown: it may hold a password)"
        )
    fsync = r.get(tbl, "fsync", path, str, d.fsync)
    if fsync not in ("always", "batch", "interval", "off"):
        r.error(f"{path}.fsync", f'expected "always", "batch", "interval" or "off", got {fsync!r}')
    key = r.get(tbl, "redis_key", path, str, d.redis_key)
    return JournalSettings(
        store=store,
        path=r.get(tbl, "path", path, str, d.path),
        fsync=fsync,
        redis_url=url or d.redis_url,
        redis_key=key,
        snapshot_records=r.number(tbl, "snapshot_records", path, d.snapshot_records, 0, 10**9, integer=True),
        snapshot_interval_s=r.number(tbl, "snapshot_interval_s", path, d.snapshot_interval_s, 0, 86_400 * 7),
        outage_bytes=r.number(tbl, "outage_bytes", path, d.outage_bytes, 0, 2**34, integer=True),
    )


_TOP_KEYS = (
    "journal",
    "limits",
    "webchat",
    "server",
    "channels",
    "profiles",
    "skills",
    "queues",
    "agents",
    "gateways",
    "fallback_queue",
    "asterisk",
    "customers",
    "max_transfer_returns",
    "schedules",
    "rules",
    "survey",
    "supervisors",
    "desktop",
    "reports",
    "cluster",
)


def parse(data: Mapping[str, Any], source: str, env: Mapping[str, str] | None = None) -> AcdSettings:
    """Parsed TOML to settings; raises ConfigError listing every problem."""
    r = _Reader(source, os.environ if env is None else env)
    r.only(data, _TOP_KEYS, "")
    server = _server(r, data)
    channels = _channels(r, data)
    profiles = _profiles(r, data)
    skills = r.names(data, "skills", "skills") if "skills" in data else ()
    queues, options = _queues(r, data, _schedules(r, data))
    by_name = {q.name: q for q in queues}
    agents, creds = _agents(r, data)
    gateways = _gateways(r, data, by_name)
    asterisk = _asterisk(r, data, by_name)
    customers = _customers(r, data)
    rules = _rules(r, data, by_name, skills, customers.country_code)
    survey = _survey(r, data)
    limits = _limits(r, data)
    webchat = _webchat(r, data, channels)
    journal = _journal(r, data)
    supervisors = _supervisors(r, data, by_name)
    desktop = _desktop(r, data)
    reports = _reports(r, data)
    cluster = _cluster(r, data, journal)
    fallback = r.get(data, "fallback_queue", "", str, None)
    returns = r.number(data, "max_transfer_returns", "", 1, 0, 100, integer=True)
    routing = RoutingConfig(channels, profiles, skills, queues, agents, fallback, returns)
    try:
        routing.validate()
    except ConfigError as e:
        r.problems += [f"{source}: {p}" for p in e.problems]
    if r.problems:
        raise ConfigError(r.problems)
    return AcdSettings(
        source,
        server,
        routing,
        creds,
        gateways,
        asterisk,
        customers,
        options,
        rules,
        survey,
        limits=limits,
        webchat=webchat,
        warnings=_warnings(routing, creds),
        journal=journal,
        supervisors=supervisors,
        desktop=desktop,
        reports=reports,
        cluster=cluster,
    )


def _warnings(routing: RoutingConfig, creds: Mapping[str, str]) -> tuple[str, ...]:
    """Configs that load but cannot work as meant. O(queues x agents)."""
    out = []
    exclusive = {c.name for c in routing.channels if c.exclusive}
    takes = {p.name: set(CompiledProfile(p, routing.channels).channels) for p in routing.profiles}
    for q in routing.queues:
        members = [a for a in routing.agents if q.name in a.queues]
        able = [a for a in members if all(a.skills.get(s, 0) >= lv for s, lv in q.skills.items())]
        if not members:
            out.append(f"queue {q.name}: no agent serves it (its contacts wait until one does)")
        elif not able and not q.escalation:
            out.append(
                f"queue {q.name}: no member has its skills ({', '.join(q.skills)}) and it never relaxes"
            )
        for ch in q.channels:
            takers = [a for a in members if ch in takes.get(a.profile, ())]
            if members and not takers:
                out.append(f"queue {q.name}: no member's capacity profile takes {ch}")
        if exclusive & set(q.channels):
            for a in members:
                if a.endpoint is None and takes.get(a.profile, set()) & exclusive & set(q.channels):
                    out.append(f"agent {a.id}: takes calls in {q.name} but has no endpoint (its phone)")
    no_login = sorted(a.id for a in routing.agents if a.id not in creds)
    if no_login:
        out.append(f"agents without password_hash cannot log in: {', '.join(no_login)}")
    return tuple(dict.fromkeys(out))


def load(path: str | Path, env: Mapping[str, str] | None = None) -> AcdSettings:
    """Read and validate a configuration file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError([f"{p}: cannot read: {e.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([f"{p}: not UTF-8 text"]) from None
    except RecursionError:
        raise ConfigError([f"{p}: nested too deeply"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{p}: not valid TOML: {e}"]) from None
    return replace(parse(data, str(p), env), path=str(p), text=raw.decode("utf-8"))
