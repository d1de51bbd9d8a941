"""``GET /v1/reports/queues`` and ``GET /v1/reports/agents``: the interval
reports (adapters/reports/store.py), JSON or, with ``Accept: text/csv``,
CSV. Admin token or supervisor session; a supervisor limited to some
queues sees only theirs.

``from`` and ``to``: ISO 8601 (without an offset: the centre's local time,
``[reports] time_zone``) or Unix seconds, today so far by default;
``interval``: ``15m``, ``30m``,
``hour``, ``day`` or seconds (whole quarter hours: the grain of the store;
a day is 24 hours, so across a daylight-saving change its buckets start an
hour off); ``from`` is taken back to its quarter hour; ``by``: ``queue``,
``channel`` or ``queue,channel``. Bounded: a range is cut to its first 400
days (the answer says the range it covers), at most ``MAX_BUCKETS``
buckets; the query runs on the store's thread.
"""

from __future__ import annotations

import io
import math
import time
import zoneinfo
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from acd.adapters.reports.export import instant, write_csv
from acd.adapters.reports.store import GROUPS, MAX_BUCKETS, QUARTER, ReportBackend
from acd.adapters.web.sessions import agent_in_scope, scope
from acd.errors import InvalidRequest
from acd.stays import AgentInterval

STORE: web.AppKey[ReportBackend] = web.AppKey("report-store")
ZONE: web.AppKey[str] = web.AppKey("report-zone", str)
AGENT_QUEUES: web.AppKey[Callable[[str], tuple[str, ...]]] = web.AppKey("report-agent-queues")
LIVE: web.AppKey[Callable[[], list[AgentInterval]]] = web.AppKey("report-live-intervals")
INTERVALS = {"15m": 900.0, "30m": 1800.0, "hour": 3600.0, "day": 86_400.0}
MAX_RANGE_S = 400 * 86_400.0


class BadReport(InvalidRequest):
    code = "invalid-report"


def _instant(text: str | None, name: str, zone: str, default: float) -> float:
    try:
        return instant(text, zone, default)
    except ValueError:
        raise BadReport(f"{name}: expected ISO 8601 or Unix seconds") from None


def _range(request: web.Request) -> tuple[float, float]:
    """``from`` (default: today's local midnight) to ``to`` (default: now);
    a range longer than 400 days is cut to its first 400; a reversed one is
    empty. The answer says the range it covers."""
    zone = request.app[ZONE]
    now = time.time()
    midnight = datetime.now(zoneinfo.ZoneInfo(zone)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = _instant(request.query.get("from"), "from", zone, midnight.timestamp())
    end = _instant(request.query.get("to"), "to", zone, now)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise BadReport("from and to must be finite")
    start -= start % QUARTER  # the reports' grain: every zone's offset is whole quarter hours
    return start, max(start, min(end, start + MAX_RANGE_S))


def _respond(
    request: web.Request, rows: list[dict[str, Any]], key: str, span: tuple[float, float]
) -> web.Response:
    # Accept: text/csv, or format=csv (a link in a page: a download asks for any type)
    if "text/csv" not in request.headers.get("Accept", "") and request.query.get("format") != "csv":
        return web.json_response({"from": span[0], "to": span[1], key: rows})
    out = io.StringIO()
    write_csv(rows, request.app[ZONE], out)
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="acd-{key}.csv"'},
    )


async def queue_report(request: web.Request) -> web.Response:
    start, end = _range(request)
    interval = request.query.get("interval", "hour")
    step = INTERVALS.get(interval)
    if step is None:
        try:
            step = float(interval)
        except ValueError:
            raise BadReport(f"interval: one of {', '.join(INTERVALS)}, or seconds") from None
    if not QUARTER <= step <= MAX_RANGE_S or step % QUARTER or (end - start) / step > MAX_BUCKETS:
        raise BadReport(f"interval: whole quarter hours (900 s), at most {MAX_BUCKETS} of them in the range")
    by = request.query.get("by", "queue")
    if by not in GROUPS:
        raise BadReport(f"by: one of {', '.join(GROUPS)}")
    allowed = scope(request)
    if allowed is not None and by == "channel":
        by = "queue,channel"  # a supervisor's figures are of its queues, never the whole centre's
    rows = await request.app[STORE].queues(start, end, step, by, allowed) if end > start else []
    return _respond(request, rows, "queues", (start, end))


async def agent_report(request: web.Request) -> web.Response:
    start, end = _range(request)
    live = request.app[LIVE]()  # the presences going on now: a lunch not over yet counts
    rows = await request.app[STORE].agents(start, end, live) if end > start else []
    allowed = scope(request)
    if allowed is not None:
        queues_of = request.app[AGENT_QUEUES]
        rows = [r for r in rows if agent_in_scope(allowed, queues_of(r["agent"]))]
    return _respond(request, rows, "agents", (start, end))


def add_routes(
    app: web.Application,
    store: ReportBackend,
    zone: str,
    agent_queues: Callable[[str], tuple[str, ...]],
    live: Callable[[], list[AgentInterval]],
) -> None:
    app[STORE] = store
    app[LIVE] = live
    app[ZONE] = zone
    app[AGENT_QUEUES] = agent_queues
    app.router.add_get("/v1/reports/queues", queue_report)
    app.router.add_get("/v1/reports/agents", agent_report)
