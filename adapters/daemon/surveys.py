"""Post-contact surveys: one question, answered 1 (poor) to 5 (excellent).

When an agent ends a chat in a queue with ``survey = true``, the customer
is asked (a ``survey`` frame to the web page, a message through a gateway);
a caller is asked by the FastAGI session after the agent hangs up (Dial
option ``g`` keeps the caller). An answer counts once, within
``answer_wait_s``: it goes into the contact's history record and into the
running statistics per queue and per agent.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acd.adapters.daemon.config_file import SurveySettings
from acd.errors import InvalidRequest

SCALE = (1, 5)


class NoSurvey(InvalidRequest):
    code = "no-survey"


class BadSurveyAnswer(InvalidRequest):
    code = "bad-survey-answer"


def parse_score(text: str) -> int | None:
    """A survey answer typed or keyed: one digit 1-5 (full-width too); None otherwise."""
    t = text.strip()
    if len(t) != 1 or not t.isdigit():
        return None
    n = int(t)
    return n if SCALE[0] <= n <= SCALE[1] else None


@dataclass(slots=True)
class Tally:
    answers: int = 0
    total: int = 0
    by_score: list[int] = field(default_factory=lambda: [0] * SCALE[1])

    def add(self, score: int) -> None:
        self.answers += 1
        self.total += score
        self.by_score[score - 1] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "average": round(self.total / self.answers, 2) if self.answers else None,
            "by_score": {str(i + 1): n for i, n in enumerate(self.by_score)},
        }


@dataclass(frozen=True, slots=True)
class Asked:
    contact_id: str
    queue: str
    agent_id: str
    at: float  # wall clock
    user: tuple[str, str] | None  # (gateway, user id): their next message may be the answer


class Surveys:
    def __init__(
        self,
        settings: SurveySettings,
        wall_clock: Callable[[], float],
        on_answer: Callable[[str, int], None],
    ) -> None:
        self.settings = settings
        self.wall_clock = wall_clock
        self.on_answer = on_answer  # (contact id, score): the history records it
        self._asked: OrderedDict[str, Asked] = OrderedDict()  # oldest first
        self._by_user: dict[tuple[str, str], str] = {}
        self.by_queue: dict[str, Tally] = {}
        self.by_agent: dict[str, Tally] = {}

    def ask(self, contact_id: str, queue: str, agent_id: str, user: tuple[str, str] | None = None) -> None:
        self._expire()
        self._asked[contact_id] = Asked(contact_id, queue, agent_id, self.wall_clock(), user)
        if user is not None:
            self._by_user[user] = contact_id

    def frame(self) -> dict[str, Any]:
        """What the customer is sent."""
        return {"type": "survey", "question": self.settings.question, "scale": list(SCALE)}

    def asked_of_user(self, gateway: str, user: str) -> str | None:
        """The contact whose survey this gateway user may be answering."""
        self._expire()
        return self._by_user.get((gateway, user))

    def is_asked(self, contact_id: str) -> bool:
        self._expire()
        return contact_id in self._asked

    def answer(self, contact_id: str, score: Any) -> Asked:
        """Count an answer; NoSurvey if none is open for the contact (never
        asked, answered already, or too late), BadSurveyAnswer if not 1-5."""
        if isinstance(score, bool) or not isinstance(score, int) or not SCALE[0] <= score <= SCALE[1]:
            raise BadSurveyAnswer(f"a survey answer is a whole number {SCALE[0]}-{SCALE[1]}, got {score!r}")
        self._expire()
        asked = self._asked.pop(contact_id, None)
        if asked is None:
            raise NoSurvey(f"no survey open for contact {contact_id!r}")
        if asked.user is not None and self._by_user.get(asked.user) == contact_id:
            del self._by_user[asked.user]
        self.by_queue.setdefault(asked.queue, Tally()).add(score)
        self.by_agent.setdefault(asked.agent_id, Tally()).add(score)
        self.on_answer(contact_id, score)
        return asked

    def stats(self) -> dict[str, Any]:
        return {
            "queues": {q: t.to_dict() for q, t in self.by_queue.items()},
            "agents": {a: t.to_dict() for a, t in self.by_agent.items()},
        }

    def _expire(self) -> None:
        """Forget surveys older than ``answer_wait_s``. O(1) amortised."""
        limit = self.wall_clock() - self.settings.answer_wait_s
        while self._asked:
            cid, asked = next(iter(self._asked.items()))
            if asked.at >= limit:
                break
            del self._asked[cid]
            if asked.user is not None and self._by_user.get(asked.user) == cid:
                del self._by_user[asked.user]
