"""The state machines, as transition tables.

Theory of operation
-------------------
Three small machines, each a table ``(state, event) -> next state``; a missing
entry raises :class:`~acd.errors.InvalidTransition` naming both, before
anything changes (check first, then act).

* **Agent status** is what the agent (or a supervisor, or the PBX) chose:
  logged out, available, away (with a reason), or not responding (set by the
  engine after an unanswered offer, RONA). Only an available agent receives
  offers.
* **Assignment** is one agent's hold on one contact: offered (ringing),
  connected, wrap-up. Every assignment counts against the agent's capacity.
* **Contact** is the customer's side: queued, offered, connected, wrap-up and
  the terminal states ended, abandoned, transferred (left the ACD to an outside
  destination), overflowed (left to the queue's overflow destination).

What a desktop shows as the agent's *presence* is derived from the status and
the assignments (:func:`presence`): available + an offer = ``offered``, +
a connected contact = ``busy``, only wrap-ups = ``wrap-up``. Availability per
channel is derived from presence and capacity (:mod:`acd.capacity`).
"""

from __future__ import annotations

from typing import Final

from acd.errors import InvalidTransition

# Agent status
LOGGED_OUT: Final = "logged-out"
AVAILABLE: Final = "available"
AWAY: Final = "away"
NOT_RESPONDING: Final = "not-responding"

# Derived presence (the status above, or one of these when available)
OFFERED: Final = "offered"
BUSY: Final = "busy"
WRAP_UP: Final = "wrap-up"

# Contact states
QUEUED: Final = "queued"
CONNECTED: Final = "connected"
ENDED: Final = "ended"
ABANDONED: Final = "abandoned"
TRANSFERRED: Final = "transferred"
OVERFLOWED: Final = "overflowed"
# OFFERED, CONNECTED and WRAP_UP are shared by contacts and assignments.

PRESENCES: Final = (LOGGED_OUT, AVAILABLE, AWAY, NOT_RESPONDING, OFFERED, BUSY, WRAP_UP)
# A presence's index in PRESENCES: per-queue presence counts are lists by it.
PRESENCE_CODE: Final[dict[str, int]] = {p: i for i, p in enumerate(PRESENCES)}
_AVAILABLE_CODE: Final = PRESENCE_CODE[AVAILABLE]
_OFFERED_CODE: Final = PRESENCE_CODE[OFFERED]
_BUSY_CODE: Final = PRESENCE_CODE[BUSY]
_WRAP_UP_CODE: Final = PRESENCE_CODE[WRAP_UP]

_ANY_IN: Final = (AVAILABLE, AWAY, NOT_RESPONDING)

AGENT_STATUS: Final[dict[tuple[str, str], str]] = {
    (LOGGED_OUT, "login"): AVAILABLE,
    (LOGGED_OUT, "login-away"): AWAY,
    **{(s, "available"): AVAILABLE for s in _ANY_IN},
    **{(s, "away"): AWAY for s in _ANY_IN},
    **{(s, "logout"): LOGGED_OUT for s in _ANY_IN},
    (AVAILABLE, "rona"): NOT_RESPONDING,
}

ASSIGNMENT: Final[dict[tuple[str, str], str]] = {
    (OFFERED, "accept"): CONNECTED,
    (CONNECTED, "end"): WRAP_UP,
    (CONNECTED, "transfer"): WRAP_UP,
}

CONTACT: Final[dict[tuple[str, str], str]] = {
    (QUEUED, "offer"): OFFERED,
    (OFFERED, "accept"): CONNECTED,
    (OFFERED, "requeue"): QUEUED,  # rejected, not answered, or revoked
    (QUEUED, "abandon"): ABANDONED,
    (OFFERED, "abandon"): ABANDONED,
    (CONNECTED, "end"): WRAP_UP,  # either side ended the conversation
    (WRAP_UP, "close"): ENDED,
    (QUEUED, "move"): QUEUED,  # supervisor move, overflow to another queue
    (OFFERED, "move"): QUEUED,
    (CONNECTED, "transfer"): QUEUED,  # to a queue or an agent, context kept
    (QUEUED, "overflow"): OVERFLOWED,
    (QUEUED, "transfer-out"): TRANSFERRED,
    (CONNECTED, "transfer-out"): TRANSFERRED,
}


Table = dict[str, dict[str, str]]


def by_state(table: dict[tuple[str, str], str]) -> Table:
    """The table as state -> event -> next state: a lookup is two probes of
    interned strings, where a (state, event) key would be built and hashed
    on every transition (several per decision)."""
    out: Table = {}
    for (state, event), nxt in table.items():
        out.setdefault(state, {})[event] = nxt
    return out


_AGENT: Final = by_state(AGENT_STATUS)
_CONTACT: Final = by_state(CONTACT)
_ASSIGNMENT: Final = by_state(ASSIGNMENT)
_NONE: Final[dict[str, str]] = {}


def step(machine: str, table: Table, state: str, event: str) -> str:
    """Next state, or raise InvalidTransition. O(1)."""
    nxt = table.get(state, _NONE).get(event)
    if nxt is None:
        raise InvalidTransition(machine, state, event)
    return nxt


def agent_step(state: str, event: str) -> str:
    return step("agent", _AGENT, state, event)


def contact_step(state: str, event: str) -> str:
    return step("contact", _CONTACT, state, event)


def assignment_step(state: str, event: str) -> str:
    return step("assignment", _ASSIGNMENT, state, event)


def presence(status: str, n_offered: int, n_connected: int, n_wrap: int) -> int:
    """Derived presence, as its PRESENCE_CODE, from the status and the
    assignment counts. O(1)."""
    if status != AVAILABLE:
        return PRESENCE_CODE[status]
    if n_offered:
        return _OFFERED_CODE
    if n_connected:
        return _BUSY_CODE
    if n_wrap:
        return _WRAP_UP_CODE
    return _AVAILABLE_CODE
