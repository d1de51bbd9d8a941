"""Customers: identity resolution and history on top of a store.

The single place that turns a contact's identifiers into a customer
profile: it normalises them (:func:`acd.identity.keys`), asks the store who
holds them, lets :func:`acd.identity.resolve` decide, and writes the result.
Resolutions run one at a time (a lock), so two contacts of one person
arriving together cannot create two profiles. The daemon is the only
writer of its store.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Callable, Mapping

from acd.adapters.customer_store import CustomerStore
from acd.errors import InvalidRequest
from acd.history import ContactRecord
from acd.identity import Merge, Profile, Resolution, UnknownMerge, key, keys, resolve, unmerge

log = logging.getLogger("acd.customers")

MAX_PROFILE_CHAIN = 64  # merges into merges: a loop would be a bug, not a customer


class UnknownCustomer(InvalidRequest):
    code = "unknown-customer"


class Customers:
    def __init__(
        self, store: CustomerStore, country_code: str | None, wall_clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.country_code = country_code
        self.wall_clock = wall_clock
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]

    def _new_id(self, kind: str) -> str:
        return f"{kind}-{self._prefix}-{next(self._ids)}"

    async def identify(self, identity: Mapping[str, str]) -> Resolution | None:
        """The customer behind these identifiers (created or linked as
        needed); None when none of them is usable."""
        ks, problems = keys(identity, self.country_code)
        for p in problems:
            log.info("identifier left out: %s", p)
        if not ks:
            return None
        async with self._lock:
            found = await self.store.owners(ks)
            r = resolve(ks, found, self.wall_clock(), self._new_id)
            if r.writes or r.merges:
                await self.store.put(r.writes, r.merges)
        for m in r.merges:
            log.info(
                "customers %s and %s are one: merged as %s (%d identifiers moved)",
                m.survivor,
                m.absorbed,
                m.id,
                len(m.moved),
            )
        return r

    async def customer(self, profile_id: str) -> Profile:
        """The live profile, following merges (an old id still finds its customer)."""
        for _ in range(MAX_PROFILE_CHAIN):
            p = await self.store.profile(profile_id)
            if p is None:
                raise UnknownCustomer(f"no customer {profile_id!r}")
            if p.merged_into is None:
                return p
            profile_id = p.merged_into
        raise UnknownCustomer(f"customer {profile_id!r}: merge chain too long")

    async def find(self, kind: str, value: str) -> Profile:
        k = key(kind, value, self.country_code)
        found = await self.store.owners([k])
        if k not in found:
            raise UnknownCustomer(f"no customer with {k}")
        return found[k]

    async def history(self, profile_id: str, limit: int) -> list[ContactRecord]:
        """The latest contacts of this customer and of every profile merged
        into it (and into those), newest first."""
        top = await self.customer(profile_id)
        ids, todo = [top.id], list(top.absorbed)
        while todo and len(ids) < MAX_PROFILE_CHAIN:
            p = await self.store.profile(todo.pop())
            if p is not None and p.id not in ids:
                ids.append(p.id)
                todo.extend(p.absorbed)
        return await self.store.contacts(ids, limit)

    async def record(self, rec: ContactRecord) -> None:
        await self.store.add_contact(rec)

    async def unmerge(self, merge_id: str) -> tuple[Profile, Profile]:
        async with self._lock:
            m: Merge | None = await self.store.merge(merge_id)
            if m is None:
                raise UnknownMerge(f"no merge {merge_id!r}")
            s, a = await self.store.profile(m.survivor), await self.store.profile(m.absorbed)
            if s is None or a is None:
                raise UnknownMerge(f"merge {merge_id}: a profile is missing")
            s2, a2 = unmerge(m, s, a)
            await self.store.put([s2, a2])
        log.info("merge %s reversed: %s and %s are two customers again", merge_id, s2.id, a2.id)
        return s2, a2
