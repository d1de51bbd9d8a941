"""The ``acd`` command line (the composition root grows here with the daemon)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from acd import __version__
from acd.adapters.daemon import replay
from acd.adapters.daemon.config_file import (
    AcdSettings,
    JournalSettings,
    ServerSettings,
    load,
    parse_listen,
)
from acd.adapters.daemon.demo import run_demo
from acd.adapters.daemon.server import serve
from acd.adapters.daemon.snapshots import REDIS_URL_ENV, compact, open_store
from acd.adapters.reports import rebuild as reports_cli
from acd.adapters.security.passwords import MIN_TOKEN_CHARS, hash_password, hash_token
from acd.errors import ConfigError
from acd.settings import default_config

DEFAULT_CONFIG = Path("config/acd.toml")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": round(record.created, 3),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": record.getMessage(),
            }
        )


def setup_logging(json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.Formatter.converter = time.gmtime
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def settings_for(path: str | None) -> AcdSettings:
    """The named file, else config/acd.toml if present, else the embedded default."""
    if path is not None:
        return load(path)
    if DEFAULT_CONFIG.exists():
        return load(DEFAULT_CONFIG)
    return AcdSettings("embedded default", ServerSettings(), default_config())


def with_listen(settings: AcdSettings, listen: str) -> AcdSettings:
    address = parse_listen(listen)
    if address is None:
        raise ConfigError([f"--listen: expected host:port, got {listen!r}"])
    host, port = address
    return replace(settings, server=replace(settings.server, host=host, port=port))


def with_agi_listen(settings: AcdSettings, listen: str) -> AcdSettings:
    """``--agi-listen``: FastAGI's address (a container listens on 0.0.0.0; "" turns it off)."""
    if not listen:
        return replace(settings, asterisk=replace(settings.asterisk, fastagi_port=None))
    address = parse_listen(listen)
    if address is None:
        raise ConfigError([f"--agi-listen: expected host:port, got {listen!r}"])
    host, port = address
    return replace(settings, asterisk=replace(settings.asterisk, fastagi_host=host, fastagi_port=port))


def describe(settings: AcdSettings) -> str:
    """What an operator wants to see after a successful check."""
    r = settings.routing
    lines = [f"{settings.source}: OK"]
    lines.append(
        f"  listen {settings.server.host}:{settings.server.port}"
        + (" (TLS)" if settings.server.tls_cert else "")
    )
    lines.append(f"  channels: {', '.join(c.name for c in r.channels)}")
    lines.append(f"  profiles: {', '.join(p.name for p in r.profiles)}")
    for q in r.queues:
        req = ", ".join(f"{s}>={lv}" for s, lv in q.skills.items()) or "no skill"
        steps = "; ".join(f"after {st.after:g}s" for st in q.escalation)
        members = [a for a in r.agents if q.name in a.queues]
        able = sum(1 for a in members if all(a.skills.get(k, 0) >= lv for k, lv in q.skills.items()))
        lacking = f" ({len(members) - able} lack its skills)" if able < len(members) else ""
        lines.append(
            f"  queue {q.name}: {'/'.join(q.channels)}, needs {req}, {q.strategy}, "
            f"{able} agents{lacking}" + (f", escalates {steps}" if steps else "")
        )
    no_login = [a.id for a in r.agents if a.id not in settings.credentials]
    lines.append(
        f"  agents: {len(r.agents)}" + (f" ({len(no_login)} without a password)" if no_login else "")
    )
    lines.append(f"  gateways: {', '.join(settings.gateways) or 'none'}")
    lines += [f"  warning: {w}" for w in settings.warnings]
    return "\n".join(lines)


def compact_journal(store: str, path: str, redis_key: str, upto: str) -> int:
    """``acd compact`` (the daemon runs it at each snapshot point)."""
    js = JournalSettings(store=store, path=path, redis_key=redis_key)
    try:
        summary = compact(open_store(js, os.environ.get(REDIS_URL_ENV)), upto)
    except (OSError, ValueError) as e:
        print(f"compact: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acd", description="Omnichannel ACD server")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the version")
    run = sub.add_parser("run", help="run the server")
    run.add_argument("--config", help="configuration file (default: config/acd.toml, else built-in)")
    run.add_argument("--log-json", action="store_true", help="JSON lines logs")
    run.add_argument(
        "--listen", metavar="HOST:PORT", help="override server.listen (e.g. 0.0.0.0:8080 in a container)"
    )
    run.add_argument(
        "--agi-listen",
        metavar="HOST:PORT",
        help="override [asterisk] fastagi_listen (e.g. 0.0.0.0:4573 in a container; '' turns FastAGI off)",
    )
    check = sub.add_parser("check-config", help="validate a configuration file and explain it")
    check.add_argument("path")
    hp = sub.add_parser(
        "hash-password", help="read a password (or token) and print its salted hash for a config file"
    )
    hp.add_argument(
        "--token",
        action="store_true",
        help="a machine-made token (admin_token_hash): a keyed digest, checked in microseconds",
    )
    rp = sub.add_parser(
        "replay",
        help="replay a journal offline: what it holds, or what a candidate config would have done",
    )
    rp.add_argument("--journal", required=True, metavar="DIR", help="a [journal] directory (data/journal)")
    rp.add_argument(
        "--check", action="store_true", help="exit 1 if a recorded command is refused (the replay diverged)"
    )
    rp.add_argument(
        "--config",
        metavar="FILE",
        help="a candidate config: the recorded traffic under it, beside the recorded run",
    )
    rp.add_argument(
        "--from", dest="since", metavar="T", help="count contacts arriving from T (ISO 8601, UTC)"
    )
    rp.add_argument("--to", dest="until", metavar="T", help="...until T")
    rp.add_argument("--json", action="store_true", help="JSON instead of a table")
    rp.add_argument("--csv", metavar="FILE", help="write both runs per interval (and queue, channel) to FILE")
    rp.add_argument("--interval-s", type=float, default=900.0, help="the CSV's interval (default 900 s)")
    cp = sub.add_parser(
        "compact",
        help="snapshot a journal up to a point the daemon marked (the daemon runs this itself)",
    )
    cp.add_argument("--store", choices=("directory", "redis"), required=True)
    cp.add_argument("--path", default="data/journal", help="the journal directory")
    cp.add_argument("--redis-key", default="acd:journal", help=f"the stream (its URL: ${REDIS_URL_ENV})")
    cp.add_argument("--upto", required=True, help="the snapshot point: a segment number or a stream id")
    rep = sub.add_parser(
        "report", help="the interval reports of a report store, or the store rebuilt from a journal"
    )
    rep.add_argument("--db", default="data/reports.sqlite3", help="the [reports] SQLite file")
    rep.add_argument(
        "--from", dest="since", metavar="T", help="ISO 8601 (local without an offset) or Unix seconds"
    )
    rep.add_argument("--to", dest="until", metavar="T", help="...until T (default: now)")
    rep.add_argument("--interval-s", type=float, default=3600.0, help="whole quarter hours (default 3600)")
    rep.add_argument("--by", default="queue", help="queue, channel or queue,channel")
    rep.add_argument("--agents", action="store_true", help="the agents' report instead of the queues'")
    rep.add_argument("--time-zone", default="UTC", help="the centre's (an IANA name)")
    rep.add_argument("--csv", action="store_true", help="CSV instead of JSON")
    rep.add_argument("--rebuild", action="store_true", help="replay --journal DIR into a new --db file")
    rep.add_argument("--journal", metavar="DIR", help="a [journal] directory, for --rebuild")
    rep.add_argument("--short-abandon-s", type=float, default=5.0, help="for --rebuild, as [reports]")
    demo = sub.add_parser("demo", help="route a simulated centre through the engine, printed live")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--minutes", type=float, default=10.0, help="simulated minutes")
    demo.add_argument(
        "--speed", type=float, default=0.0, help="simulated seconds per real second (0: as fast as possible)"
    )
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "run":
        setup_logging(args.log_json)
        try:
            settings = settings_for(args.config)
            if args.listen is not None:
                settings = with_listen(settings, args.listen)
            if args.agi_listen is not None:
                settings = with_agi_listen(settings, args.agi_listen)
        except ConfigError as e:
            for problem in e.problems:
                logging.getLogger("acd").error("%s", problem)
            return 1
        try:
            import uvloop  # noqa: PLC0415 (optional: the stdlib loop works too)

            return uvloop.run(serve(settings))
        except ImportError:
            return asyncio.run(serve(settings))
    if args.command == "replay":
        if args.config is not None:
            csv_path = Path(args.csv) if args.csv else None
            return replay.what_if(
                Path(args.journal),
                Path(args.config),
                args.since,
                args.until,
                args.json,
                csv_path,
                args.interval_s,
                sys.stdout,
            )
        return replay.summary(Path(args.journal), args.check, sys.stdout)
    if args.command == "report":
        if args.rebuild:
            if args.journal is None:
                print("--rebuild needs --journal DIR", file=sys.stderr)
                return 2
            return reports_cli.rebuild(Path(args.journal), Path(args.db), args.short_abandon_s, sys.stdout)
        return reports_cli.report(
            Path(args.db),
            args.since,
            args.until,
            args.interval_s,
            args.by,
            args.agents,
            args.time_zone,
            args.csv,
            sys.stdout,
        )
    if args.command == "compact":
        return compact_journal(args.store, args.path, args.redis_key, args.upto)
    if args.command == "check-config":
        try:
            settings = load(args.path)
        except ConfigError as e:
            print(f"{args.path}: {len(e.problems)} problem(s)", file=sys.stderr)
            for problem in e.problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        print(describe(settings))
        return 0
    if args.command == "hash-password":
        secret = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if not secret:
            print("empty password", file=sys.stderr)
            return 1
        if args.token and len(secret) < MIN_TOKEN_CHARS:
            print(
                f"a token needs at least {MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 32`)",
                file=sys.stderr,
            )
            return 1
        print(hash_token(secret) if args.token else hash_password(secret))
        return 0
    return run_demo(seed=args.seed, minutes=args.minutes, speed=args.speed, out=sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
