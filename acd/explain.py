"""Why is this contact still waiting? Answers in data and in one sentence.

Queries, not decisions: these walk one routing class's eligible agents (and,
when nobody is eligible, the queue's members), never the whole centre.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from acd.records import AgentState, ContactState
from acd.settings import QueueSpec
from acd.skills import Requirement, describe
from acd.states import AVAILABLE, AWAY, NOT_RESPONDING, QUEUED


@dataclass(frozen=True, slots=True)
class Explanation:
    contact_id: str
    state: str
    queue: str
    step: int
    requirement: str
    waited_s: float
    position: int | None
    next_step_in_s: float | None
    held_for: str | None
    eligible: dict[str, int]
    message: str


def _tally(agents: Iterable[AgentState], channel: str) -> dict[str, int]:
    out = {"free": 0, "busy": 0, "away": 0, "not-responding": 0, "logged-out": 0}
    for a in agents:
        if a.status == AVAILABLE:
            out["free" if channel in a.avail else "busy"] += 1
        elif a.status == AWAY:
            out["away"] += 1
        elif a.status == NOT_RESPONDING:
            out["not-responding"] += 1
        else:
            out["logged-out"] += 1
    return out


def _blocker(req: Requirement, members: list[AgentState], queue: str, channel: str) -> str:
    """Name the requirement nobody meets (the first one, in skill order)."""
    can = [a for a in members if channel in a.profile.cost]
    if not can:
        return f"no agent serving {queue!r} can take {channel!r} contacts"
    for skill, level in req:
        have = sum(1 for a in can if a.spec.skills.get(skill, 0) >= level)
        if have == 0:
            lower = sum(1 for a in can if 0 < a.spec.skills.get(skill, 0) < level)
            tail = f" ({lower} have it at a lower level)" if lower else ""
            return f"no agent serving {queue!r} has skill {skill!r} at level >= {level}{tail}"
    return f"no single agent serving {queue!r} has all of {describe(req)}"


def explain(
    c: ContactState,
    spec: QueueSpec,
    eligible: list[AgentState] | None,
    members: list[AgentState],
    req: Requirement,
    agents: Mapping[str, AgentState],
    now: float,
) -> Explanation:
    waited = max(0.0, now - c.entered)
    next_step = None
    if c.step < len(spec.escalation):
        next_step = max(0.0, c.entered + spec.escalation[c.step].after - now)
    position = None
    if c.state == QUEUED and c.cls is not None and c.class_key:
        position = c.cls.position(c)
    held = c.hold_agent if c.hold_key else None
    tally = _tally(eligible or (), c.channel)
    if c.state != QUEUED:
        who = f" with {c.agent_id}" if c.agent_id else ""
        msg = f"not waiting: {c.state}{who}"
    elif held is not None:
        h = agents.get(held)
        state = h.presence if h is not None else "unknown"
        msg = f"held for preferred agent {held!r} ({state})"
    elif not eligible:
        msg = _blocker(req, members, c.queue, c.channel)
    else:
        parts = [f"{n} {k}" for k, n in tally.items() if n and k != "free"]
        if tally["free"]:
            parts.insert(0, f"{tally['free']} free but declined this contact")
        msg = f"no agent with {describe(req)} is free: " + ", ".join(parts)
    if c.state == QUEUED and next_step is not None:
        msg += f"; requirements relax (step {c.step + 1}) in {next_step:.0f} s"
    return Explanation(
        contact_id=c.id,
        state=c.state,
        queue=c.queue,
        step=c.step,
        requirement=describe(req),
        waited_s=waited,
        position=position,
        next_step_in_s=next_step,
        held_for=held,
        eligible={k: v for k, v in tally.items() if v},
        message=msg,
    )
