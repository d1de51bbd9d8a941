"""Where customer profiles, merges and contact history live.

Two backends behind one small interface, chosen by ``[customers] store``:

* ``sqlite`` (the default, no server): one file in the data directory, WAL
  journal, used from one worker thread so the event loop never waits on
  the disk and every statement runs in order.
* ``redis``: profiles, merges and contacts as msgpack values; an ``owner``
  hash maps each identifier key to its profile; a sorted set per profile
  orders its contacts by time. Writes of one resolution go in one
  MULTI/EXEC, so a reader never sees a key owned by two profiles.

The stores only read and write. Deciding what to write is
:mod:`acd.identity` (pure); :class:`acd.adapters.customers.desk.Customers`
serialises resolutions so two contacts of one person never race.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgpack
import redis.asyncio as aioredis

from acd.history import ContactRecord, from_doc, to_doc
from acd.identity import Merge, Profile

T = TypeVar("T")


def _pack(obj: Any) -> bytes:
    return msgpack.packb(to_doc(obj), use_bin_type=True)  # type: ignore[no-any-return]


def _unpack(cls: type[T], data: bytes | str) -> T:
    return from_doc(cls, msgpack.unpackb(data, raw=False))


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class CustomerStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def owners(self, keys: list[str]) -> dict[str, Profile]:
        """The live profile holding each known key."""
        ...

    async def put(self, profiles: Iterable[Profile], merges: Iterable[Merge] = ()) -> None:
        """Write profiles (and the keys they hold) and merges, all or nothing."""
        ...

    async def profile(self, profile_id: str) -> Profile | None: ...

    async def merge(self, merge_id: str) -> Merge | None: ...

    async def add_contact(self, record: ContactRecord) -> None: ...

    async def contacts(
        self, profile_ids: list[str], limit: int, before: float | None = None
    ) -> list[ContactRecord]:
        """The latest ``limit`` contacts of these profiles, newest first
        (queued before ``before``, Unix time, when given: the next page)."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (id TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS owners (key TEXT PRIMARY KEY, profile TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS merges (id TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    id TEXT PRIMARY KEY, profile TEXT NOT NULL, at REAL NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS contacts_by_profile ON contacts (profile, at);
"""


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="acd-sqlite")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None, "store not open"
        return self._db

    async def open(self) -> None:
        def connect() -> None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
            db.executescript(_SCHEMA)
            self._db = db

        await self._run(connect)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._pool.shutdown(wait=True)

    async def owners(self, keys: list[str]) -> dict[str, Profile]:
        def read() -> dict[str, Profile]:
            db = self._conn()
            marks = ",".join("?" * len(keys))
            rows = db.execute(
                "SELECT o.key, p.doc FROM owners o JOIN profiles p ON p.id = o.profile"
                f" WHERE o.key IN ({marks})",
                keys,
            ).fetchall()
            return {k: _unpack(Profile, doc) for k, doc in rows}

        return await self._run(read) if keys else {}

    async def put(self, profiles: Iterable[Profile], merges: Iterable[Merge] = ()) -> None:
        ps, ms = list(profiles), list(merges)

        def write() -> None:
            db = self._conn()
            with db:  # one transaction
                db.execute("BEGIN")
                for p in ps:
                    db.execute("INSERT OR REPLACE INTO profiles VALUES (?, ?)", (p.id, _pack(p)))
                    db.executemany(
                        "INSERT OR REPLACE INTO owners VALUES (?, ?)", [(k, p.id) for k in p.identifiers]
                    )
                for m in ms:
                    db.execute("INSERT OR REPLACE INTO merges VALUES (?, ?)", (m.id, _pack(m)))

        await self._run(write)

    async def _one(self, cls: type[T], table: str, id_: str) -> T | None:
        def read() -> T | None:
            row = self._conn().execute(f"SELECT doc FROM {table} WHERE id = ?", (id_,)).fetchone()
            return _unpack(cls, row[0]) if row else None

        return await self._run(read)  # type: ignore[no-any-return]

    async def profile(self, profile_id: str) -> Profile | None:
        return await self._one(Profile, "profiles", profile_id)

    async def merge(self, merge_id: str) -> Merge | None:
        return await self._one(Merge, "merges", merge_id)

    async def add_contact(self, record: ContactRecord) -> None:
        row = (record.contact_id, record.profile_id, record.queued_at, _pack(record))
        await self._run(
            lambda: self._conn().execute("INSERT OR REPLACE INTO contacts VALUES (?, ?, ?, ?)", row)
        )

    async def contacts(
        self, profile_ids: list[str], limit: int, before: float | None = None
    ) -> list[ContactRecord]:
        def read() -> list[ContactRecord]:
            marks = ",".join("?" * len(profile_ids))
            rows = self._conn().execute(
                f"SELECT doc FROM contacts WHERE profile IN ({marks}) AND at < ? ORDER BY at DESC LIMIT ?",
                [*profile_ids, math.inf if before is None else before, limit],
            )
            return [_unpack(ContactRecord, doc) for (doc,) in rows]

        return await self._run(read) if profile_ids else []


class RedisStore:
    def __init__(self, url: str, prefix: str = "acd:") -> None:
        self.url = url
        self.prefix = prefix
        self._r: aioredis.Redis | None = None

    def _redis(self) -> aioredis.Redis:
        assert self._r is not None, "store not open"
        return self._r

    async def open(self) -> None:
        self._r = aioredis.Redis.from_url(self.url)
        await self._r.ping()  # a wrong URL fails at start-up, clearly

    async def close(self) -> None:
        if self._r is not None:
            await self._r.aclose()
            self._r = None

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def owners(self, keys: list[str]) -> dict[str, Profile]:
        if not keys:
            return {}
        r = self._redis()
        ids = await r.hmget(self._k("owner"), keys)
        known = {k: _text(i) for k, i in zip(keys, ids, strict=True) if i is not None}
        unique = sorted(set(known.values()))
        if not unique:
            return {}
        docs = await r.mget([self._k("profile", i) for i in unique])
        profiles = {i: _unpack(Profile, d) for i, d in zip(unique, docs, strict=True) if d is not None}
        return {k: profiles[i] for k, i in known.items() if i in profiles}

    async def put(self, profiles: Iterable[Profile], merges: Iterable[Merge] = ()) -> None:
        async with self._redis().pipeline(transaction=True) as tx:
            for p in profiles:
                tx.set(self._k("profile", p.id), _pack(p))
                if p.identifiers:
                    tx.hset(self._k("owner"), mapping=dict.fromkeys(p.identifiers, p.id))
            for m in merges:
                tx.set(self._k("merge", m.id), _pack(m))
            await tx.execute()

    async def profile(self, profile_id: str) -> Profile | None:
        d = await self._redis().get(self._k("profile", profile_id))
        return _unpack(Profile, d) if d is not None else None

    async def merge(self, merge_id: str) -> Merge | None:
        d = await self._redis().get(self._k("merge", merge_id))
        return _unpack(Merge, d) if d is not None else None

    async def add_contact(self, record: ContactRecord) -> None:
        async with self._redis().pipeline(transaction=True) as tx:
            tx.set(self._k("contact", record.contact_id), _pack(record))
            tx.zadd(self._k("history", record.profile_id), {record.contact_id: record.queued_at})
            await tx.execute()

    async def contacts(
        self, profile_ids: list[str], limit: int, before: float | None = None
    ) -> list[ContactRecord]:
        """O(p·log n + limit): the newest ``limit`` of each profile (before
        ``before``), then the newest ``limit`` of those."""
        if not profile_ids or limit <= 0:
            return []
        r = self._redis()
        top = "+inf" if before is None else f"({before!r}"
        async with r.pipeline(transaction=False) as p:
            for pid in profile_ids:
                p.zrevrangebyscore(self._k("history", pid), top, "-inf", start=0, num=limit, withscores=True)
            lists = await p.execute()
        newest = sorted(((s, _text(m)) for lst in lists for m, s in lst), reverse=True)[:limit]
        if not newest:
            return []
        docs = await r.mget([self._k("contact", cid) for _, cid in newest])
        return [_unpack(ContactRecord, d) for d in docs if d is not None]
