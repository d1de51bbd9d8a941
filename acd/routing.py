"""Routing classes: the index that makes every decision O(log n).

A routing class groups the waiting contacts that have exactly the same
effective requirements: same queue, same channel, same (relaxed) skill
requirement, same borrowed queues. For each class we keep

* ``contacts``: a heap of waiting contacts' keys (acd.records.contact_key:
  priority, then order of entry, packed in one int), best first;
  ``waiting``, the map from a contact's line to the contact, which is also
  the count; and ``top``, the best live key (0: none), kept exact on every
  push and removal so an agent's scan of its classes reads one int per class;
* ``agents``: a heap of the eligible agents that can take the class's channel
  right now, best first by the queue's strategy key; an entry holds numbers
  only (the agent is found by ordinal in ``roster``), so the cycle collector
  stops tracking it at its first look;
* ``eligible``: every configured agent that meets the requirement (computed
  once when the class is created, independent of presence).

Both heaps use lazy deletion: a contact key is valid only while it is its
contact's ``class_key``, an agent entry while its stamp is the agent's; stale
entries are dropped when they reach the top. An agent's key only grows while
it stays available (it took work: more open contacts, a later last activity,
a later round-robin turn), so an offer that leaves its channels open does not
re-index it: a stale-low key is corrected when it reaches the top (lazy
increase-key). A heap is rebuilt when it outgrows twice what can be valid
(the waiting contacts, the eligible agents), so its size stays proportional
to live work.

The engine keeps the invariant *no waiting contact has an available eligible
agent* (except contacts the agent declined, and contacts held for a preferred
agent), so a decision is one heap lookup: a contact that enters a class takes
the top agent; an agent that frees up compares the top contact of each of its
classes (a handful, bounded by its routing profile, not by the centre's size).
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush, heapreplace
from operator import attrgetter
from typing import Final

from acd.records import LINE_MASK, AgentState, ContactKey, ContactState
from acd.skills import Requirement, describe

# Strategy codes (the order of acd.settings.STRATEGIES).
LONGEST_IDLE: Final = 0
LEAST_OCCUPIED: Final = 1
BEST_SKILLED: Final = 2
ROUND_ROBIN: Final = 3
STRATEGY_CODES: Final = {"longest-idle": 0, "least-occupied": 1, "best-skilled": 2, "round-robin": 3}

# Agent heap entry: (key 1, key 2, ordinal, stamp). The ordinal breaks ties
# deterministically (configuration order) and finds the agent in the roster.
AgentEntry = tuple[float, float, int, int]

_COMPACT_SLACK: Final = 32
_class_key_of = attrgetter("class_key")


def seconds(x: float) -> str:
    """``x`` to one decimal, for decision records: ``f"{x:.1f}"`` compiles to a
    ``str.format`` call (~1,400 instructions), this to integer formatting.
    Halves round up, not to even: it is a display."""
    t = int(abs(x) * 10.0 + 0.5)
    return f"{'-' if x < 0 and t else ''}{t // 10}.{t % 10}"


class RoutingClass:
    __slots__ = (
        "agents",
        "borrow",
        "channel",
        "contacts",
        "eligible",
        "label",
        "queue",
        "req",
        "roster",
        "scores",
        "strategy",
        "strategy_name",
        "top",
        "waiting",
    )

    def __init__(
        self,
        queue: str,
        channel: str,
        req: Requirement,
        borrow: tuple[str, ...],
        strategy: str,
        roster: list[AgentState],
    ) -> None:
        self.queue = queue
        self.channel = channel
        self.req = req
        self.borrow = borrow
        self.strategy_name = strategy
        self.strategy = STRATEGY_CODES[strategy]
        self.label = describe(req)
        self.contacts: list[ContactKey] = []
        self.waiting: dict[int, ContactState] = {}  # line -> contact
        self.top: ContactKey = 0  # the best live key in contacts, 0: none
        self.agents: list[AgentEntry] = []
        self.roster = roster  # the engine's agents by ordinal
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

    def score_text(self, a: AgentState, now: float) -> str:
        """What the strategy ranked the agent by, for the decision record."""
        s = self.strategy
        if s == LONGEST_IDLE:
            return f"idle {seconds(now - a.last_activity)}s"
        if s == LEAST_OCCUPIED:
            return f"open {len(a.assignments)}, idle {seconds(now - a.last_activity)}s"
        if s == BEST_SKILLED:
            return f"skill {self.scores[a.ordinal]}, idle {seconds(now - a.last_activity)}s"
        return f"last offer #{a.rr.get(self.queue, -1)}"

    def push_agent(self, a: AgentState) -> None:
        """Index an available agent under its current stamp. O(log n) amortised."""
        k1, k2 = self.agent_key(a)
        heappush(self.agents, (k1, k2, a.ordinal, a.stamp))
        if len(self.agents) > self.agent_cap:
            self.compact_agents()

    @property
    def agent_cap(self) -> int:
        """An agent has at most one valid entry, so valid entries <= eligible:
        past twice that, the heap is mostly stale and is rebuilt."""
        return 2 * len(self.eligible) + _COMPACT_SLACK

    def compact_agents(self) -> None:
        """O(n), amortised O(1) per push by the cap above."""
        roster = self.roster
        self.agents = [e for e in self.agents if e[3] == roster[e[2]].stamp]
        heapify(self.agents)

    def take_agent(self, declined: set[str] | None) -> tuple[AgentState | None, AgentState | None]:
        """Pop the best valid agent not in ``declined`` and peek the runner-up.

        O(log n) amortised, plus O(d log n) for d declined agents at the top.
        An entry is valid while its stamp is the agent's; its key may be
        stale-low (keys only grow while an agent stays available) and is
        corrected when it reaches the top. The winner is popped: the engine
        re-pushes it here if it stays available.
        """
        h = self.agents
        roster = self.roster
        aside: list[AgentEntry] = []
        best: AgentState | None = None
        runner: AgentState | None = None
        while h:
            e = h[0]
            a = roster[e[2]]
            if e[3] != a.stamp:
                heappop(h)
                continue
            k1, k2 = self.agent_key(a)
            if k1 != e[0] or k2 != e[1]:
                # Lazy increase-key: the agent took work since it was pushed.
                heapreplace(h, (k1, k2, e[2], e[3]))
                continue
            if declined is not None and a.id in declined:
                aside.append(heappop(h))
            elif best is None:
                heappop(h)
                best = a
            else:
                runner = a
                break
        for e in aside:
            heappush(h, e)
        return best, runner

    # -- contacts -----------------------------------------------------------

    def push_contact(self, c: ContactState, key: ContactKey) -> None:
        """Index a waiting contact under ``key`` (its ``class_key``).
        O(log n) amortised."""
        heappush(self.contacts, key)
        self.waiting[c.line] = c
        if not self.top or key < self.top:
            self.top = key
        if len(self.contacts) > 2 * len(self.waiting) + _COMPACT_SLACK:
            self.compact_contacts()

    def remove_contact(self, c: ContactState) -> None:
        """Its heap entry goes stale (lazy deletion). O(1), or O(log n)
        amortised when it was the top: stale entries above the next live
        key are dropped to find the new top."""
        del self.waiting[c.line]
        if c.class_key == self.top:
            h = self.contacts
            while h and self.live(h[0]) is None:
                heappop(h)
            self.top = h[0] if h else 0

    def clear_contacts(self) -> None:
        self.contacts, self.waiting, self.top = [], {}, 0

    def live(self, key: ContactKey) -> ContactState | None:
        """The contact ``key`` stands for, None if the key is stale. O(1)."""
        c = self.waiting.get(key & LINE_MASK)
        return c if c is not None and c.class_key == key else None

    def compact_contacts(self) -> None:
        """Rebuild the heap from the waiting contacts' keys, which drops the
        stale keys and the copies (a contact re-placed under the same key
        leaves one behind). O(n), amortised O(1) per push by the bound above."""
        self.contacts = [c.class_key for c in self.waiting.values()]
        heapify(self.contacts)

    def top_contact(self, agent_id: str, skip: ContactKey = 0) -> ContactKey:
        """The best live contact key this agent has not declined (0: none),
        without removing it. ``skip`` (a key about to be offered) is dropped
        instead, which gives the runner-up; ``top`` stays that key until its
        contact is removed, as the caller then does. O(log n) amortised, plus
        O(d log n) for d contacts at the top that this agent declined.
        """
        h = self.contacts
        aside: list[ContactKey] = []
        found = 0
        while h:
            k = h[0]
            c = self.live(k)
            if c is None or k == skip:
                heappop(h)
                continue
            if c.declined is not None and agent_id in c.declined:
                aside.append(heappop(h))
                continue
            found = k
            break
        for k in aside:
            heappush(h, k)
        return found

    def runner_up(self, agent_id: str, skip: ContactKey) -> ContactKey:
        """The best live key after ``skip`` (about to be offered) that this
        agent has not declined, 0: none; for the decision record. When
        ``skip`` is ``top`` (the heap's root), the second-best entry is one
        of the root's two children: if they are live, not declined and not
        copies of ``top``, the smaller one is the answer, O(1), and the heap
        is left as it is (removing ``top`` pops it later). Otherwise
        ``top_contact`` pops its way there."""
        h = self.contacts
        top = self.top
        if skip != top:
            return self.top_contact(agent_id, skip=skip)
        best = 0
        for i in (1, 2):
            if i >= len(h):
                break
            k = h[i]
            c = self.live(k)
            if c is None or k == top or (c.declined is not None and agent_id in c.declined):
                return self.top_contact(agent_id, skip=top)
            if not best or k < best:
                best = k
        return best

    def in_line(self) -> list[ContactState]:
        """The waiting contacts, best first. O(n log n): for position
        announcements, not for routing."""
        return sorted(self.waiting.values(), key=_class_key_of)

    def position(self, c: ContactState) -> int:
        """The place in line (1 = next) of a contact waiting here. O(n)."""
        key = c.class_key
        return 1 + sum(1 for x in self.waiting.values() if x.class_key < key)
