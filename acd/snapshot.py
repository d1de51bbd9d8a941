"""The engine's state as plain data, and back: what a journal snapshot holds.

``dump(engine)`` returns maps, lists, strings and numbers (msgpack-ready)
taken between two commands; ``load(config, state)`` builds an engine that
handles every later command exactly as the dumped one would: the same
events, in the same order (tests/core/test_invariants.py checks this at
random points of random runs).

Only the *records* are kept: agents (status, reason, phone, assignments,
statistics), contacts (queue, step, line, key, hold, declined, ...), queue
totals, the pending timers and the engine's counters. The indexes (routing
classes and their heaps, held sets, oldest-waiting heaps, presence counts,
loads) are derived data, rebuilt by ``Engine.rebuild_indexes``; a routing
class is rebuilt with its agents' exact keys, where the original may hold
stale-low ones that it corrects lazily, which picks the same agent.

The format is versioned (``v``): an engine that cannot read a snapshot says
so (ValueError) and the journal falls back to an older one. Sans-I/O.
"""

from __future__ import annotations

from typing import Any

from acd.engine import Engine
from acd.records import AgentState, Assignment, ContactState
from acd.settings import RoutingConfig
from acd.skills import Requirement
from acd.stats import TOTALS

VERSION = 1

_AGENT_FIELDS = (
    "status",
    "presence_code",
    "reason",
    "phone",
    "n_offered",
    "n_connected",
    "n_wrap",
    "last_activity",
    "rr",
    "offered",
    "answered",
    "handled",
    "rejected",
    "rona",
    "status_since",
    "logged_in_s",
    "away_s",
    "busy_s",
    "busy_since",
)
_ASSIGNMENT_FIELDS = ("contact_id", "queue", "channel", "state", "since", "token", "connected_at", "closes")
_CONTACT_FIELDS = (
    "id",
    "queue",
    "channel",
    "customer",
    "priority",
    "attributes",
    "state",
    "step",
    "entered",
    "line",
    "class_key",
    "epoch",
    "offer_token",
    "hold_agent",
    "hold_key",
    "hold_until",
    "agent_id",
    "left",
)
_ENGINE_FIELDS = ("now", "_line", "line_limit", "_token", "_offer_seq", "n_commands", "n_offers", "n_refused")


def dump(engine: Engine) -> dict[str, Any]:
    """The engine's records, between two commands. O(agents + contacts + timers)."""
    contacts = engine.contacts
    agents = engine.agents
    reqs: dict[Requirement, int] = {}
    timers = []
    for at, seq, kind, token, rec in engine.timers.pending():
        if isinstance(rec, ContactState):
            if contacts.get(rec.id) is rec:
                timers.append([at, seq, kind, token, rec.id])
        elif isinstance(rec, Assignment):
            holder = agents.get(rec.agent.id)
            if holder is not None and holder.assignments.get(rec.contact_id) is rec:
                timers.append([at, seq, kind, token, rec.agent.id, rec.contact_id])
        # else: its record is gone (the contact finished): it would fire as a no-op
    timers.sort(key=_seq_of)  # a stable form: equal engines dump equal maps
    return {
        "v": VERSION,
        **{f: getattr(engine, f) for f in _ENGINE_FIELDS},
        "closed": sorted(engine.closed),
        "queues": {
            name: {**{f: getattr(q, f) for f in TOTALS}, "by_channel": q.by_channel}
            for name, q in engine.qstats.items()
        },
        "agents": [_dump_agent(a) for a in agents.values()],
        # one row per contact (_CONTACT_FIELDS, then base_req and extra as
        # indexes in "requirements", then declined): a map per contact would
        # repeat its keys, and its requirements, 100,000 times
        "contacts": [_dump_contact(c, reqs) for c in contacts.values()],
        "requirements": [[list(x) for x in req] for req in reqs],
        "timers": timers,
        "timer_seq": engine.timers.seq,
    }


def load(config: RoutingConfig, state: dict[str, Any]) -> Engine:
    """An engine under ``config`` (the one in force when ``state`` was
    dumped) in ``state``. ValueError if the state is not one this engine
    reads. O(agents x queues + contacts log contacts + timers log timers)."""
    if state.get("v") != VERSION:
        raise ValueError(f"snapshot format {state.get('v')!r}, this engine reads {VERSION}")
    engine = Engine(config, now=state["now"])
    for f in _ENGINE_FIELDS:
        setattr(engine, f, state[f])
    engine.closed = set(state["closed"])
    for name, doc in state["queues"].items():
        q = engine.qstats[name]
        for f in TOTALS:
            setattr(q, f, doc[f])
        q.by_channel = {ch: list(row) for ch, row in doc["by_channel"].items()}
    n = len(_CONTACT_FIELDS)
    reqs = [_requirement(r) for r in state["requirements"]]
    for row in state["contacts"]:
        c = ContactState(row[0], row[1], row[2], row[3], row[4], row[5], reqs[row[n]], row[8])
        for f, v in zip(_CONTACT_FIELDS[6:], row[6:n], strict=True):
            setattr(c, f, v)
        c.extra = reqs[row[n + 1]]
        c.declined = set(row[n + 2]) if row[n + 2] is not None else None
        engine.contacts[c.id] = c
    for doc in state["agents"]:
        a = engine.agents[doc["id"]]
        for f in _AGENT_FIELDS:
            setattr(a, f, doc[f])
        a.rr = dict(doc["rr"])
        for row in doc["assignments"]:
            asg = Assignment(a, row[0], row[1], row[2], row[3], row[4], row[5])
            asg.connected_at, asg.closes = row[6], row[7]
            a.assignments[asg.contact_id] = asg
    engine.rebuild_indexes()
    entries = []
    for row in state["timers"]:
        if len(row) == 5:
            rec: Any = engine.contacts[row[4]]
        else:
            rec = engine.agents[row[4]].assignments[row[5]]
        entries.append((row[0], row[1], row[2], row[3], rec))
    engine.timers.load(entries, state["timer_seq"])
    return engine


def _seq_of(row: list[Any]) -> int:
    return int(row[1])


def _dump_agent(a: AgentState) -> dict[str, Any]:
    return {
        "id": a.id,
        **{f: getattr(a, f) for f in _AGENT_FIELDS},
        "assignments": [[getattr(x, f) for f in _ASSIGNMENT_FIELDS] for x in a.assignments.values()],
    }


def _dump_contact(c: ContactState, reqs: dict[Requirement, int]) -> list[Any]:
    return [
        *[getattr(c, f) for f in _CONTACT_FIELDS],
        reqs.setdefault(c.base_req, len(reqs)),
        reqs.setdefault(c.extra, len(reqs)),
        sorted(c.declined) if c.declined is not None else None,
    ]


def _requirement(rows: list[list[Any]]) -> Requirement:
    return tuple((str(s), int(level)) for s, level in rows)
