#!/usr/bin/env python3
"""Dispatch benchmark: the engine against a naive scanning dispatcher.

World (full size): 10,000 agents; 200 skills, 2-8 per agent (Zipf, levels
1-5); 100 queues needing 1-3 skills at a minimum level, relaxing at 30 s
(level >= 1) and 60 s (any member); 5% of contacts also need one of 5 rare
skills held by under 1% of agents; 5 priority levels; 60% blended agents, 40%
chat-only; 100,000 contacts waiting. Then:

* login storm: every agent logs in against the backlog (drain time);
* firehose: agents accept and finish contacts, new contacts arrive, some
  abandon, presence churns, time advances (escalations fire); every offer is
  checked for skill, capacity and double-offer violations (outside the timer);
* scaling: per-decision cost at 1k/10k/100k waiting and 1k/10k/50k agents,
  with the log-log slope of each; the sizes of an axis run side by side in
  turns, so the VM's drift in speed does not skew the slope;
* naive baseline, same process, same workload: scan every waiting contact per
  decision; timed over fewer decisions.

The last line printed is one JSON object. ``--quick`` runs in under 30 s.
A decision is one offer; its latency is the engine time of the command that
made it divided by the offers that command made; ``decisions_per_s`` is
1 / the mean of that. ``offers_per_engine_s`` is the all-in figure: every
command of the firehose (accepts, arrivals, abandons, presence churn,
escalation timers) over the offers made. The scaling table and the naive
comparison use the all-in cost per offer, the conservative one.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import random
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acd import CORE_BUILD
from acd import commands as c
from acd import events as ev
from acd.adapters.daemon.runtime import tune_gc
from acd.capacity import Load, can_take
from acd.engine import Engine
from acd.settings import (
    DEFAULT_CHANNELS,
    DEFAULT_PROFILES,
    AgentSpec,
    EscalationStep,
    QueueSpec,
    RoutingConfig,
)
from acd.skills import Requirement, meets, relax

N_SKILLS = 200
RARE = tuple(f"s{i}" for i in range(N_SKILLS - 5, N_SKILLS))  # held by < 1% of agents
COMMON = tuple(f"s{i}" for i in range(N_SKILLS - 5))
ARRIVALS_PER_S = 100.0  # one completion and one arrival per firehose step
STEPS = (EscalationStep(30, accept_level=1), EscalationStep(60, any_member=True))


def zipf_pick(rnd: random.Random, items: tuple[str, ...], weights: list[float]) -> str:
    return rnd.choices(items, weights)[0]


@dataclass
class World:
    config: RoutingConfig
    queues: list[str]
    rnd: random.Random


def build_world(n_agents: int, seed: int) -> World:
    rnd = random.Random(seed)
    zipf = [1.0 / (i + 1) for i in range(len(COMMON))]
    queues: list[QueueSpec] = []
    for i in range(100):
        req: dict[str, int] = {}
        for _ in range(rnd.randint(1, 3)):
            req[zipf_pick(rnd, COMMON, zipf)] = rnd.randint(1, 3)
        strategy = "longest-idle" if i % 4 else "least-occupied"
        queues.append(
            QueueSpec(
                f"q{i}",
                ("voice", "chat"),
                req,
                weight=rnd.randint(0, 2),
                strategy=strategy,
                offer_timeout_s=30,
                wrapup_s=0,
                escalation=STEPS,
            )
        )
    primary: dict[str, list[str]] = {}
    for q in queues:
        primary.setdefault(next(iter(q.skills)), []).append(q.name)
    agents: list[AgentSpec] = []
    rare_holders = max(1, n_agents // 200)  # 0.5% of agents per rare skill
    for i in range(n_agents):
        skills = {zipf_pick(rnd, COMMON, zipf): rnd.randint(1, 5) for _ in range(rnd.randint(2, 8))}
        for r in RARE:
            if i % (n_agents // rare_holders) == RARE.index(r):
                skills[r] = rnd.randint(1, 5)
        served = [q for s in skills for q in primary.get(s, [])][:8] or [rnd.choice(queues).name]
        profile = "blended" if rnd.random() < 0.6 else "chat"
        agents.append(AgentSpec(f"a{i}", "", skills, profile, {q: rnd.randint(1, 3) for q in served}))
    cfg = RoutingConfig(DEFAULT_CHANNELS, DEFAULT_PROFILES, COMMON + RARE, tuple(queues), tuple(agents))
    return World(cfg.validate(), [q.name for q in queues], rnd)


class Driver:
    """Feeds an engine a contact-centre workload and checks every offer."""

    def __init__(self, world: World, engine: Engine) -> None:
        self.w = world
        self.e = engine
        self.rnd = world.rnd
        self.now = 0.0
        self.n = 0
        self.offered: set[str] = set()  # contacts with a live offer
        self.connected: list[tuple[str, str]] = []  # (agent, contact)
        self.pending_accept: list[tuple[str, str]] = []
        self.away: list[str] = []
        self.violations = {"skill": 0, "capacity": 0, "double_offer": 0}
        self.latencies: list[float] = []  # seconds per decision
        self.engine_time = 0.0  # every command
        self.deciding_time = 0.0  # commands that made at least one offer
        self.decisions = 0
        self.commands = 0

    def new_contact_cmd(self) -> c.NewContact:
        self.n += 1
        rnd = self.rnd
        extra: tuple[tuple[str, int], ...] = ((rnd.choice(RARE), 1),) if rnd.random() < 0.05 else ()
        return c.NewContact(
            self.now,
            f"k{self.n}",
            rnd.choice(self.w.queues),
            "voice" if rnd.random() < 0.5 else "chat",
            f"cust{self.n}",
            rnd.randint(0, 4),
            extra,
        )

    def send(self, cmd: c.Command, timed: bool = True) -> list[ev.Event]:
        t0 = time.perf_counter()
        out = self.e.handle(cmd)
        dt = time.perf_counter() - t0
        self.commands += 1
        offers = 0
        for x in out:
            if isinstance(x, ev.ContactOffered):
                offers += 1
                self.check(x)
                self.pending_accept.append((x.agent_id, x.contact_id))
            elif isinstance(x, ev.OfferEnded):
                self.offered.discard(x.contact_id)
        if timed:
            self.engine_time += dt
            self.decisions += offers
            if offers:
                self.deciding_time += dt
                per = dt / offers
                self.latencies.extend([per] * offers)
        return out

    def check(self, x: ev.ContactOffered) -> None:
        if x.contact_id in self.offered:
            self.violations["double_offer"] += 1
        self.offered.add(x.contact_id)
        a = self.e.agents[x.agent_id]
        if a.load.used > a.profile.capacity or any(
            n > a.profile.maximum[ch] for ch, n in a.load.counts.items()
        ):
            self.violations["capacity"] += 1
        k = self.e.contacts[x.contact_id]
        spec = self.e.queues[k.queue]
        req = relax(k.base_req, spec.escalation, x.decision.step).req
        if not meets(a.spec.skills, req):
            self.violations["skill"] += 1

    def fill(self, n: int) -> None:
        """A backlog as a steady state builds it: arrivals at the firehose's
        rate (ARRIVALS_PER_S), so ages and escalations are spread as in real
        life rather than all at one instant."""
        over_s = n / ARRIVALS_PER_S
        for _ in range(n):
            self.now += over_s / n
            self.send(self.new_contact_cmd(), timed=False)

    def login_all(self) -> float:
        t0 = time.perf_counter()
        for aid in self.e.agents:
            self.send(c.Login(self.now, aid), timed=False)
        return time.perf_counter() - t0

    def firehose(self, decisions: int) -> None:
        """Run until the engine has made ``decisions`` more offers."""
        rnd = self.rnd
        target = self.decisions + decisions
        while self.decisions < target:
            self.now += 1 / ARRIVALS_PER_S
            # As the daemon does: due timers fire in their own Tick.
            due = self.e.next_deadline()
            if due is not None and due <= self.now:
                self.send(c.Tick(self.now))
            # Agents answer what they were offered.
            while self.pending_accept:
                aid, cid = self.pending_accept.pop()
                if cid in self.e.contacts and cid in self.offered:
                    self.send(c.Accept(self.now, aid, cid))
                    self.offered.discard(cid)
                    self.connected.append((aid, cid))
            r = rnd.random()
            if r < 0.02 and len(self.away) < 50:
                aid = f"a{rnd.randrange(len(self.e.agents))}"
                if self.e.agents[aid].status == "available":
                    self.send(c.SetAway(self.now, aid, "break"))
                    self.away.append(aid)
            elif r < 0.04 and self.away:
                self.send(c.SetAvailable(self.now, self.away.pop(0)))
            elif r < 0.06:
                cid = f"k{rnd.randint(max(1, self.n - 50_000), self.n)}"
                k = self.e.contacts.get(cid)
                if k is not None and k.state == "queued":
                    self.send(c.Abandon(self.now, cid))
                    self.send(self.new_contact_cmd())
            if self.connected:
                i = rnd.randrange(len(self.connected))
                self.connected[i], self.connected[-1] = self.connected[-1], self.connected[i]
                aid, cid = self.connected.pop()
                self.send(c.EndContact(self.now, aid, cid))
                self.send(self.new_contact_cmd())
            else:
                self.send(c.Tick(self.now))


def release() -> None:
    """Free a finished world: it was frozen by tune_gc and is full of cycles
    (agents and classes point at each other)."""
    gc.unfreeze()
    gc.collect()


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def warmed_up(n_agents: int, waiting: int, decisions: int, seed: int) -> tuple[Driver, float]:
    """Build, fill, log everyone in, warm up. Returns the driver (its
    counters reset) and the login-storm drain time."""
    world = build_world(n_agents, seed)
    d = Driver(world, Engine(world.config))
    tune_gc()  # as the daemon does once its engine is built, before traffic
    # Enough contacts that every agent fills up and `waiting` still wait.
    d.fill(waiting + 4 * n_agents)
    storm = d.login_all()
    d.firehose(min(2000, decisions // 5))  # warm up
    d.engine_time, d.deciding_time, d.decisions, d.latencies = 0.0, 0.0, 0, []
    return d, storm


def steady_state(n_agents: int, waiting: int, decisions: int, seed: int) -> tuple[Driver, float, float]:
    """warmed_up, then firehose. Returns the driver, the login-storm drain
    time, and mean seconds per decision (all-in) in steady state."""
    d, storm = warmed_up(n_agents, waiting, decisions, seed)
    d.firehose(decisions)
    return d, storm, d.engine_time / max(1, d.decisions)


def scaling(
    sizes: list[tuple[int, int]], decisions: int, seed: int, slices: int = 10
) -> list[tuple[float, Driver]]:
    """All-in seconds per decision at each (agents, waiting) size, measured
    side by side: every world is built first, then their firehoses take
    turns in ``slices`` slices, the order rotating, so a drift of the VM's
    speed (up to 1.6x between hours here) lands on every size alike instead
    of skewing the slope."""
    drivers = [warmed_up(n, w, decisions, seed)[0] for n, w in sizes]
    for i in range(slices):
        k = i % len(drivers)
        for d in drivers[k:] + drivers[:k]:
            d.firehose(decisions // slices)
    return [(d.engine_time / max(1, d.decisions), d) for d in drivers]


class NaiveDispatcher:
    """The yardstick: per decision, scan every waiting contact (agent frees up)
    or every agent (contact arrives). Same rules: ranks, priority, FIFO,
    relaxation by wait, capacity."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        # Snapshot of the engine's waiting contacts: [queue, channel, prio, entered, line, id, base]
        self.waiting: list[tuple[str, str, int, float, int, str, Requirement]] = [
            (k.queue, k.channel, k.priority, k.entered, k.line, k.id, k.base_req)
            for k in engine.contacts.values()
            if k.state == "queued"
        ]

    def pick_for_agent(self, aid: str, now: float) -> str | None:
        """O(waiting): scan everything, for an agent that has just freed up."""
        a = self.e.agents[aid]
        free = Load()
        best_key = None
        best_i = -1
        queues = a.spec.queues
        for i, (qn, ch, prio, entered, line, _cid, base) in enumerate(self.waiting):
            r = queues.get(qn)
            if r is None or not can_take(a.profile, free, ch):
                continue
            spec = self.e.queues[qn]
            waited = now - entered
            step = sum(1 for s in spec.escalation if s.after <= waited)
            if not meets(a.spec.skills, relax(base, spec.escalation, step).req):
                continue
            key = (r, -spec.weight, -prio, line)
            if best_key is None or key < best_key:
                best_key, best_i = key, i
        if best_i < 0:
            return None
        self.waiting[best_i] = self.waiting[-1]
        return self.waiting.pop()[5]


def naive_cost(d: Driver, decisions: int) -> float:
    """Seconds per decision for the naive dispatcher on the driver's backlog:
    agents that free up each pick their next contact by a full scan. Every
    scan counts, including one that finds nothing."""
    naive = NaiveDispatcher(d.e)
    agents = [aid for aid, _ in d.connected[:decisions]]
    t0 = time.perf_counter()
    for aid in agents:
        naive.pick_for_agent(aid, d.now)
    return (time.perf_counter() - t0) / max(1, len(agents))


def slope(points: list[tuple[int, float]]) -> float:
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def memory(n_agents: int, waiting: int, seed: int) -> tuple[float, float]:
    world = build_world(n_agents, seed)
    gc.collect()
    tracemalloc.start()
    m0 = tracemalloc.get_traced_memory()[0]
    d = Driver(world, Engine(world.config))
    m1 = tracemalloc.get_traced_memory()[0]
    d.fill(waiting)
    m2 = tracemalloc.get_traced_memory()[0]
    d.pending_accept.clear()
    for aid in d.e.agents:  # logged in (away, so no offers are made)
        d.e.handle(c.Login(0.0, aid, "break"))
    m3 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (m1 - m0 + m3 - m2) / n_agents, (m2 - m1) / waiting


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller decision counts and scaling sizes (< 30 s)")
    ap.add_argument("--json", action="store_true", help="only the JSON line")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    def say(*parts: object) -> None:
        if not args.json:
            print(*parts, file=sys.stderr)

    quick = args.quick
    agents, waiting = 10_000, 100_000
    decisions = 20_000 if quick else 200_000
    started = time.perf_counter()

    say(f"main run: {agents} agents, {waiting} waiting, {decisions} decisions")
    d, storm, per = steady_state(agents, waiting, decisions, args.seed)
    lat = d.latencies
    backlog = sum(1 for k in d.e.contacts.values() if k.state == "queued")
    decision_mean = d.deciding_time / d.decisions
    say(
        f"  {1 / decision_mean:,.0f} decisions/s, p50 {percentile(lat, 50) * 1e6:.1f} us, "
        f"p99 {percentile(lat, 99) * 1e6:.1f} us; all-in {1 / per:,.0f} offers per engine-second; "
        f"storm {storm:.2f} s; backlog {backlog}"
    )

    # What the daemon's scheduled full collection costs on this heap.
    gc.unfreeze()
    t0 = time.perf_counter()
    gc.collect()
    gc_full_ms = (time.perf_counter() - t0) * 1e3
    gc.freeze()

    naive_n = 10 if quick else 40
    say(f"naive baseline over {naive_n} decisions at {backlog} waiting")
    naive_per = naive_cost(d, naive_n)
    say(f"  naive {naive_per * 1e3:.1f} ms/decision; all-in {per * 1e6:.1f} us: {naive_per / per:,.0f}x")
    violations = dict(d.violations)
    del d
    release()

    scale_dec = 4_000 if quick else 30_000
    # Agents scale against a backlog that keeps every size in the same regime
    # (more waiting than agents can take), as a growing centre would.
    waiting_sizes = (1_000, 10_000, 100_000)
    agent_sizes = (1_000, 3_000, 10_000) if quick else (1_000, 10_000, 50_000)
    scale_waiting = 30_000 if quick else 100_000
    axes = {}
    for name, xs, sizes in (
        ("waiting", waiting_sizes, [(10_000, w) for w in waiting_sizes]),
        ("agents", agent_sizes, [(n, scale_waiting) for n in agent_sizes]),
    ):
        measured = scaling(sizes, scale_dec, args.seed)
        for _, dd in measured:
            for k, v in dd.violations.items():
                violations[k] += v
        axes[name] = [(x, p) for x, (p, _) in zip(xs, measured, strict=True)]
        for x, p in axes[name]:
            say(f"  {name} {x:>7}: {p * 1e6:.1f} us/decision")
        del measured, dd
        release()
    by_waiting, by_agents = axes["waiting"], axes["agents"]

    mem_agents, mem_waiting = (2_000, 20_000) if quick else (10_000, 100_000)
    bpa, bpc = memory(mem_agents, mem_waiting, args.seed)
    result = {
        "benchmark": "dispatch",
        "quick": quick,
        "python": platform.python_version(),
        "core": CORE_BUILD,  # "mypyc" (compiled, as installed) or "python" (ACD_PURE_PYTHON=1)
        "agents": agents,
        "waiting": waiting,
        "decisions": decisions,
        # A decision's cost: the engine time of the command that made it (ending
        # the previous contact, choosing, offering, events), per offer made.
        "decisions_per_s": round(1 / decision_mean),
        "decision_mean_us": round(decision_mean * 1e6, 2),
        "decision_p50_us": round(percentile(lat, 50) * 1e6, 2),
        "decision_p99_us": round(percentile(lat, 99) * 1e6, 2),
        # All-in: every command of the firehose (accepts, arrivals, abandons,
        # presence churn, escalation timers) divided by the offers made.
        "offers_per_engine_s": round(1 / per),
        "engine_us_per_offer": round(per * 1e6, 2),
        "gc_full_collection_ms": round(gc_full_ms, 1),
        "bytes_per_agent": round(bpa),
        "bytes_per_waiting_contact": round(bpc),
        "violations": violations,
        "login_storm": {
            "agents": agents,
            "backlog": waiting + 4 * agents,
            "drain_s": round(storm, 3),
        },
        "scaling": {
            "waiting": {
                "agents": 10_000,
                "us_per_decision": {str(n): round(t * 1e6, 2) for n, t in by_waiting},
                "slope": round(slope(by_waiting), 3),
            },
            "agents": {
                "waiting": scale_waiting,
                "us_per_decision": {str(n): round(t * 1e6, 2) for n, t in by_agents},
                "slope": round(slope(by_agents), 3),
            },
        },
        "naive": {
            "decisions": naive_n,
            "waiting": backlog,
            "us_per_decision": round(naive_per * 1e6, 1),
        },
        "speedup_vs_naive": round(naive_per / per, 1),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))
    return 0 if sum(violations.values()) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
