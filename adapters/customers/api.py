"""Customers over REST, under ``/v1`` (admin token, like every ``/v1`` route):

* ``GET /v1/customers?kind=phone&value=+8613800138000``: find by any identifier;
* ``GET /v1/customers/{id}``: the profile (an id merged away finds its survivor);
* ``GET /v1/customers/{id}/contacts?limit=20&before=<next>``: the history,
  newest first, through merges, a page at a time;
* ``POST /v1/customers/merges/{id}/undo``: reverse a merge.
"""

from __future__ import annotations

import math

from aiohttp import web

from acd.adapters.customers.desk import Customers
from acd.codec import MalformedMessage
from acd.history import to_doc

CUSTOMERS: web.AppKey[Customers] = web.AppKey("customers", Customers)
MAX_LIMIT = 200


async def find(request: web.Request) -> web.Response:
    kind, value = request.query.get("kind"), request.query.get("value")
    if not kind or not value:
        raise MalformedMessage("give ?kind=<identifier kind>&value=<identifier>")
    return web.json_response(to_doc(await request.app[CUSTOMERS].find(kind, value)))


async def profile(request: web.Request) -> web.Response:
    return web.json_response(to_doc(await request.app[CUSTOMERS].customer(request.match_info["id"])))


async def contacts(request: web.Request) -> web.Response:
    """A page of the history, newest first; ``next`` is the ``before`` of
    the following page (null on the last one)."""
    raw = request.query.get("limit", "20")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise MalformedMessage(f"limit must be 1..{MAX_LIMIT}, got {raw[:20]!r}")
    before = _cursor(request.query.get("before"))
    limit = int(raw)
    records = await request.app[CUSTOMERS].history(request.match_info["id"], limit, before)
    nxt = records[-1].queued_at if len(records) == limit else None
    return web.json_response({"contacts": [to_doc(r) for r in records], "next": nxt})


def _cursor(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if len(raw) > 32 or not math.isfinite(value):
        raise MalformedMessage("before must be the 'next' of a previous page")
    return value


async def undo_merge(request: web.Request) -> web.Response:
    survivor, restored = await request.app[CUSTOMERS].unmerge(request.match_info["id"])
    return web.json_response({"survivor": to_doc(survivor), "restored": to_doc(restored)})


def add_routes(app: web.Application, customers: Customers) -> None:
    app[CUSTOMERS] = customers
    app.router.add_get("/v1/customers", find)
    app.router.add_get("/v1/customers/{id}", profile)
    app.router.add_get("/v1/customers/{id}/contacts", contacts)
    app.router.add_post("/v1/customers/merges/{id}/undo", undo_merge)
