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
"""

from __future__ import annotations

import logging
from typing import Any, cast

import redis
from redis.exceptions import RedisError

from acd import journal
from acd.adapters.durable.journal import Buffered

log = logging.getLogger("acd.journal")

FIELD = b"r"
Entries = list[tuple[bytes, dict[bytes, bytes]]]


class RedisJournal(Buffered):
    def __init__(self, url: str, key: str) -> None:
        super().__init__("redis")  # what survives is Redis's own persistence's say
        self.url = url
        self.key = key
        self._r: redis.Redis | None = None

    def open(self) -> list[dict[str, Any]]:
        """Read the stream (a damaged entry ends the read, as in a file), then append to it."""
        self._r = redis.Redis.from_url(self.url)
        out: list[dict[str, Any]] = []
        last = "-"
        while True:
            entries = cast(Entries, self._r.xrange(self.key, min=last, max="+", count=10_000))
            if last != "-":
                entries = entries[1:]  # the first is the one read last time
            if not entries:
                break
            for entry_id, fields in entries:
                got, _ = journal.read(fields.get(FIELD, b""))
                if len(got) != 1:
                    log.warning(
                        "journal %s: entry %s is damaged: the read stops before it", self.key, entry_id
                    )
                    return out
                out.append(got[0])
            last = entries[-1][0].decode()
        return out

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer or self._r is None:
            return
        pipe = self._r.pipeline(transaction=False)
        for data in self._buffer:
            pipe.xadd(self.key, {FIELD: data})
        try:
            pipe.execute()
        except RedisError as e:  # kept for the next attempt; /readyz false meanwhile
            self.errors += 1
            if self.healthy:
                log.error(
                    "journal %s: cannot write to Redis (%s): records kept in memory, retried", self.key, e
                )
            self.healthy = False
            return
        self._buffer.clear()
        self.healthy = True

    def close(self) -> None:
        self.flush()
        if self._r is not None:
            self._r.close()
            self._r = None
