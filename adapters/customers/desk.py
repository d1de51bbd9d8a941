"""Customers: identity resolution and history on top of a store, and the
desk that identifies each new contact's customer and records each finished
contact.

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
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from acd import events as ev
from acd.adapters.customers.store import CustomerStore
from acd.adapters.daemon.config_file import CustomerSettings
from acd.adapters.daemon.conversations import Conversation, Conversations
from acd.adapters.daemon.runner import EngineRunner
from acd.errors import InvalidRequest
from acd.history import ContactRecord, Finished, HistoryBuilder
from acd.identity import (
    IDENTIFIER_KINDS,
    BadIdentifier,
    Merge,
    Profile,
    Resolution,
    UnknownMerge,
    key,
    keys,
    resolve,
    unmerge,
)

log = logging.getLogger("acd.customers")

MAX_PROFILE_CHAIN = 64  # merges into merges: a loop would be a bug, not a customer
SUMMARY_CHARS = 200
WRITE_ATTEMPTS = 3
DAY_S = 86400.0
SURVEY_KEEP_S = 3600.0  # a written record waits this long for a late survey answer


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

    async def identify(
        self, identity: Mapping[str, str], extra_kinds: frozenset[str] = frozenset()
    ) -> Resolution | None:
        """The customer behind these identifiers (created or linked as
        needed); None when none of them is usable. Fields that are not
        identifiers (of ``IDENTIFIER_KINDS`` or ``extra_kinds``) describe
        the customer: they fill the profile's attributes."""
        kinds = IDENTIFIER_KINDS | extra_kinds
        described = {k: v for k, v in identity.items() if k not in kinds}
        ks, problems = keys({k: v for k, v in identity.items() if k in kinds}, self.country_code)
        if problems:  # counted, not shown: the values are the customer's data
            log.info("%d identifier(s) left out: not usable as given", len(problems))
        if not ks:
            return None
        async with self._lock:
            found = await self.store.owners(ks)
            r = resolve(ks, found, self.wall_clock(), self._new_id, described)
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
        try:
            k = key(kind, value, self.country_code)
        except BadIdentifier:  # no customer can hold what is not an identifier
            raise UnknownCustomer(f"no customer with {kind[:50]} {value[:50]!r}") from None
        found = await self.store.owners([k])
        if k not in found:
            raise UnknownCustomer(f"no customer with {k}")
        return found[k]

    async def history(self, profile_id: str, limit: int, before: float | None = None) -> list[ContactRecord]:
        """The latest contacts of this customer and of every profile merged
        into it (and into those), newest first."""
        top = await self.customer(profile_id)
        ids, todo = [top.id], list(top.absorbed)
        while todo and len(ids) < MAX_PROFILE_CHAIN:
            p = await self.store.profile(todo.pop())
            if p is not None and p.id not in ids:
                ids.append(p.id)
                todo.extend(p.absorbed)
        return await self.store.contacts(ids, limit, before)

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


def summary_of(rec: ContactRecord) -> dict[str, Any]:
    """One earlier contact, as a screen pop lists it."""
    return {
        "contact": rec.contact_id,
        "channel": rec.channel,
        "queue": rec.queue,
        "at": rec.queued_at,
        "outcome": rec.outcome,
        "agents": list(rec.agents),
        "summary": rec.summary,
        "disposition": rec.disposition,
        "survey": rec.survey,
    }


def last_agent(past: Sequence[ContactRecord], since: float) -> str | None:
    """The agent who last served the customer, if after ``since`` (wall
    clock): the last agent of the newest answered contact. O(len(past))."""
    for rec in past:  # newest first
        if rec.outcome == "answered" and rec.agents:
            return rec.agents[-1] if (rec.answered_at or rec.queued_at) >= since else None
    return None


class CustomerDesk:
    """The hub's view of customers: identify a new contact's customer within
    ``lookup_timeout_s`` (a slow or broken store delays no contact longer,
    and loses none: the contact goes on without history), and record every
    finished contact through one writer task."""

    def __init__(
        self,
        customers: Customers,
        runner: EngineRunner,
        conversations: Conversations,
        settings: CustomerSettings,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.customers = customers
        self.runner = runner
        self.conversations = conversations
        self.settings = settings
        self.wall_clock = wall_clock
        self.builder = HistoryBuilder()
        # Identified open contacts' conversations: the hub forgets a finished
        # one before this desk's listener sees the event that finished it.
        self._convs: dict[str, Conversation] = {}
        self._pending: asyncio.Queue[ContactRecord | None] = asyncio.Queue()
        # Survey answers for contacts not yet written, and written records
        # whose survey may still be answered (oldest first).
        self._answers: dict[str, int] = {}
        self._surveyed: OrderedDict[str, tuple[float, ContactRecord]] = OrderedDict()
        self.survey_asked: Callable[[str], bool] = lambda contact_id: False
        self._writer: asyncio.Task[None] | None = None
        self.written = 0
        self.failed = 0

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_records(), name="acd-history-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._writer is not None:
            self._pending.put_nowait(None)
            await self._writer

    async def identify(self, conv: Conversation) -> None:
        identity = dict(conv.identity)
        extra: frozenset[str] = frozenset()
        if conv.external_user is not None:  # a gateway's user id is an identifier of its own kind
            kind = conv.origin.replace("-", "_").lower()
            identity.setdefault(kind, conv.external_user)
            extra = frozenset({kind})
        if not identity:
            return
        try:
            async with asyncio.timeout(self.settings.lookup_timeout_s):
                r = await self.customers.identify(identity, extra)
                if r is None:
                    return
                conv.profile = r.profile
                days = self.settings.preferred_agent_days
                limit = max(self.settings.history_limit, 1 if days > 0 else 0)
                if limit:
                    past = await self.customers.history(r.profile.id, limit)
                    conv.history = [summary_of(x) for x in past[: self.settings.history_limit]]
                    if days > 0:
                        conv.last_agent = last_agent(past, self.wall_clock() - days * DAY_S)
        except TimeoutError:
            log.warning(
                "contact %s: the customer store took over %.3g s; routed without history",
                conv.contact_id,
                self.settings.lookup_timeout_s,
            )
        except Exception:  # the store is down or broken: the contact must still be routed
            log.exception("contact %s: customer lookup failed; routed without history", conv.contact_id)

    def adopt(self, builder: HistoryBuilder, conversations: list[Conversation]) -> None:
        """After a restart: the open contacts' events so far, and their
        identified conversations, so each gets its record when it finishes."""
        self.builder = builder
        for conv in conversations:
            if conv.profile is not None:
                self._convs[conv.contact_id] = conv

    def on_events(self, events: list[ev.Event], seconds: float) -> None:
        """In the writer: remember conversations of new contacts, and queue a
        record for each finished one. O(events)."""
        for e in events:
            if isinstance(e, ev.ContactQueued) and e.contact_id not in self._convs:
                conv = self.conversations.get(e.contact_id)
                if conv is not None and conv.profile is not None:  # identified before it was queued
                    self._convs[e.contact_id] = conv
        finished = self.builder.feed(events)
        if not finished:
            return
        offset = self.wall_clock() - self.runner.now()
        for f in finished:
            conv = self._convs.pop(f.contact_id, None)
            if conv is not None:  # a customer we could not identify has no history to keep
                rec = self._record(f, conv, offset)
                if rec.survey is None and self.survey_asked(rec.contact_id):
                    self._keep_for_survey(rec)
                self._pending.put_nowait(rec)

    def survey_answered(self, contact_id: str, score: int) -> None:
        """A survey answer: into the record, rewritten if already written."""
        kept = self._surveyed.pop(contact_id, None)
        if kept is not None:
            self._pending.put_nowait(replace(kept[1], survey=score))
        elif contact_id in self._convs:  # still open: its record takes it when written
            self._answers[contact_id] = score

    def _keep_for_survey(self, rec: ContactRecord) -> None:
        now = self.wall_clock()
        while self._surveyed and next(iter(self._surveyed.values()))[0] < now - SURVEY_KEEP_S:
            self._surveyed.popitem(last=False)
        self._surveyed[rec.contact_id] = (now, rec)

    def _record(self, f: Finished, conv: Conversation, offset: float) -> ContactRecord:
        first = next((m.text for m in conv.transcript if m.sender == "customer"), "")
        text_channel = conv.origin != "voice"
        return ContactRecord(
            f.contact_id,
            conv.profile.id if conv.profile is not None else "",
            f.channel,
            f.queue,
            conv.origin,
            conv.customer,
            f.queued_at + offset,
            f.ended_at + offset,
            f.outcome,
            f.answered_at + offset if f.answered_at is not None else None,
            f.agents,
            f.queues,
            disposition=conv.disposition,
            notes="\n".join(n.text for n in conv.notes),
            survey=self._answers.pop(f.contact_id, None),
            summary=first[:SUMMARY_CHARS],
            context=dict(conv.attributes),
            transcript=tuple(m.to_dict() for m in conv.transcript) if text_channel else (),
        )

    async def drained(self) -> None:
        """Every record queued so far is stored (or given up on)."""
        await self._pending.join()

    async def _write_records(self) -> None:
        while (rec := await self._pending.get()) is not None:
            try:
                await self._write(rec)
            finally:
                self._pending.task_done()
        self._pending.task_done()

    async def _write(self, rec: ContactRecord) -> None:
        """Store one record; a failing store is retried with back-off, then
        given up on with an error line naming the contact (never its content)."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                await self.customers.record(rec)
                self.written += 1
                return
            except Exception as e:  # keep serving whatever the store does
                if attempt + 1 == WRITE_ATTEMPTS:
                    self.failed += 1
                    # Ids and the reason only: the record holds customer text and identifiers.
                    log.error("history of contact %s not stored: %s", rec.contact_id, type(e).__name__)
                else:
                    await asyncio.sleep(0.1 * 2**attempt)
