"""What would a candidate configuration have done with recorded traffic?

Sans-I/O: recorded steps (commands with their wall time, configurations)
in, a side-by-side report out. ``acd replay --config`` reads a journal and
prints it.

The model (docs/configuration.md states it for operators):

* **Demand** comes from the recording: every contact arrives when it did,
  with its queue, channel, priority, skills and attributes, and keeps its
  **patience**: a contact that abandoned after waiting P seconds abandons
  under the candidate too if it is still waiting (or ringing) P seconds
  after its arrival. An answered contact's patience is only known to exceed
  its wait: it is drawn from the patience of those who abandoned in the same
  queue and channel, above that wait (at a point fixed by its id, so every
  run draws the same); when none waited longer, it waits as long as it takes.
* **Supply** comes from the recording: agents log in and out, go away and
  come back, and their phones come and go when they did; queues open and
  close when they did. An agent the candidate adds (absent from the
  recording) is logged in and available from the start.
* **Handling** comes from the recording, per contact: the agent who is
  offered it answers after the ring time the recording shows for it (a
  second more than it rang when the customer hung up while it rang; the
  median of all when it was never offered), talks for the time it was
  connected (the median of its queue and channel when it was never
  answered; past the end when it was still talking there), and ends
  wrap-up when the recording's agent did (else the queue's ``wrapup_s``
  ends it). Agents never reject; transfers are not replayed.

Both runs are summarised the same way, per queue and channel (the queue a
contact ended in, its channel at arrival), over the contacts that arrived
in the window: offered, answered, abandoned, left (overflowed out of the
ACD, turned away), service level (answered within the queue's
``service_level_s`` / (answered + abandoned)), average and 90th percentile
wait of answered contacts, average handle time (talk + wrap-up); and the
agents' occupancy (time holding a contact / time staffed).
"""

from __future__ import annotations

import heapq
import math
import zlib
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from acd import commands as c
from acd import events as ev
from acd import snapshot
from acd.engine import Engine
from acd.errors import AcdError
from acd.settings import RoutingConfig
from acd.states import AWAY, CONNECTED, ENDED, LOGGED_OUT, OFFERED, QUEUED

SUPPLY = (c.Login, c.Logout, c.SetAway, c.SetAvailable, c.DeviceState, c.SetQueueOpen)
DEFAULT_TALK_S = 180.0  # when the recording answered nothing at all
DEFAULT_RING_S = 5.0

# A recorded step: ("cmd", command, wall time) or ("config", routing, engine time)
Step = tuple[str, Any, float]


@dataclass
class Facts:
    """What the recording says, independent of routing."""

    script: list[c.Command] = field(default_factory=list)  # arrivals and supply, in order
    wall: dict[str, float] = field(default_factory=dict)  # contact -> wall time of its arrival
    arrived: dict[str, float] = field(default_factory=dict)  # contact -> engine time of its arrival
    patience: dict[str, float] = field(default_factory=dict)  # contact -> seconds before it abandoned
    ring: dict[str, float] = field(default_factory=dict)  # contact -> offer to answer, seconds
    talk: dict[str, float] = field(default_factory=dict)  # contact -> seconds connected, all agents
    wrap: dict[str, float] = field(default_factory=dict)  # contact -> seconds of wrap-up its agent ended
    start: float = 0.0  # engine time of the first step
    end: float = 0.0  # engine time of the last
    staffed: set[str] = field(default_factory=set)  # agents the recording logs in
    # Absolute times, for the contacts already open where the recording starts (a snapshot):
    abandon_at: dict[str, float] = field(default_factory=dict)
    ended_at: dict[str, float] = field(default_factory=dict)
    wrap_end_at: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    """One run's outcome: its events, and the agents' time at its end."""

    events: list[ev.Event] = field(default_factory=list)
    applied: list[c.Command] = field(default_factory=list)  # every command the engine took, in order
    refused: dict[str, int] = field(default_factory=dict)  # recorded command type -> refusals
    occupancy: tuple[float, float] = (0.0, 0.0)  # (seconds holding a contact, seconds staffed), all agents

    def apply(self, engine: Engine, cmd: c.Command, count: bool = True) -> list[ev.Event]:
        """Hand ``cmd`` to the engine; its events (those of timers due before
        a refusal too) are kept and returned; a refusal is counted by
        command type when ``count``."""
        try:
            out = engine.handle(cmd)
            self.applied.append(cmd)
        except AcdError:
            out = engine.drain()
            if count:
                name = type(cmd).__name__
                self.refused[name] = self.refused.get(name, 0) + 1
        self.events += out
        return out


def record(
    steps: Iterable[Step], config: RoutingConfig, start: float, base: dict[str, Any] | None = None
) -> tuple[Run, Facts]:
    """Replay the recording through the engine under its own
    configurations (from ``base``, a snapshot's engine state, when the
    journal before it is gone): its outcome, and the facts the model keeps.
    O(steps)."""
    engine = snapshot.load(config, base) if base is not None else Engine(config, now=start)
    run, facts = Run(), Facts(start=engine.now, end=engine.now)
    offered: dict[str, float] = {}
    ended: dict[str, float] = {}
    answered_wait: dict[str, float] = {}
    for kind, item, stamp in steps:
        if kind == "config":
            run.events += engine.reconfigure(item, stamp)
            continue
        cmd = item
        facts.end = max(facts.end, cmd.now)
        if isinstance(cmd, c.NewContact):
            facts.script.append(cmd)
            facts.wall[cmd.contact_id] = stamp
            facts.arrived[cmd.contact_id] = cmd.now
        elif isinstance(cmd, SUPPLY):
            facts.script.append(cmd)
            if isinstance(cmd, c.Login):
                facts.staffed.add(cmd.agent_id)
        elif isinstance(cmd, c.Abandon):
            facts.abandon_at[cmd.contact_id] = cmd.now
            if cmd.contact_id in facts.arrived:
                facts.patience[cmd.contact_id] = cmd.now - facts.arrived[cmd.contact_id]
        elif isinstance(cmd, c.Accept) and cmd.contact_id in offered:
            facts.ring[cmd.contact_id] = max(0.0, cmd.now - cmd.answered_ago - offered[cmd.contact_id])
        elif isinstance(cmd, c.EndWrapUp):
            facts.wrap_end_at[cmd.contact_id] = cmd.now
            if cmd.contact_id in ended:
                facts.wrap[cmd.contact_id] = cmd.now - ended[cmd.contact_id]
        out = run.apply(engine, cmd)
        for e in out:
            if isinstance(e, ev.ContactOffered):
                offered[e.contact_id] = e.at
            elif isinstance(e, ev.ContactConnected):
                answered_wait.setdefault(e.contact_id, e.at - facts.arrived.get(e.contact_id, e.at))
            elif isinstance(e, ev.ContactAbandoned) and e.while_offered and e.contact_id in offered:
                # its agent had not answered when it hung up: slower than that
                facts.ring.setdefault(e.contact_id, e.at - offered[e.contact_id] + 1.0)
            elif isinstance(e, ev.ContactEnded):
                ended[e.contact_id] = facts.ended_at[e.contact_id] = e.at
                facts.talk[e.contact_id] = facts.talk.get(e.contact_id, 0.0) + e.handle_s
    _censored_patience(facts, answered_wait)
    # Still talking, or still ringing, when the recording ends: longer than that.
    for x in engine.contacts.values():
        if x.state == CONNECTED and x.id not in facts.talk:
            facts.talk[x.id] = math.inf
        elif x.state == OFFERED and x.id in offered:
            facts.ring.setdefault(x.id, facts.end - offered[x.id] + 1.0)
    run.occupancy = _occupancy(engine, facts.end)
    return run, facts


def _censored_patience(facts: Facts, answered_wait: dict[str, float]) -> None:
    """An answered customer's patience is not on record, only that it
    exceeded the wait it had. Draw it from the patience of the customers
    who abandoned in the same queue and channel, among the values above
    that wait, at a point fixed by the contact's id (the same every run);
    none above: it would have waited as long as it took. O(n log n)."""
    by_kind: dict[tuple[str, str], list[float]] = {}
    kind_of: dict[str, tuple[str, str]] = {}
    for x in facts.script:
        if isinstance(x, c.NewContact):
            kind_of[x.contact_id] = (x.queue, x.channel or "")
    for cid, p in facts.patience.items():
        if cid in kind_of:
            by_kind.setdefault(kind_of[cid], []).append(p)
    for values in by_kind.values():
        values.sort()
    for cid, wait in answered_wait.items():
        values = by_kind.get(kind_of.get(cid, ("", "")), [])
        above = len(values) - bisect_right(values, wait)
        if above and cid not in facts.patience:
            u = zlib.crc32(cid.encode()) / 2**32
            facts.patience[cid] = values[len(values) - above + int(u * above)]


def simulate(
    config: RoutingConfig, facts: Facts, base: tuple[RoutingConfig, dict[str, Any]] | None = None
) -> Run:
    """The recorded demand and supply under ``config``, handled as the
    recording handled each contact, up to the recording's end. With
    ``base`` (the recording's configuration and a snapshot's engine state),
    the candidate starts from that state, reconfigured: the contacts open
    there end, abandon or finish wrap-up when the recording says. O((steps
    + contacts) log contacts) engine commands."""
    run = Run()
    if base is not None:
        engine = snapshot.load(base[0], base[1])
        run.events += engine.reconfigure(config, facts.start)
    else:
        engine = Engine(config, now=facts.start)
    rings = [x for x in facts.ring.values() if x < math.inf]
    ring_default = median(rings) if rings else DEFAULT_RING_S
    talk_by: dict[tuple[str, str], list[float]] = {}
    arrivals = {x.contact_id: x for x in facts.script if isinstance(x, c.NewContact)}
    for cid, t in facts.talk.items():
        a = arrivals.get(cid)
        if a is not None and t < math.inf:
            talk_by.setdefault((a.queue, a.channel or ""), []).append(t)
    talk_default = {k: median(v) for k, v in talk_by.items()}
    talks = [x for x in facts.talk.values() if x < math.inf]
    overall = median(talks) if talks else DEFAULT_TALK_S
    todo: list[tuple[float, int, c.Command]] = []  # the model's own commands, by time
    seq = 0

    def later(at: float, cmd: c.Command) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(todo, (at, seq, cmd))

    def apply(cmd: c.Command, recorded: bool) -> None:
        # the model's own refusals (an answer after the offer expired) are not counted
        out = run.apply(engine, cmd, count=recorded)
        for e in out:
            if isinstance(e, ev.ContactOffered):
                ring = facts.ring.get(e.contact_id, ring_default)
                later(e.at + ring, c.Accept(e.at + ring, e.agent_id, e.contact_id))
            elif isinstance(e, ev.ContactConnected):
                a = arrivals.get(e.contact_id)
                key = (a.queue, a.channel or "") if a is not None else ("", "")
                talk = facts.talk.get(e.contact_id, talk_default.get(key, overall))
                later(e.at + talk, c.EndContact(e.at + talk, e.agent_id, e.contact_id))
            elif isinstance(e, ev.ContactEnded) and e.contact_id in facts.wrap:
                at = e.at + facts.wrap[e.contact_id]
                later(at, c.EndWrapUp(at, e.agent_id, e.contact_id))

    for x in list(engine.contacts.values()):  # open where the recording starts
        agent = x.agent_id or ""
        if x.state == CONNECTED and x.id in facts.ended_at:
            later(facts.ended_at[x.id], c.EndContact(facts.ended_at[x.id], agent, x.id))
        elif x.state in (QUEUED, OFFERED) and x.id in facts.abandon_at:
            later(facts.abandon_at[x.id], c.Abandon(facts.abandon_at[x.id], x.id))
        elif x.state == ENDED and x.id in facts.wrap_end_at:
            later(facts.wrap_end_at[x.id], c.EndWrapUp(facts.wrap_end_at[x.id], agent, x.id))
    for spec in config.agents:  # added by the candidate: staffed throughout
        if spec.id not in facts.staffed:
            apply(c.Login(facts.start, spec.id), False)
    script = iter(facts.script)
    nxt = next(script, None)
    while True:
        t_model = todo[0][0] if todo else math.inf
        t_script = nxt.now if nxt is not None else math.inf
        first = min(t_model, t_script)
        deadline = engine.next_deadline()
        if deadline is not None and deadline < first and deadline <= facts.end:
            apply(c.Tick(deadline), False)  # timers fire on time: the model reacts at their instant
            continue
        if first > facts.end:
            break
        recorded = t_script <= t_model
        if recorded:
            assert nxt is not None
            cmd, nxt = nxt, next(script, None)
            if isinstance(cmd, c.NewContact) and cmd.contact_id in facts.patience:
                at = cmd.now + facts.patience[cmd.contact_id]
                later(at, c.Abandon(at, cmd.contact_id))
        else:
            cmd = heapq.heappop(todo)[2]
            if isinstance(cmd, c.Abandon):
                waiting = engine.contacts.get(cmd.contact_id)
                if waiting is None or waiting.state not in (QUEUED, OFFERED):
                    continue  # answered (or gone) before its patience ran out
        apply(cmd, recorded)
    apply(c.Tick(facts.end), False)
    run.occupancy = _occupancy(engine, facts.end)
    return run


def _occupancy(engine: Engine, now: float) -> tuple[float, float]:
    """(busy, staffed) seconds of every agent up to ``now``, as the agent
    statistics count them. O(agents)."""
    busy = staffed = 0.0
    for a in engine.agents.values():
        mine = a.logged_in_s - a.away_s
        if a.status not in (LOGGED_OUT, AWAY):
            mine += now - a.status_since
        held = a.busy_s + (now - a.busy_since if a.busy_since is not None else 0.0)
        busy += min(held, mine)  # finishing a contact after going away or out is not staffed time
        staffed += mine
    return busy, staffed


@dataclass
class _Outcome:
    queue: str
    channel: str
    wall: float
    answered_wait: float | None = None
    abandoned: bool = False
    left: bool = False
    talk: float = 0.0
    wrap: float = 0.0


def outcomes(run: Run, facts: Facts) -> dict[str, _Outcome]:
    """Each arrived contact's outcome in ``run``. O(events)."""
    out: dict[str, _Outcome] = {}
    ended_at: dict[str, float] = {}
    for e in run.events:
        if isinstance(e, ev.ContactQueued):
            o = out.get(e.contact_id)
            if o is None and e.contact_id in facts.wall:
                out[e.contact_id] = _Outcome(e.queue, e.channel, facts.wall[e.contact_id])
            elif o is not None:
                o.queue = e.queue
            continue
        o = out.get(getattr(e, "contact_id", ""))
        if o is None:
            continue
        if isinstance(e, ev.ContactConnected):
            o.queue = e.queue
            if o.answered_wait is None:
                o.answered_wait = e.waited_s
        elif isinstance(e, ev.ContactAbandoned):
            o.queue, o.abandoned = e.queue, True
        elif isinstance(e, ev.ContactOverflowed) and e.to_queue is None:
            o.queue, o.left = e.queue, True
        elif isinstance(e, ev.ContactEnded):
            o.talk += e.handle_s
            ended_at[e.contact_id] = e.at
        elif isinstance(e, ev.WrapUpEnded) and e.contact_id in ended_at:
            o.wrap += e.at - ended_at[e.contact_id]
    return out


def summarise(
    run: Run,
    facts: Facts,
    config: RoutingConfig,
    since: float = -math.inf,
    until: float = math.inf,
    interval_s: float | None = None,
) -> dict[str, Any]:
    """Per queue and channel (and per interval of arrival wall time when
    ``interval_s``), over contacts that arrived in [since, until)."""
    sl = {q.name: q.service_level_s for q in config.queues}
    groups: dict[tuple[float | None, str, str], list[_Outcome]] = {}
    for o in outcomes(run, facts).values():
        if not since <= o.wall < until:
            continue
        slot = math.floor(o.wall / interval_s) * interval_s if interval_s else None
        groups.setdefault((slot, o.queue, o.channel), []).append(o)
    rows = []
    for (slot, queue, channel), items in sorted(groups.items(), key=lambda kv: (kv[0][0] or 0.0, *kv[0][1:])):
        waits = sorted(o.answered_wait for o in items if o.answered_wait is not None)
        handled = [o for o in items if o.answered_wait is not None and o.talk > 0]
        abandoned = sum(1 for o in items if o.abandoned)
        within = sum(1 for w in waits if w <= sl.get(queue, 20.0))
        finished = len(waits) + abandoned
        row: dict[str, Any] = {"queue": queue, "channel": channel}
        if slot is not None:
            row["interval_start"] = slot
        row.update(
            offered=len(items),
            answered=len(waits),
            abandoned=abandoned,
            left=sum(1 for o in items if o.left),
            service_level_pct=round(100.0 * within / finished, 1) if finished else None,
            wait_avg_s=round(sum(waits) / len(waits), 1) if waits else None,
            wait_p90_s=round(waits[math.ceil(0.9 * len(waits)) - 1], 1) if waits else None,
            aht_s=round(sum(o.talk + o.wrap for o in handled) / len(handled), 1) if handled else None,
        )
        rows.append(row)
    busy, staffed = run.occupancy
    return {
        "rows": rows,
        "occupancy_pct": round(100.0 * busy / staffed, 1) if staffed > 0 else None,
        "refused": run.refused,
    }
