"""Skill requirements: normal form, matching, relaxation and scoring.

A requirement is a sorted tuple of ``(skill, minimum level)`` pairs, so equal
requirements are equal tuples and can key routing classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from acd.settings import EscalationStep

Requirement = tuple[tuple[str, int], ...]


def normalise(levels: Mapping[str, int] | Iterable[tuple[str, int]]) -> Requirement:
    """Sorted, one entry per skill (the highest minimum wins)."""
    items = levels.items() if isinstance(levels, Mapping) else levels
    best: dict[str, int] = {}
    for skill, level in items:
        if level > best.get(skill, 0):
            best[skill] = level
    return tuple(sorted(best.items()))


def merge(a: Requirement, b: Requirement) -> Requirement:
    return normalise((*a, *b))


def meets(skills: Mapping[str, int], req: Requirement) -> bool:
    """O(len(req))."""
    return all(skills.get(skill, 0) >= level for skill, level in req)


def score(skills: Mapping[str, int], req: Requirement, fallback: Requirement) -> int:
    """Proficiency score for best-skilled routing: the sum of the agent's levels
    in the required skills (in ``fallback``, the queue's own skills, when the
    requirement has been relaxed to nothing)."""
    return sum(skills.get(skill, 0) for skill, _ in (req or fallback))


class Relaxed:
    """A requirement after the first ``step`` escalation steps of a queue."""

    __slots__ = ("borrow_from", "priority_boost", "req")

    def __init__(self, req: Requirement, borrow_from: tuple[str, ...], boost: int) -> None:
        self.req = req
        self.borrow_from = borrow_from
        self.priority_boost = boost


def relax(req: Requirement, steps: tuple[EscalationStep, ...], step: int) -> Relaxed:
    """Apply escalation steps ``[0, step)`` cumulatively. O(steps * len(req))."""
    borrow: list[str] = []
    boost = 0
    for st in steps[:step]:
        if st.any_member:
            req = ()
        if st.drop_skills:
            dropped = set(st.drop_skills)
            req = tuple(p for p in req if p[0] not in dropped)
        if st.accept_level is not None:
            cap = st.accept_level
            req = tuple((s, min(lv, cap)) for s, lv in req)
        borrow += [b for b in st.borrow_from if b not in borrow]
        boost += st.priority_boost
    return Relaxed(req, tuple(borrow), boost)


def describe(req: Requirement) -> str:
    return ", ".join(f"{s}>={lv}" for s, lv in req) if req else "no skill"
