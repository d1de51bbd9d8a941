"""The ``queue_log`` file: Asterisk's format, for every channel (acd/queue_log.py).

The runner calls :meth:`QueueLogFile.on_events` in the single writer after
each command; the lines go to the file at once (an append of a few hundred
bytes to the page cache: it never waits on the disk). Log rotation: move
the file away, send SIGHUP; the daemon reopens the path (and writes
CONFIGRELOAD, as Asterisk's ``logger reload`` does). A failing disk is
logged once and counted, and never stops routing. The lines name callers'
numbers (as Asterisk's do): the file is a report, kept with the same care
as the recordings and CDRs it joins.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from acd.events import Event
from acd.queue_log import Directory, QueueLog

log = logging.getLogger("acd.reports")


class QueueLogFile:
    def __init__(
        self,
        path: str,
        names: Directory,
        offset: Callable[[], float],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.log = QueueLog(names)
        self.offset = offset  # engine time -> Unix time, now
        self.wall_clock = wall_clock
        self.lines = 0
        self.errors = 0
        self._file: IO[str] | None = None

    def open(self) -> None:
        """Open (create) the file for appending; write QUEUESTART."""
        self._open()
        self._write([self.log.start(self.wall_clock())])

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640
        )  # customers' numbers: not world-readable
        self._file = os.fdopen(fd, "a", encoding="utf-8", newline="\n")

    def reopen(self) -> None:
        """After a rotation (SIGHUP): the same path, a new file if it moved."""
        self.close()
        try:
            self._open()
        except OSError as e:
            self.errors += 1
            log.error(
                "queue_log %s: cannot reopen (%s); lines are dropped until the next SIGHUP", self.path, e
            )
            return
        self._write([self.log.reload(self.wall_clock())])

    def on_events(self, events: list[Event], seconds: float) -> None:
        lines = self.log.lines(events, self.offset())
        if lines:
            self._write(lines)

    def _write(self, lines: list[str]) -> None:
        if self._file is None:
            return
        try:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
        except OSError as e:
            if not self.errors:
                log.error("queue_log %s: cannot write (%s); lines are dropped meanwhile", self.path, e)
            self.errors += 1
            return
        self.lines += len(lines)

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                self.errors += 1
            self._file = None
