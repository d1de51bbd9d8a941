"""Routing rules: what a new contact says about itself picks its queue,
skills and priority, before it is queued.

Operators write them in config (``[[rules]]``): a rule matches on the entry
queue, the channel, keywords in the customer's first message (or the IVR's
text), contact attributes (an IVR choice, a bot's intent), customer profile
attributes (a VIP tier) or who the customer is (a list of identifiers).
Every condition given must hold; a list of values means any of them.
Matching rules apply in file order: the last queue named wins, skills add
up (the highest minimum wins), priorities add; ``stop`` ends the list.

Pure functions over plain data; O(rules x (conditions + text length)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from acd.settings import QueueSpec


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    # conditions
    queues: tuple[str, ...] = ()  # the queue the contact asked for
    channels: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()  # any of them, case-insensitive, anywhere in the text
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    profile: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    customers: frozenset[str] = frozenset()  # identifier keys, "phone:+86..."
    # actions
    queue: str | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
    raise_priority: int = 0
    stop: bool = False

    def matches(self, c: ContactFacts, text: str) -> bool:
        """``text``: the contact's text, case-folded once for every rule."""
        if self.queues and c.queue not in self.queues:
            return False
        if self.channels and c.channel not in self.channels:
            return False
        if self.keywords and not any(k.casefold() in text for k in self.keywords):
            return False
        if any(c.attributes.get(k) not in vs for k, vs in self.attributes.items()):
            return False
        if any(c.profile.get(k) not in vs for k, vs in self.profile.items()):
            return False
        return not self.customers or not self.customers.isdisjoint(c.identifiers)


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """What is known of a new contact when the rules run."""

    queue: str
    channel: str
    text: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    profile: Mapping[str, str] = field(default_factory=dict)
    identifiers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Routed:
    """The rules' verdict: where the contact goes and with what."""

    queue: str
    skills: tuple[tuple[str, int], ...] = ()
    raise_priority: int = 0
    rules: tuple[str, ...] = ()  # names of the rules that matched, in order


def apply_rules(rules: tuple[Rule, ...], facts: ContactFacts, queues: Mapping[str, QueueSpec]) -> Routed:
    """Run the rules over a contact. A rule's queue that is not in
    ``queues`` (the running configuration) or does not take the contact's
    channel is not applied (its other actions are)."""
    queue = facts.queue
    skills: dict[str, int] = {}
    boost = 0
    matched: list[str] = []
    text = facts.text.casefold()
    for r in rules:
        if not r.matches(facts, text):
            continue
        matched.append(r.name)
        target = queues.get(r.queue) if r.queue is not None else None
        if target is not None and facts.channel in target.channels:
            queue = target.name
        for s, lvl in r.skills.items():
            skills[s] = max(skills.get(s, 0), lvl)
        boost += r.raise_priority
        if r.stop:
            break
    return Routed(queue, tuple(sorted(skills.items())), boost, tuple(matched))
