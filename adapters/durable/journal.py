"""The journal on a local disk: one append-only file of framed records.

Every command the single writer applies, and the adapter state around it
(conversations, their messages, session tokens), is appended in the order
it happened. Appends are buffered and written together once per event-loop
iteration: the first append of an iteration schedules the write with
``call_soon``, so it runs before any callback scheduled after it, and
every effect of a journaled change (a frame, an ack, an AGI command) is
scheduled after its append. A frame therefore never leaves for a change
that is not yet written: a burst costs one write (and one fsync).

``fsync`` (the records are written to the OS every iteration in every mode,
so a crashed *process* never loses one; the modes differ on a crashed
*machine*): ``always`` (each append is synced before it returns),
``batch`` (once per iteration, before any effect of it runs: nothing an
effect depends on is ever lost, at the price of one disk sync per
iteration on the event loop), ``interval`` (synced every
``INTERVAL_S`` by a worker thread, as Redis's ``appendfsync everysec``: at
most the last second on a power cut, no latency), ``off`` (left to the
OS).

Opening reads what is there: a torn or damaged tail (a crash mid-write) is
cut off at the last whole record and logged. See :mod:`acd.journal`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from acd import journal

log = logging.getLogger("acd.journal")

FILE = "journal.bin"
FSYNC_MODES = ("always", "batch", "interval", "off")
INTERVAL_S = 1.0


class Buffered:
    """What both backends share: records framed into a buffer that one
    ``flush`` per event-loop iteration writes, scheduled by the first
    append of the iteration (``call_soon``: before any later callback)."""

    def __init__(self, fsync: str) -> None:
        self.fsync = fsync
        self._buffer: list[bytes] = []
        self._scheduled = False
        self.records = 0  # appended since open
        self.bytes = 0
        self.syncs = 0
        self.errors = 0  # failed writes
        self.healthy = True  # the last write succeeded

    def append(self, record: dict[str, Any]) -> None:
        """Queue a record; written before any later-scheduled callback runs. O(size)."""
        data = journal.frame(record)
        self._buffer.append(data)
        self.records += 1
        self.bytes += len(data)
        if self.fsync == "always":
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        raise NotImplementedError


class DirectoryJournal(Buffered):
    def __init__(self, directory: str | Path, fsync: str = "batch") -> None:
        assert fsync in FSYNC_MODES
        super().__init__(fsync)
        self.path = Path(directory) / FILE
        self._fd: int | None = None
        self._unsynced = False  # written since the last sync (interval mode)

    def open(self) -> list[dict[str, Any]]:
        """Read the records already there (cutting a torn tail), then open for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = self.path.read_bytes() if self.path.exists() else b""
        records, good = journal.read(data)
        if good < len(data):
            log.warning(
                "journal %s: %d damaged or torn bytes after record %d cut off (a crash mid-write)",
                self.path,
                len(data) - good,
                len(records),
            )
            with self.path.open("r+b") as f:
                f.truncate(good)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return records

    def flush(self) -> None:
        """Write what is buffered (and fsync, unless ``off``). A failing disk
        (full, gone) is logged and counted, and the records stay buffered
        for the next attempt: /readyz turns false meanwhile."""
        self._scheduled = False
        if not self._buffer or self._fd is None:
            return
        view = memoryview(b"".join(self._buffer))
        self._buffer.clear()
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as e:
            self.errors += 1
            if self.healthy:
                log.error("journal %s: cannot write (%s): records kept in memory, retried", self.path, e)
            self.healthy = False
            self._buffer.append(bytes(view))  # exactly what is missing: the file stays a run of records
            return
        self.healthy = True
        if self.fsync in ("always", "batch"):
            try:
                os.fdatasync(self._fd)  # the data and the size: what a reader needs
            except OSError as e:
                self.errors += 1
                log.error("journal %s: cannot sync (%s)", self.path, e)
                return
            self.syncs += 1
        else:
            self._unsynced = True

    async def sync_every(self, interval_s: float = INTERVAL_S) -> None:
        """``interval`` mode: sync what was written, off the loop, every ``interval_s``."""
        while True:
            await asyncio.sleep(interval_s)
            if self._unsynced and self._fd is not None:
                self._unsynced = False
                await asyncio.to_thread(os.fdatasync, self._fd)
                self.syncs += 1

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
