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

**Segments and snapshots.** The directory holds numbered segments
(``journal-00000007.bin``) and snapshots (``snapshot-00000006.bin``: one
framed record, the state after every segment up to 6). Each process start
and each ``rotate`` begins a new segment. A snapshot is written to a
temporary file, synced and renamed into place (a reader sees a whole one or
none); then the segments the *previous* snapshot covers, and older
snapshots, are deleted: what is kept is the newest snapshot, the one before
it (a fallback if the newest is damaged) and the segments after that one.
So the directory holds at most about two snapshot intervals of records.

Opening cuts a torn or damaged tail (a crash mid-write) off the last
segment at its last whole record, and logs it; a reader stops at damage
anywhere else. See :mod:`acd.journal`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Any

from acd import journal

log = logging.getLogger("acd.journal")

SEGMENT = "journal-{:08d}.bin"
SNAPSHOT = "snapshot-{:08d}.bin"
LEGACY = "journal.bin"  # the single file of the first journals: becomes segment 0
_NUMBERED = re.compile(r"(journal|snapshot)-(\d{8})\.bin")
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
        self.since_rotation = 0  # appended since the last snapshot point
        self.snapshot_every = 0  # records that make a snapshot due (0: never)
        self.snapshot_due: asyncio.Event | None = None  # set when they are reached
        self.bytes = 0
        self.syncs = 0
        self.errors = 0  # failed writes
        self.snapshots = 0  # written (by acd.adapters.daemon.snapshots)
        self.snapshot_failures = 0
        self.healthy = True  # the last write succeeded
        self.pending_bytes = 0  # appended, not yet written

    def append(self, record: dict[str, Any]) -> None:
        """Queue a record; written before any later-scheduled callback runs. O(size)."""
        data = journal.frame(record)
        self._buffer.append(data)
        self.records += 1
        self.since_rotation += 1
        if self.since_rotation == self.snapshot_every and self.snapshot_due is not None:
            self.snapshot_due.set()
        self.bytes += len(data)
        self.pending_bytes += len(data)
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
        self.dir = Path(directory)
        self.segment = 0  # the number of the segment being appended to
        self._fd: int | None = None
        self._unsynced = False  # written since the last sync (interval mode)

    @property
    def path(self) -> Path:
        """The segment being appended to."""
        return self.dir / SEGMENT.format(self.segment)

    def _numbers(self, kind: str) -> list[int]:
        """The numbers of this directory's segments or snapshots, ascending."""
        out = []
        for p in self.dir.iterdir():
            m = _NUMBERED.fullmatch(p.name)
            if m is not None and m.group(1) == kind:
                out.append(int(m.group(2)))
        return sorted(out)

    def open(self) -> None:
        """Cut the last segment's torn tail, then start a new segment for
        this process's records."""
        self.dir.mkdir(parents=True, exist_ok=True)
        legacy = self.dir / LEGACY
        if legacy.exists() and not (self.dir / SEGMENT.format(0)).exists():
            legacy.rename(self.dir / SEGMENT.format(0))
        segments = self._numbers("journal")
        if segments:  # only the last can be torn (a crash mid-write); read_from stops at any other damage
            path = self.dir / SEGMENT.format(segments[-1])
            data = path.read_bytes()
            good = journal.intact_length(data)
            if good < len(data):
                log.warning(
                    "journal %s: %d damaged or torn bytes after byte %d cut off (a crash mid-write)",
                    path,
                    len(data) - good,
                    good,
                )
                with path.open("r+b") as f:
                    f.truncate(good)
        self.segment = max([*segments, *self._numbers("snapshot"), 0]) + 1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def restore_points(self) -> list[str]:
        """Where a replay may start, best first: each snapshot, newest
        first, then the first segment ("")."""
        return [str(n) for n in reversed(self._numbers("snapshot"))] + [""]

    def read_from(
        self, point: str, upto: str | None = None
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The snapshot ``point`` (None for "") and the records of the
        segments after it, up to segment ``upto`` (None: all). ValueError if
        the snapshot is damaged. O(size)."""
        base = None
        after = -1
        if point:
            after = int(point)
            got, _ = journal.read((self.dir / SNAPSHOT.format(after)).read_bytes(), journal.MAX_SNAPSHOT)
            if len(got) != 1 or got[0].get("k") != "snapshot":
                raise ValueError(f"snapshot {after} is damaged")
            base = got[0]
        last = int(upto) if upto else None
        records: list[dict[str, Any]] = []
        for n in self._numbers("journal"):
            if n > after and (last is None or n <= last):
                got, _ = journal.read((self.dir / SEGMENT.format(n)).read_bytes())
                records += got
        return base, records

    def rotate(self) -> str:
        """Close the segment (after writing what is buffered) and begin the
        next: the position returned covers every record appended so far
        (a record a failing disk still holds goes first into the next)."""
        self.flush()
        if self._buffer:  # a failing disk: a record may be half written; it must end in this segment
            raise OSError(f"journal {self.path}: cannot write; no snapshot point")
        done = self.segment
        if self._fd is not None:
            if self.fsync not in ("always", "batch") and self._unsynced:
                os.fdatasync(self._fd)  # once per snapshot interval: the segment is whole on disk
                self._unsynced = False
            os.close(self._fd)
        self.segment += 1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.since_rotation = 0
        return str(done)

    def write_snapshot(self, position: str, record: dict[str, Any]) -> None:
        """Put ``record`` in place atomically as snapshot ``position``, then
        delete what the previous snapshot made useless."""
        n = int(position)
        tmp = self.dir / f".snapshot-{n:08d}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(journal.frame(record))
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.dir / SNAPSHOT.format(n))
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the rename itself survives a power cut
        finally:
            os.close(dfd)
        older = [x for x in self._numbers("snapshot") if x < n]
        if older:
            keep = older[-1]  # the fallback: it and the segments after it stay
            for x in older[:-1]:
                (self.dir / SNAPSHOT.format(x)).unlink(missing_ok=True)
            for x in self._numbers("journal"):
                if x <= keep:
                    (self.dir / SEGMENT.format(x)).unlink(missing_ok=True)

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
            self.pending_bytes = len(view)
            return
        self.healthy = True
        self.pending_bytes = 0
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
