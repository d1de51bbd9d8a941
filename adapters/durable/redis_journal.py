"""The journal in a Redis stream: one XADD per record, the same framed
bytes as the file (so the CRC still guards each record), in one pipeline per
event-loop iteration.

The same interface as :class:`~acd.adapters.durable.journal.DirectoryJournal`
(``open``, ``append``, ``flush``, ``close``): the write of an iteration runs
in a ``call_soon`` callback, before any effect of it, with redis-py's
synchronous client, so no frame leaves for a record Redis has not
acknowledged (a loopback round trip per iteration; Redis's own
``appendfsync`` decides what survives a crash of the Redis host). A stream
is what several nodes can share: it is the base of the cluster (issue 18).

Snapshots: ``<key>:snapshot`` holds the newest (one framed record) and
``<key>:snapshot:pos`` the stream id it covers; the one before moves to
``<key>:snapshot:prev`` (and ``...:prev:pos``), a fallback, and the stream is
trimmed (XTRIM MINID) to the entries after that one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import redis
from redis.exceptions import RedisError, ResponseError

from acd import journal
from acd.adapters.cluster.lease import APPEND
from acd.adapters.durable.journal import Buffered

log = logging.getLogger("acd.journal")

FIELD = b"r"
# The writes run in the event loop: bounded, so a Redis that does not answer
# (a partition) stalls routing at most this long per retry.
CONNECT_TIMEOUT_S = 0.2
COMMAND_TIMEOUT_S = 2.0  # a snapshot of a large centre is one big SET
RETRY_S = 1.0
Entries = list[tuple[bytes, dict[bytes, bytes]]]


class RedisJournal(Buffered):
    def __init__(self, url: str, key: str) -> None:
        super().__init__("redis")  # what survives is Redis's own persistence's say
        self.url = url
        self.key = key
        self._r: redis.Redis | None = None
        self.last_id = "0-0"  # the newest entry written or read
        # [cluster]: appends go through a script that refuses them once a
        # newer owner holds the fence (acd.adapters.cluster.lease)
        self.fence: tuple[str, int] | None = None  # (fence key, our token)
        self.fenced = False
        self.on_fenced: Callable[[], None] = lambda: None

    def open(self) -> None:
        self._r = redis.Redis.from_url(
            self.url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=COMMAND_TIMEOUT_S
        )
        newest = cast(Entries, self._r.xrevrange(self.key, count=1))
        if newest:
            self.last_id = newest[0][0].decode()

    def restore_points(self) -> list[str]:
        """The snapshot, its predecessor (each if there), then the stream's start ("")."""
        assert self._r is not None
        return [p for p in ("snapshot", "snapshot:prev") if self._r.exists(f"{self.key}:{p}")] + [""]

    def read_from(
        self, point: str, upto: str | None = None
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The snapshot ``point`` (None for "") and the entries after it, up
        to id ``upto`` (None: all); a damaged entry ends the read, as in a
        file. ValueError if the snapshot is damaged."""
        r = self._r
        assert r is not None
        base = None
        after = "-"
        if point:
            got, _ = journal.read(cast(bytes, r.get(f"{self.key}:{point}")) or b"", journal.MAX_SNAPSHOT)
            pos = cast(bytes | None, r.get(f"{self.key}:{point}:pos"))
            if len(got) != 1 or got[0].get("k") != "snapshot" or pos is None:
                raise ValueError(f"{self.key}:{point} is damaged")
            base = got[0]
            after = "(" + pos.decode()
        out: list[dict[str, Any]] = []
        while True:
            entries = cast(Entries, r.xrange(self.key, min=after, max=upto or "+", count=10_000))
            if not entries:
                return base, out
            for entry_id, fields in entries:
                got, _ = journal.read(fields.get(FIELD, b""))
                if len(got) != 1:
                    log.warning("journal %s: entry %s damaged: the read stops before it", self.key, entry_id)
                    return base, out
                out.append(got[0])
            after = "(" + entries[-1][0].decode()

    def rotate(self) -> str:
        """Write what is buffered; the id returned covers every record so far."""
        self.flush()
        if self._buffer:
            raise OSError(f"journal {self.key}: Redis refuses writes; no snapshot point")
        self.since_rotation = 0
        return self.last_id

    def write_snapshot(self, position: str, record: dict[str, Any]) -> None:
        """Install ``record`` as the snapshot covering ``position``, keep the
        previous as the fallback, trim the entries that one covers. The
        moves run in one MULTI: a reader sees the old pair or the new."""
        r = self._r
        assert r is not None
        k = self.key
        prev = cast(bytes | None, r.get(f"{k}:snapshot:pos"))
        pipe = r.pipeline(transaction=True)
        if prev is not None:
            pipe.rename(f"{k}:snapshot", f"{k}:snapshot:prev")
            pipe.rename(f"{k}:snapshot:pos", f"{k}:snapshot:prev:pos")
        pipe.set(f"{k}:snapshot", journal.frame(record))
        pipe.set(f"{k}:snapshot:pos", position)
        pipe.execute()
        if prev is not None:
            r.xtrim(k, minid=prev.decode(), approximate=False)  # keeps the entries after the fallback

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer or self._r is None:
            return
        try:
            if self.fence is not None:
                fence_key, token = self.fence
                last = self._r.eval(APPEND, 2, self.key, fence_key, token, *self._buffer)
                ids = [last]
            else:
                pipe = self._r.pipeline(transaction=False)
                for data in self._buffer:
                    pipe.xadd(self.key, {FIELD: data})
                ids = pipe.execute()
        except RedisError as e:
            if isinstance(e, ResponseError) and str(e).startswith("FENCED"):
                self.errors += 1
                self.healthy = False
                if not self.fenced:
                    self.fenced = True
                    log.error("journal %s: a newer owner holds it: this node steps down", self.key)
                    self.on_fenced()  # before any effect of these records can leave
                return
            # Kept for the next attempt, a second later (appends meanwhile
            # only buffer: an unreachable Redis costs the loop one bounded
            # attempt a second, not one per iteration); /readyz false meanwhile.
            self.errors += 1
            if self.healthy:
                log.error(
                    "journal %s: cannot write to Redis (%s): records kept in memory, retried", self.key, e
                )
            self.healthy = False
            self._scheduled = True
            asyncio.get_running_loop().call_later(RETRY_S, self.flush)
            return
        if not self.healthy:
            log.info("journal %s: writing again (%d records kept meanwhile)", self.key, len(self._buffer))
        self._buffer.clear()
        self.pending_bytes = 0
        self.last_id = ids[-1].decode() if isinstance(ids[-1], bytes) else str(ids[-1])
        self.healthy = True

    def close(self) -> None:
        self.flush()
        if self._r is not None:
            self._r.close()
            self._r = None
