"""Journal snapshots: when to take one, and the worker that computes it.

A snapshot is computed from the journal, not from the live daemon: the
writer only marks a point (``rotate``: a new segment begins), and a separate
process (``acd compact``, this module's ``compact``) replays the newest
snapshot and the records up to that point (exactly what a restart would
do), writes the state as a new snapshot and deletes what it makes useless.
So the event loop never stops for a snapshot, the second core does the
work, and a snapshot is by construction what recovery computes.

When: every ``[journal] snapshot_records`` records, every
``snapshot_interval_s`` seconds with any record, and at a clean stop
(within the shutdown's grace).

The adapters' records are compacted too: survey answers become one tally
record, surveys no longer answerable and gateway message ids out of the
replay window are dropped, callbacks whose contact is over are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
import time
import tomllib
from typing import Any, Protocol

from acd.adapters.daemon.config_file import AcdSettings, JournalSettings, parse
from acd.adapters.daemon.surveys import Surveys
from acd.adapters.durable.journal import DirectoryJournal
from acd.adapters.durable.recovery import Recovered, Store, recover, to_snapshot
from acd.adapters.durable.redis_journal import RedisJournal
from acd.adapters.web.gateways import WINDOW_S
from acd.adapters.web.sessions import MAX_SESSIONS
from acd.settings import RoutingConfig

log = logging.getLogger("acd.snapshots")

REDIS_URL_ENV = "ACD_JOURNAL_REDIS_URL"  # how the worker gets the URL: not in argv, which ps shows
_KNOWN = ("ask", "answer", "tally", "gwid", "cb", "web")


class SnapshotStore(Store, Protocol):
    def write_snapshot(self, position: str, record: dict[str, Any]) -> None: ...


class AnyEnv(dict[str, str]):
    """An environment in which every variable is set: a journaled
    configuration is read for its routing and policies, not its secrets."""

    def get(self, key: str, default: Any = None) -> str:
        return "x" * 64


def journaled_settings(data: dict[str, Any]) -> AcdSettings:
    """The settings a journaled configuration holds (parsed TOML; its
    secrets may not be in this environment: every variable is set)."""
    return parse(data, "journal", env=AnyEnv())


def journaled_routing(data: dict[str, Any]) -> RoutingConfig:
    """A journaled configuration's routing: what recovery and replay need."""
    return journaled_settings(data).routing


def compact_other(r: Recovered, survey_settings: Any) -> list[dict[str, Any]]:
    """The adapters' records that still matter after ``r``, in journal order."""
    surveys = Surveys(survey_settings, lambda: r.wall, _ignore)
    asked = r.other.get("tally", []) + r.other.get("ask", []) + r.other.get("answer", [])
    surveys.replay(sorted(asked, key=_place))
    kept = [x for x in r.other.get("gwid", []) if x["at"] >= r.wall - 2 * WINDOW_S]
    kept += [x for x in r.other.get("cb", []) if x["id"] in r.engine.contacts]
    logins: dict[str, dict[str, Any]] = {}  # browser sessions: the logins not logged out since
    for x in sorted(r.other.get("web", []), key=_place):
        if x.get("gone"):
            logins.pop(x["d"], None)
        else:
            logins[x["d"]] = x
    kept += list(logins.values())[-MAX_SESSIONS:]  # as many as the daemon keeps: the newest
    for kind, records in r.other.items():
        if kind not in _KNOWN:  # a kind this version does not know: kept as it is
            kept += records
    return surveys.records() + sorted(kept, key=_place)


def compact(store: SnapshotStore, upto: str) -> dict[str, Any]:
    """Snapshot the state at ``upto`` into ``store``. O(records since the last snapshot)."""
    started = time.perf_counter()

    gc.disable()  # millions of objects built, none freed: collections would only walk them
    try:
        r = recover(store, journaled_routing, upto=upto)
        if r is None:
            return {"position": upto, "records": 0}
        survey = journaled_settings(tomllib.loads(r.toml) if r.toml is not None else {}).survey
        record = to_snapshot(r, compact_other(r, survey))
        store.write_snapshot(upto, record)
    finally:
        gc.enable()
    return {
        "position": upto,
        "records": r.records,
        "contacts": len(r.engine.contacts),
        "conversations": len(record["conversations"]),
        "seconds": round(time.perf_counter() - started, 3),
    }


def open_store(js: JournalSettings, redis_url: str | None = None) -> DirectoryJournal | RedisJournal:
    """The worker's view of the daemon's journal (no new segment is begun)."""
    if js.store == "redis":
        j: DirectoryJournal | RedisJournal = RedisJournal(redis_url or js.redis_url, js.redis_key)
        j.open()
        return j
    return DirectoryJournal(js.path)


class Snapshots:
    """Marks snapshot points in the daemon's journal and runs the worker."""

    def __init__(self, journal: DirectoryJournal | RedisJournal, settings: JournalSettings) -> None:
        self.journal = journal
        self.settings = settings
        self.due = asyncio.Event()
        journal.snapshot_every = settings.snapshot_records
        journal.snapshot_due = self.due
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one worker at a time

    async def start(self) -> None:
        if self.settings.snapshot_records or self.settings.snapshot_interval_s:
            self._task = asyncio.create_task(self._run(), name="acd-snapshots")

    async def _run(self) -> None:
        timeout = self.settings.snapshot_interval_s or None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.due.wait(), timeout)
            self.due.clear()
            if self.journal.since_rotation:
                await self.take()

    async def take(self) -> bool:
        """Mark a point and snapshot it. False (logged) if it failed: the
        journal is whole, only longer to replay."""
        async with self._lock:
            try:
                position = self.journal.rotate()
            except OSError as e:
                log.error("snapshot postponed: %s", e)
                self.journal.snapshot_failures += 1
                return False
            js = self.settings
            args = ["compact", "--store", js.store, "--upto", position]
            args += ["--path", js.path] if js.store == "directory" else ["--redis-key", js.redis_key]
            env = {**os.environ, REDIS_URL_ENV: js.redis_url}
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "acd.adapters.daemon.cli",
                *args,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            try:
                _, err = await proc.communicate()
            except BaseException:  # cancelled (shutdown): the snapshot is written whole or not at all
                proc.kill()
                await proc.wait()
                raise
            if proc.returncode != 0:
                self.journal.snapshot_failures += 1
                tail = err.decode(errors="replace").strip().splitlines()[-3:]
                log.error("snapshot at %s failed (exit %s): %s", position, proc.returncode, " | ".join(tail))
                return False
            self.journal.snapshots += 1
            log.info("journal snapshot at %s written", position)
            return True

    async def stop(self, final: bool) -> None:
        """Stop taking snapshots; with ``final``, take one of everything (a
        clean stop: the next start reads it and little else)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if final and self.journal.since_rotation:
            await self.take()


def _place(rec: dict[str, Any]) -> int:
    return int(rec.get("_n", 0))


def _ignore(contact_id: str, score: int) -> None:
    """Replaying answers tells no one."""
