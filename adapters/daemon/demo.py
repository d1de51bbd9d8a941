"""A simulated small centre routed by the real engine, printed as it happens.

The simulation (customers arriving, agents answering, chatting, hanging up,
going for coffee) is a seeded random script; every routing decision is the
engine's, with its explanation. Simulated time, so it runs in a second unless
``speed`` asks for real-time pacing.
"""

from __future__ import annotations

import heapq
import random
import time
from dataclasses import replace
from typing import TextIO

from acd import Engine, default_config
from acd import commands as c
from acd import events as ev
from acd.errors import InvalidRequest


def _line(e: ev.Event) -> str | None:
    if isinstance(e, ev.ContactQueued):
        return f"{e.contact_id} queued in {e.queue} ({e.channel}, priority {e.priority}, {e.reason})"
    if isinstance(e, ev.ContactOffered):
        d = e.decision
        ru = f"; runner-up {d.runner_up} ({d.runner_up_score})" if d.runner_up else ""
        return (
            f"{e.contact_id} -> {e.agent_id}  [{d.strategy}: {d.score}; step {d.step} "
            f"needs {d.requirement}{ru}]"
        )
    if isinstance(e, ev.ContactConnected):
        return f"{e.agent_id} answered {e.contact_id} after {e.waited_s:.0f}s"
    if isinstance(e, ev.OfferEnded):
        return f"offer of {e.contact_id} to {e.agent_id} ended: {e.reason}"
    if isinstance(e, ev.ContactEscalated):
        return f"{e.contact_id} escalated to step {e.step}: now needs {e.requirement}"
    if isinstance(e, ev.ContactAbandoned):
        return f"{e.contact_id} abandoned after {e.waited_s:.0f}s"
    if isinstance(e, ev.ContactTransferred):
        return f"{e.contact_id} transferred {e.from_queue} -> {e.to_queue}"
    if isinstance(e, ev.AgentPresenceChanged):
        why = f" ({e.reason})" if e.reason else ""
        return f"{e.agent_id}: {e.previous} -> {e.presence}{why}"
    if isinstance(e, ev.ContactCompleted):
        return f"{e.contact_id} completed"
    return None


def run_demo(seed: int, minutes: float, speed: float, out: TextIO) -> int:
    rnd = random.Random(seed)
    engine = Engine(default_config())
    plan: list[tuple[float, int, c.Command]] = []
    n = 0

    def at(t: float, cmd_factory: c.Command) -> None:
        nonlocal n
        n += 1
        heapq.heappush(plan, (t, n, cmd_factory))

    for i, agent in enumerate(engine.agents):
        at(1.0 + i, c.Login(1.0 + i, agent))
    t = 5.0
    k = 0
    end = minutes * 60
    while t < end:
        k += 1
        queue = rnd.choice(["sales", "support"])
        channel = rnd.choice(engine.queues[queue].channels)
        prio = 5 if rnd.random() < 0.1 else 0
        at(t, c.NewContact(t, f"{channel}-{k}", queue, channel, f"cust-{k}", prio))
        if rnd.random() < 0.15:
            at(t + rnd.uniform(10, 90), c.Abandon(0, f"{channel}-{k}"))
        t += rnd.expovariate(1 / 12)
    at(end / 2, c.SetAway(end / 2, "bob", "coffee"))
    at(end / 2 + 120, c.SetAvailable(end / 2 + 120, "bob"))
    start = time.monotonic()
    while plan:
        when, _, cmd = heapq.heappop(plan)
        if speed > 0:
            delay = start + when / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        cmd = replace(cmd, now=when)  # compiled commands have no __slots__ to copy from
        try:
            events = engine.handle(cmd)
        except InvalidRequest:
            continue  # the simulation's abandon of an already-finished contact
        for e in events:
            line = _line(e)
            if line:
                out.write(f"[{e.at:7.1f}s] {line}\n")
            # The simulated people react to what the engine decided.
            if isinstance(e, ev.ContactOffered):
                if rnd.random() < 0.05:
                    continue  # nobody picks up: RONA
                at(e.at + rnd.uniform(1, 6), c.Accept(0, e.agent_id, e.contact_id))
            elif isinstance(e, ev.ContactConnected):
                talk = rnd.uniform(30, 180)
                at(e.at + talk, c.EndContact(0, e.agent_id, e.contact_id))
            elif isinstance(e, ev.AgentPresenceChanged) and e.presence == "not-responding":
                at(e.at + 30, c.SetAvailable(0, e.agent_id))
        next_at = engine.next_deadline()
        if next_at is not None and (not plan or next_at < plan[0][0]):
            at(next_at, c.Tick(next_at))
    out.write("\nqueue         waiting answered abandoned  SL%   ASA   AHT\n")
    for name in engine.queues:
        s = engine.queue_stats(name)
        sl = f"{s.service_level_pct:5.1f}" if s.service_level_pct is not None else "    -"
        asa = f"{s.asa_s:5.1f}" if s.asa_s is not None else "    -"
        aht = f"{s.aht_s:5.1f}" if s.aht_s is not None else "    -"
        out.write(f"{name:12} {s.waiting:8} {s.answered:8} {s.abandoned:9} {sl} {asa} {aht}\n")
    for agent_id in engine.agents:
        a = engine.agent_stats(agent_id)
        occ = f"{a.occupancy_pct:.0f}%" if a.occupancy_pct is not None else "-"
        out.write(f"agent {agent_id:8} handled {a.handled:3}  occupancy {occ}\n")
    return 0
