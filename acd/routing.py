"""Routing classes: the index that makes every decision O(log n).

A routing class groups the waiting contacts that have exactly the same
effective requirements: same queue, same channel, same (relaxed) skill
requirement, same borrowed queues. For each class we keep

* ``contacts``: a heap of waiting contacts, best first (priority, then wait);
* ``agents``: a heap of the eligible agents that can take the class's channel
  right now, best first by the queue's strategy key;
* ``eligible``: every configured agent that meets the requirement (computed
  once when the class is created, independent of presence).

Both heaps use lazy deletion: an entry is valid only while its token (contact)
or stamp (agent) matches the record's current one; stale entries are dropped
when they reach the top. An agent's key only grows while it stays available
(it took work: more open contacts, a later last activity, a later round-robin
turn), so an offer that leaves its channels open does not re-index it: a
stale-low key is corrected when it reaches the top (lazy increase-key). A
heap is rebuilt when it outgrows twice what
can be valid (the waiting contacts, the eligible agents), so its size stays
proportional to live work.

The engine keeps the invariant *no waiting contact has an available eligible
agent* (except contacts the agent declined, and contacts held for a preferred
agent), so a decision is one heap lookup: a contact that enters a class takes
the top agent; an agent that frees up compares the top contact of each of its
classes (a handful, bounded by its routing profile, not by the centre's size).
"""

from __future__ import annotations

import heapq

from acd.records import AgentState, ContactEntry
from acd.skills import Requirement, describe

# Strategy codes (the order of acd.settings.STRATEGIES).
LONGEST_IDLE = 0
LEAST_OCCUPIED = 1
BEST_SKILLED = 2
ROUND_ROBIN = 3
STRATEGY_CODES = {"longest-idle": 0, "least-occupied": 1, "best-skilled": 2, "round-robin": 3}

# Agent heap entry: (key 1, key 2, ordinal, stamp, agent). The ordinal breaks
# ties deterministically (configuration order), so the agent is never compared.
AgentEntry = tuple[float, float, int, int, AgentState]

_COMPACT_SLACK = 32


class RoutingClass:
    __slots__ = (
        "agents",
        "borrow",
        "channel",
        "contacts",
        "eligible",
        "label",
        "n_contacts",
        "queue",
        "req",
        "scores",
        "strategy",
        "strategy_name",
    )

    def __init__(
        self,
        queue: str,
        channel: str,
        req: Requirement,
        borrow: tuple[str, ...],
        strategy: str,
    ) -> None:
        self.queue = queue
        self.channel = channel
        self.req = req
        self.borrow = borrow
        self.strategy_name = strategy
        self.strategy = STRATEGY_CODES[strategy]
        self.label = describe(req)
        self.contacts: list[ContactEntry] = []
        self.n_contacts = 0
        self.agents: list[AgentEntry] = []
        self.eligible: list[AgentState] = []
        self.scores: dict[int, int] = {}  # agent ordinal -> proficiency score

    # -- agents -------------------------------------------------------------

    def agent_key(self, a: AgentState) -> tuple[float, float]:
        """The strategy's ranking key, smallest first. O(1)."""
        s = self.strategy
        if s == LONGEST_IDLE:
            return (a.last_activity, 0.0)
        if s == LEAST_OCCUPIED:
            return (float(len(a.assignments)), a.last_activity)
        if s == BEST_SKILLED:
            return (float(-self.scores[a.ordinal]), a.last_activity)
        return (float(a.rr.get(self.queue, -1)), 0.0)

    def push_agent(self, a: AgentState) -> None:
        """Index an available agent under its current stamp. O(log n) amortised."""
        k1, k2 = self.agent_key(a)
        heapq.heappush(self.agents, (k1, k2, a.ordinal, a.stamp, a))
        if len(self.agents) > self.agent_cap:
            self.compact_agents()

    @property
    def agent_cap(self) -> int:
        """An agent has at most one valid entry, so valid entries <= eligible:
        past twice that, the heap is mostly stale and is rebuilt."""
        return 2 * len(self.eligible) + _COMPACT_SLACK

    def compact_agents(self) -> None:
        """O(n), amortised O(1) per push by the cap above."""
        self.agents = [e for e in self.agents if e[3] == e[4].stamp]
        heapq.heapify(self.agents)

    def take_agent(self, declined: set[str] | None) -> tuple[AgentEntry | None, AgentEntry | None]:
        """Pop the best valid agent not in ``declined`` and peek the runner-up.

        O(log n) amortised, plus O(d log n) for d declined agents at the top.
        An entry is valid while its stamp is the agent's; its key may be
        stale-low (keys only grow while an agent stays available) and is
        corrected when it reaches the top. The winner is popped: the engine
        re-pushes it here if it stays available.
        """
        h = self.agents
        aside: list[AgentEntry] = []
        best: AgentEntry | None = None
        runner: AgentEntry | None = None
        while h:
            e = h[0]
            a = e[4]
            if e[3] != a.stamp:
                heapq.heappop(h)
                continue
            k1, k2 = self.agent_key(a)
            if k1 != e[0] or k2 != e[1]:
                # Lazy increase-key: the agent took work since it was pushed.
                heapq.heapreplace(h, (k1, k2, e[2], e[3], a))
                continue
            if declined is not None and a.id in declined:
                aside.append(heapq.heappop(h))
            elif best is None:
                best = heapq.heappop(h)
            else:
                runner = e
                break
        for e in aside:
            heapq.heappush(h, e)
        return best, runner

    # -- contacts -----------------------------------------------------------

    def push_contact(self, entry: ContactEntry) -> None:
        """O(log n) amortised; the caller counts ``n_contacts``."""
        heapq.heappush(self.contacts, entry)

    def compact_contacts(self) -> None:
        """Drop stale entries when they dominate. Amortised O(1) per push."""
        if len(self.contacts) > 2 * self.n_contacts + _COMPACT_SLACK:
            self.contacts = [e for e in self.contacts if e[4].class_token == e[3]]
            heapq.heapify(self.contacts)

    def top_contact(self, agent_id: str, skip: ContactEntry | None = None) -> ContactEntry | None:
        """The best valid contact this agent has not declined, without removing it.

        ``skip`` (an entry about to be offered) is dropped instead, which gives
        the runner-up. Entries are matched by token, not identity (compiled,
        a tuple may be re-boxed). O(log n) amortised, plus O(d log n) for d contacts at
        the top that this agent declined.
        """
        h = self.contacts
        aside: list[ContactEntry] = []
        found: ContactEntry | None = None
        while h:
            e = h[0]
            c = e[4]
            if c.class_token != e[3] or (skip is not None and e[3] == skip[3]):
                heapq.heappop(h)
                continue
            if c.declined is not None and agent_id in c.declined:
                aside.append(heapq.heappop(h))
                continue
            found = e
            break
        for e in aside:
            heapq.heappush(h, e)
        return found
