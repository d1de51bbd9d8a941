"""Rebuild the daemon's state from its journal.

The engine is deterministic and its commands are plain data: replaying the
recorded commands, with the times they carried, through a new engine built
from the recorded configuration gives back the same engine, every waiting
contact in its place. The adapter records around them give back the
conversations (transcripts, identities, resume tokens) and the agents'
session tokens. Nothing is sent while replaying: this module only computes.

Record kinds (maps, see :mod:`acd.journal` for the framing):

========  ====================================================================
``start`` the engine was created: ``now`` (engine time), ``w`` (wall), ``toml``
``config`` a reload applied ``toml`` at engine time ``now``
``cmd``   a command the engine applied (``c``, :mod:`acd.codec`), at wall ``w``
``conv``  a conversation was queued: its customer side (``c``)
``msg``   a message (``note``: an agent's internal note) added to conversation ``id``
``unnote`` note ``seq`` of conversation ``id`` taken back (its request was refused)
``disp``  the wrap-up code of conversation ``id`` set to ``d``
``tok``   agent ``a``'s session token digest is ``d`` (None: revoked)
``ask``   a survey asked (:mod:`acd.adapters.daemon.surveys` replays these two)
``answer`` a survey answered
``gwid``  a gateway message id accepted (:mod:`acd.adapters.web.gateways`)
``cb``    a caller asked to be called back (:mod:`acd.adapters.asterisk.callback`)
``web``   a browser login (the cookie's SHA-256, user, role, CSRF token) or its logout (``gone``)
``tally`` survey answers counted before a snapshot (what the ``answer`` records it replaced counted)
========  ====================================================================

A **snapshot** (``snapshot`` record, written apart from the journal, see
:mod:`acd.adapters.durable.journal`) is a ``Recovered`` as plain data: the
engine's records (:mod:`acd.snapshot`), the conversations, tokens, the
history in progress, and the other adapters' records that still matter.
Replay starts from the newest good one and goes on with the records after
it: the same state as replaying everything, in a bounded time.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from acd import snapshot
from acd.codec import from_wire
from acd.commands import NewContact
from acd.engine import Engine
from acd.errors import AcdError
from acd.history import HistoryBuilder
from acd.settings import RoutingConfig

log = logging.getLogger("acd.recovery")


class Store(Protocol):
    """Where a journal's snapshots and records are (a directory, a Redis stream)."""

    def restore_points(self) -> list[str]: ...

    def read_from(
        self, point: str, upto: str | None = None
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]: ...


@dataclass
class Recovered:
    engine: Engine
    now: float  # engine time of the last record
    wall: float  # wall-clock time of the last record
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)  # contact id -> its record
    tokens: dict[str, str] = field(default_factory=dict)  # agent id -> session token digest
    commands: int = 0
    refused: int = 0
    toml: str | None = None  # the configuration in force at the end
    # the contacts still open, as the customer history follows them (their events so far)
    history: HistoryBuilder = field(default_factory=HistoryBuilder)
    # the records of other adapters (surveys, gateways), by kind, in order: theirs to replay
    other: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # conversations on record whose contact the engine has not seen yet -> wall time of that record
    pending: dict[str, float] = field(default_factory=dict)
    records: int = 0  # replayed after the snapshot it started from (all, without one)
    from_snapshot: bool = False

    def open_conversations(self) -> dict[str, dict[str, Any]]:
        """The conversations whose contact is open: a conversation recorded
        just before a crash, whose contact never reached the engine, is gone
        with it (its customer was never told it was queued)."""
        return {cid: c for cid, c in self.conversations.items() if cid in self.engine.contacts}


PENDING_S = 300.0  # a conversation's contact follows its record within seconds, or never


def to_snapshot(r: Recovered, other: list[dict[str, Any]]) -> dict[str, Any]:
    """``r`` as one plain record; ``other`` replaces ``r.other`` (each
    adapter's records, compacted by the caller). O(state)."""
    live = {
        cid: c
        for cid, c in r.conversations.items()
        if cid in r.engine.contacts or r.pending.get(cid, -1e300) >= r.wall - PENDING_S
    }
    return {
        "k": "snapshot",
        "now": r.now,
        "w": r.wall,
        "toml": r.toml,
        "engine": snapshot.dump(r.engine),
        "conversations": live,
        "pending": {cid: w for cid, w in r.pending.items() if cid in live},
        "tokens": r.tokens,
        "history": r.history.state(),
        "other": [{k: v for k, v in rec.items() if k != "_n"} for rec in other],
        "commands": r.commands,
    }


def from_snapshot(record: dict[str, Any], routing_of: Callable[[str | None], RoutingConfig]) -> Recovered:
    """The state a snapshot holds. ValueError (or KeyError) if it cannot be read."""
    if record.get("k") != "snapshot":
        raise ValueError("not a snapshot")
    engine = snapshot.load(routing_of(record.get("toml")), record["engine"])
    r = Recovered(engine, record["now"], record["w"])
    r.toml = record.get("toml")
    r.conversations = dict(record["conversations"])
    r.pending = dict(record["pending"])
    r.tokens = dict(record["tokens"])
    r.history = HistoryBuilder.from_state(record["history"])
    n = len(record["other"])
    for i, rec in enumerate(record["other"]):
        r.other.setdefault(str(rec["k"]), []).append({**rec, "_n": i - n})  # before every later record
    r.commands = record["commands"]
    r.from_snapshot = True
    return r


def replay(
    records: list[dict[str, Any]],
    parse: Callable[[dict[str, Any]], RoutingConfig],
    known_text: str | None = None,
    known: RoutingConfig | None = None,
    base: dict[str, Any] | None = None,
) -> Recovered:
    """The state after ``base`` (a snapshot record) and ``records`` (which
    begin with a ``start`` without one); a recorded configuration whose text
    is ``known_text`` is ``known`` (already parsed: a large one takes a
    second to parse). O(records), plus loading the snapshot."""

    def routing_of(text: str | None) -> RoutingConfig:
        if known is not None and text is not None and text == known_text:
            return known
        return parse(tomllib.loads(text) if text is not None else {})

    if base is not None:
        r = from_snapshot(base, routing_of)
        skip = -1
    else:
        first = records[0]
        if first.get("k") != "start":
            raise ValueError("the journal does not begin with a start record")
        r = Recovered(Engine(routing_of(first.get("toml")), now=first["now"]), first["now"], first["w"])
        r.toml = first.get("toml")
        skip = 0
    engine = r.engine
    r.records = len(records)
    for n, rec in enumerate(records):
        if n == skip:
            continue
        kind = rec.get("k")
        if kind == "cmd":
            cmd = from_wire(rec["c"])
            if isinstance(cmd, NewContact):
                r.pending.pop(cmd.contact_id, None)
            try:
                r.history.feed(engine.handle(cmd))
            except AcdError as e:  # it was applied once: a refusal now means the replay diverged
                r.refused += 1
                log.error("journal replay: a recorded %s was refused: %s", type(cmd).__name__, e)
            r.commands += 1
            r.now, r.wall = cmd.now, rec["w"]
        elif kind == "config":
            r.history.feed(engine.reconfigure(routing_of(rec.get("toml")), rec["now"]))
            r.now, r.wall, r.toml = rec["now"], rec["w"], rec.get("toml")
        elif kind == "conv":
            doc = dict(rec["c"])
            doc.setdefault("transcript", [])
            doc.setdefault("notes", [])
            r.conversations[doc["contact_id"]] = doc
            r.pending[doc["contact_id"]] = r.wall
        elif kind == "msg":
            conv = r.conversations.get(rec["id"])
            if conv is not None:
                conv["notes" if rec.get("note") else "transcript"].append(rec["m"])
        elif kind == "unnote":
            conv = r.conversations.get(rec["id"])
            if conv is not None:
                conv["notes"] = [n for n in conv["notes"] if n["seq"] != rec["seq"]]
        elif kind == "disp":
            conv = r.conversations.get(rec["id"])
            if conv is not None:
                conv["disposition"] = rec["d"]
        elif kind == "tok":
            if rec["d"] is None:
                r.tokens.pop(rec["a"], None)
            else:
                r.tokens[rec["a"]] = rec["d"]
        else:
            r.other.setdefault(str(kind), []).append({**rec, "_n": n})  # _n: its place in the journal
    return r


def recover(
    store: Store,
    parse: Callable[[dict[str, Any]], RoutingConfig],
    known_text: str | None = None,
    known: RoutingConfig | None = None,
    upto: str | None = None,
) -> Recovered | None:
    """The state the store holds (up to position ``upto``): from its newest
    snapshot that loads, else an older one, else the first record. None: an
    empty journal. ValueError when nothing can be started from (every
    snapshot damaged and the records before them gone)."""
    failed = 0
    for point in store.restore_points():
        try:
            base, records = store.read_from(point, upto)
            if base is None and not records:
                if failed:
                    break
                return None
            return replay(records, parse, known_text, known, base)
        except (ValueError, KeyError, TypeError, IndexError, AcdError) as e:
            failed += 1
            log.error(
                "journal: cannot start from %s (%s): trying the one before",
                f"snapshot {point}" if point else "its first record",
                e,
            )
    raise ValueError("journal: no snapshot loads and the records before them are gone")
