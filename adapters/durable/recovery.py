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
========  ====================================================================
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acd.codec import from_wire
from acd.engine import Engine
from acd.errors import AcdError
from acd.history import HistoryBuilder
from acd.settings import RoutingConfig

log = logging.getLogger("acd.recovery")


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


def replay(
    records: list[dict[str, Any]],
    parse: Callable[[dict[str, Any]], RoutingConfig],
    known_text: str | None = None,
    known: RoutingConfig | None = None,
) -> Recovered:
    """The state after ``records`` (which begin with a ``start``); a
    recorded configuration whose text is ``known_text`` is ``known``
    (already parsed: a large one takes a second to parse). O(records)."""

    def routing_of(text: str | None) -> RoutingConfig:
        if known is not None and text is not None and text == known_text:
            return known
        return parse(tomllib.loads(text) if text is not None else {})

    first = records[0]
    if first.get("k") != "start":
        raise ValueError("the journal does not begin with a start record")
    r = Recovered(Engine(routing_of(first.get("toml")), now=first["now"]), first["now"], first["w"])
    engine = r.engine
    r.toml = first.get("toml")
    for n, rec in enumerate(records):
        if n == 0:
            continue
        kind = rec.get("k")
        if kind == "cmd":
            cmd = from_wire(rec["c"])
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
    # A conversation whose contact the engine finished is over.
    r.conversations = {cid: c for cid, c in r.conversations.items() if cid in engine.contacts}
    return r
