"""The staffing forecast in GET /v1/queues, from a running daemon: no
figure until a contact was handled; then Erlang C's answer for the
arrivals and handle time the daemon saw (acd/forecast.py is checked
against the published tables in tests/core/test_forecast.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

from acd import commands as c
from acd.forecast import agents_needed, service_level
from tests.adapters.wsclient import AUTH, Session, session


async def queues(s: Session) -> dict[str, dict[str, Any]]:
    async with s.http.get(s.url("/v1/queues"), headers=AUTH) as r:
        assert r.status == 200
        return {q["name"]: q for q in (await r.json())["queues"]}


async def test_the_forecast_follows_arrivals_and_handle_time() -> None:
    async with session() as s:
        before = (await queues(s))["sales"]["forecast"]
        assert before["agents_needed"] is None and before["arrivals_per_hour"] == 0.0
        assert (before["model"], before["target_pct"], before["threshold_s"]) == ("erlang-c", 80.0, 20.0)
        bob = await s.agent("bob")
        for i in range(3):
            _, cid = await s.customer("sales", f"hello {i}")
            await s.serve(bob, cid)
        waiting = []
        for i in range(4):  # waiting: arrivals too
            waiting.append((await s.customer("sales", f"waiting {i}"))[1])
        f = (await queues(s))["sales"]["forecast"]
        assert f["arrivals_per_hour"] > 0 and f["aht_s"] is not None
        assert (await queues(s))["support"]["forecast"]["arrivals_per_hour"] == 0.0
        rate = f["arrivals_per_hour"] / 3600
        assert abs(f["traffic_erlangs"] - rate * f["aht_s"]) < 0.01
        n = f["agents_needed"]
        assert n >= 1 and f["expected_service_level_pct"] >= 80.0
        assert (
            n == agents_needed(rate, f["aht_s"], 80.0, 20.0).agents
            or abs(service_level(rate * f["aht_s"], n - 1, f["aht_s"], 20.0) * 100 - 80.0) < 0.5
        )  # the same model (the rate is rounded in the answer)

        assert f["erlang_a"] is None  # nobody gave up yet: no patience measured
        await s.server.runner.submit(partial(c.Abandon, contact_id=waiting[0]))
        await s.server.staffing._refresh("sales")  # what its task does every A_EVERY_S, on a worker thread
        a = (await queues(s))["sales"]["forecast"]["erlang_a"]
        staffing = s.server.staffing
        patience = staffing.patience_s("sales", s.server.runner.now())
        assert patience is not None and patience > 0  # (this test's waits are milliseconds)
        assert a["agents_needed"] >= 1 and a["expected_service_level_pct"] >= 80.0
        assert 0 <= a["expected_abandon_pct"] <= 100 and a["age_s"] >= 0
