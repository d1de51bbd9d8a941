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
from acd.journal import Journal

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
        self.journal: Journal | None = None  # surveys asked and answered go on record
        self.tell_agent: Callable[[str, str, int], None] | None = None  # (agent, contact, score): its desktop
        self.counted: Callable[[Asked, int], None] | None = None  # each answer, for the reports

    def ask(self, contact_id: str, queue: str, agent_id: str, user: tuple[str, str] | None = None) -> None:
        self._expire()
        at = self.wall_clock()
        self._ask(Asked(contact_id, queue, agent_id, at, user))
        if self.journal is not None:
            rec = {"k": "ask", "c": contact_id, "q": queue, "a": agent_id, "at": at, "u": user}
            self.journal.append(rec)

    def _ask(self, asked: Asked) -> None:
        self._asked[asked.contact_id] = asked
        if asked.user is not None:
            self._by_user[asked.user] = asked.contact_id

    def replay(self, records: list[dict[str, Any]]) -> None:
        """After a restart: the tallies, and the surveys still open, as the journal has them. O(records)."""
        for rec in records:
            if rec["k"] == "tally":
                for name, tallies in (("q", self.by_queue), ("a", self.by_agent)):
                    for key, by_score in rec[name].items():
                        t = tallies.setdefault(key, Tally())
                        for i, n in enumerate(by_score):
                            t.answers += n
                            t.total += n * (i + 1)
                            t.by_score[i] += n
            elif rec["k"] == "ask":
                user = tuple(rec["u"]) if rec["u"] is not None else None
                self._ask(Asked(rec["c"], rec["q"], rec["a"], rec["at"], user))
            elif rec["c"] in self._asked:
                self._count(rec["c"], rec["s"])
        self._expire()

    def records(self) -> list[dict[str, Any]]:
        """What ``replay`` needs to come back to this state: the tallies in
        one record, then the surveys still open (a journal snapshot)."""
        self._expire()
        tally = {
            "k": "tally",
            "q": {q: list(t.by_score) for q, t in self.by_queue.items()},
            "a": {a: list(t.by_score) for a, t in self.by_agent.items()},
        }
        asks = [
            {"k": "ask", "c": x.contact_id, "q": x.queue, "a": x.agent_id, "at": x.at, "u": x.user}
            for x in self._asked.values()
        ]
        return [tally, *asks]

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
        if contact_id not in self._asked:
            raise NoSurvey(f"no survey open for contact {contact_id!r}")
        asked = self._count(contact_id, score)
        if self.journal is not None:
            self.journal.append({"k": "answer", "c": contact_id, "s": score})
        self.on_answer(contact_id, score)
        if self.tell_agent is not None:
            self.tell_agent(asked.agent_id, contact_id, score)
        if self.counted is not None:
            self.counted(asked, score)
        return asked

    def _count(self, contact_id: str, score: int) -> Asked:
        asked = self._asked.pop(contact_id)
        if asked.user is not None and self._by_user.get(asked.user) == contact_id:
            del self._by_user[asked.user]
        self.by_queue.setdefault(asked.queue, Tally()).add(score)
        self.by_agent.setdefault(asked.agent_id, Tally()).add(score)
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
