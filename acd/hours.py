"""Opening hours: when a queue is open, from a weekly schedule, holidays and
a time zone. Pure computation on wall-clock Unix time; the adapters turn
each open/close instant into an engine ``SetQueueOpen`` command (the
engine's own clock is monotonic and knows no calendar).

A schedule lists, per weekday, the local times it is open
(``"09:00-12:00"``, ``"00:00-24:00"``); days not listed are closed, and
``closed_on`` dates are closed all day. Local times go through the time
zone, so opening at 09:00 stays at 09:00 across daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
SEARCH_DAYS = 400  # a schedule that never changes within a year and a bit never will

# One open stretch of a day, in minutes since local midnight: [start, end).
Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    tz: tzinfo
    week: tuple[tuple[Span, ...], ...]  # Monday first, 7 entries
    closed_on: frozenset[date] = frozenset()

    def is_open(self, ts: float) -> bool:
        """O(spans of one day)."""
        local = datetime.fromtimestamp(ts, self.tz)
        if local.date() in self.closed_on:
            return False
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.week[local.weekday()])

    def next_change(self, ts: float) -> float | None:
        """The first instant after ``ts`` when :meth:`is_open` flips; None if
        it never does (always open, or never). O(days searched x spans)."""
        now_open = self.is_open(ts)
        start = datetime.fromtimestamp(ts, self.tz).date()
        for offset in range(SEARCH_DAYS):
            day = start + timedelta(days=offset)
            for t in sorted(self._boundaries(day)):
                if t > ts and self.is_open(t) != now_open:
                    return t
        return None

    def _boundaries(self, day: date) -> set[float]:
        """Where the state may change on ``day``: its midnight and the edges of
        its spans, as Unix time."""
        out = {self._at(day, 0)}
        for a, b in self.week[day.weekday()]:
            out.add(self._at(day, a))
            out.add(self._at(day, b))
        return out

    def _at(self, day: date, minute: int) -> float:
        if minute >= MINUTES_PER_DAY:
            return self._at(day + timedelta(days=1), minute - MINUTES_PER_DAY)
        local = datetime.combine(day, time(minute // 60, minute % 60), self.tz)
        return local.timestamp()


def parse_span(text: str) -> Span:
    """``"09:00-18:00"`` to minutes; raises ValueError saying what is wrong."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
    a, b = _minute(start.strip(), text), _minute(end.strip(), text)
    if a >= b:
        raise ValueError(f"{text!r}: the end must be after the start (24:00 is midnight at the end)")
    return a, b


def _minute(hhmm: str, whole: str) -> int:
    h, sep, m = hhmm.partition(":")
    if not (sep and h.isdigit() and m.isdigit() and len(m) == 2):
        raise ValueError(f"expected HH:MM-HH:MM, got {whole!r}")
    minute = int(h) * 60 + int(m)
    if int(m) > 59 or minute > MINUTES_PER_DAY:
        raise ValueError(f"{whole!r}: not a time of day")
    return minute


def parse_days(key: str) -> list[int]:
    """``"mon-fri"``, ``"sat"``, ``"sun-mon"`` (wraps) to weekday numbers."""
    first, sep, last = key.lower().partition("-")
    if first not in DAYS or (sep and last not in DAYS):
        raise ValueError(f"{key!r} is not a day or a range of days ({', '.join(DAYS)}, e.g. mon-fri)")
    i = DAYS.index(first)
    j = DAYS.index(last) if sep else i
    return [(i + k) % 7 for k in range((j - i) % 7 + 1)]
