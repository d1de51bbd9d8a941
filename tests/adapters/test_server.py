"""The daemon's shell over real loopback TCP: health, auth, supervisor REST,
metrics, the single-writer runner and its timers, and a graceful SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from acd import commands as c
from acd import events as ev
from acd.adapters.daemon.config_file import AcdSettings, parse
from acd.adapters.daemon.server import Server
from acd.adapters.security.passwords import hash_password
from acd.adapters.web.pages import PAGES
from acd.errors import UnknownAgent

TOKEN = "test-admin-token"


def settings(admin: bool = True) -> AcdSettings:
    data = {
        "skills": ["sales"],
        "server": {"listen": "127.0.0.1:0"},
        "queues": {"sales": {"channels": ["voice", "chat"], "skills": {"sales": 1}, "offer_timeout_s": 0.2}},
        "agents": {"a1": {"profile": "blended", "skills": {"sales": 3}, "queues": {"sales": 1}}},
    }
    if admin:
        data["server"]["admin_token_hash"] = hash_password(TOKEN, iterations=1000)  # type: ignore[index]
    return parse(data, "test.toml", env={})


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server(settings(), port=0, agi_port=0)
    await s.start()
    yield s
    await s.stop()


def url(s: Server, path: str) -> str:
    return f"http://127.0.0.1:{s.bound_port}{path}"


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_health_and_readiness(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(url(server, "/healthz")) as r:
            assert r.status == 200 and (await r.json()) == {"status": "ok"}
        async with http.get(url(server, "/readyz")) as r:
            assert r.status == 200


async def test_supervisor_api_needs_the_admin_token(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(url(server, "/v1/queues")) as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"
        async with http.get(url(server, "/v1/queues"), headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        async with http.get(url(server, "/v1/queues"), headers=AUTH) as r:
            assert r.status == 200 and [q["name"] for q in (await r.json())["queues"]] == ["sales"]


async def test_admin_api_closed_without_a_configured_token() -> None:
    s = Server(settings(admin=False), port=0, agi_port=0)
    await s.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(url(s, "/v1/agents"), headers=AUTH) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "admin-disabled"
    finally:
        await s.stop()


async def test_commands_through_the_runner_show_in_rest_and_metrics(server: Server) -> None:
    runner = server.runner
    await runner.submit(lambda now: c.Login(now, "a1"))
    out = await runner.submit(lambda now: c.NewContact(now, "k1", "sales", "chat"))
    assert [type(e).__name__ for e in out if isinstance(e, ev.ContactOffered)] == ["ContactOffered"]
    with pytest.raises(UnknownAgent):
        await runner.submit(lambda now: c.Login(now, "ghost"))
    async with aiohttp.ClientSession() as http:
        async with http.get(url(server, "/v1/queues"), headers=AUTH) as r:
            q = (await r.json())["queues"][0]
            assert (q["ringing"], q["offered"]) == (1, 1)
        async with http.get(url(server, "/v1/contacts/k1"), headers=AUTH) as r:
            assert (await r.json())["state"] == "offered"
        async with http.get(url(server, "/v1/contacts/nope"), headers=AUTH) as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "unknown-contact"
        async with http.get(url(server, "/metrics")) as r:
            text = await r.text()
    assert 'acd_contacts_offered_total{channel="chat",queue="sales"} 1.0' in text
    assert "acd_decision_seconds_count 1.0" in text
    assert 'acd_agents{presence="offered",queue="sales"} 1.0' in text
    assert runner.refused == 1


async def test_the_ticker_fires_the_offer_timeout(server: Server) -> None:
    events = server.runner.subscribe()
    await server.runner.submit(lambda now: c.Login(now, "a1"))
    await server.runner.submit(lambda now: c.NewContact(now, "k1", "sales", "voice"))

    async def rona() -> ev.OfferEnded:
        while True:
            e = await events.get()
            if isinstance(e, ev.OfferEnded):
                return e

    ended = await asyncio.wait_for(rona(), timeout=5)
    assert (ended.contact_id, ended.reason) == ("k1", "timeout")
    assert server.runner.engine.agents["a1"].status == "not-responding"


async def test_acd_run_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    cfg = tmp_path / "acd.toml"
    cfg.write_text(
        'skills = ["sales"]\n[server]\nlisten = "127.0.0.1:0"\n[asterisk]\nfastagi_listen = "127.0.0.1:0"\n'
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "acd.adapters.daemon.cli",
        "run",
        "--config",
        str(cfg),
        "--log-json",
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    line = await asyncio.wait_for(proc.stderr.readline(), timeout=20)
    assert b"serving on 127.0.0.1:" in line and b'"level": "info"' in line
    # SIGHUP reloads: a broken file is refused (and said so), a good one applied.
    cfg.write_text('skills = ["sales"]\n[queues.q]\nskills = { nope = 1 }\n')
    proc.send_signal(signal.SIGHUP)
    line = await asyncio.wait_for(proc.stderr.readline(), timeout=10)
    assert b"reload refused" in line and b"unknown skill 'nope'" in line
    cfg.write_text(
        'skills = ["sales"]\n[server]\nlisten = "127.0.0.1:0"\n[queues.q]\nskills = { sales = 1 }\n'
    )
    proc.send_signal(signal.SIGHUP)
    line = await asyncio.wait_for(proc.stderr.readline(), timeout=10)
    assert b"reloaded" in line and b"1 queues" in line
    proc.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(proc.stderr.read(), timeout=10)
    assert await proc.wait() == 0
    assert b"stopped: 0 commands" in rest


async def test_openapi_describes_every_route_and_no_other(server: Server) -> None:
    spec = (Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text()
    documented = {line.strip().rstrip(":") for line in spec.splitlines() if line.startswith("  /")}
    served = {r.canonical for r in server.app.router.resources()}
    pages = {*PAGES, "/static"}  # the browser apps: HTML and files, not API (tests/browser)
    assert pages <= served
    assert documented == served - pages
