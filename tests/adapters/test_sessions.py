"""Browser logins over real HTTP: the cookie's attributes, CSRF on every
change, roles and queues of supervisors, an agent's cookie opening its
desktop socket and nothing else, logout, the pages' security headers."""

from __future__ import annotations

from dataclasses import replace

import aiohttp

from acd.adapters.daemon.config_file import AcdSettings, SurveySettings, parse
from acd.adapters.daemon.snapshots import compact_other
from acd.adapters.durable.recovery import Recovered
from acd.adapters.security.auth import AuthGuard, Verifier
from acd.adapters.security.passwords import hash_password
from acd.adapters.web.sessions import MAX_SESSIONS, Sessions
from acd.engine import Engine
from acd.settings import default_config
from tests.adapters.wsclient import WSClient, running


def centre() -> AcdSettings:
    pw = {n: hash_password(f"{n}-pw", iterations=1000) for n in ("alice", "ada", "sam")}
    return parse(
        {
            "skills": ["s"],
            "server": {"listen": "127.0.0.1:0"},
            "queues": {"sales": {"channels": ["chat"]}, "support": {"channels": ["chat"]}},
            "agents": {
                "alice": {"profile": "chat", "queues": {"sales": 1}, "password_hash": pw["alice"]},
                "bob": {"profile": "chat", "queues": {"support": 1}},
            },
            "supervisors": {
                "ada": {"password_hash": pw["ada"], "role": "admin"},
                "sam": {"password_hash": pw["sam"], "queues": ["support"]},
            },
        },
        "sessions.toml",
        env={},
    )


def browser_like() -> aiohttp.ClientSession:
    """A client that keeps cookies of an IP-addressed host, as a browser does."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def log_in(http: aiohttp.ClientSession, base: str, role: str, user: str) -> dict[str, object]:
    body = {"role": role, "user": user, "password": f"{user}-pw"}
    async with http.post(f"{base}/v1/session", json=body) as r:
        assert r.status == 200, await r.text()
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
        return dict(await r.json())


async def test_a_supervisor_session_reads_and_changes_with_its_csrf_token() -> None:
    async with running(centre()) as server, browser_like() as http:
        base = f"http://127.0.0.1:{server.bound_port}"
        async with http.get(f"{base}/v1/queues") as r:
            assert r.status == 403  # no admin token configured, no session: admin-disabled
        ada = await log_in(http, base, "supervisor", "ada")
        assert ada["role"] == "admin" and ada["queues"] == []
        async with http.get(f"{base}/v1/queues") as r:
            assert r.status == 200 and len((await r.json())["queues"]) == 2
        async with http.post(f"{base}/v1/agents/alice/logout", json={}) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (403, "csrf-refused")
        csrf = {"X-CSRF-Token": str(ada["csrf"])}
        async with http.post(f"{base}/v1/agents/alice/logout", json={}, headers=csrf) as r:
            assert r.status == 200
        async with http.get(f"{base}/v1/session") as r:
            assert (await r.json())["user"] == "ada"
        async with http.delete(f"{base}/v1/session") as r:
            assert r.status == 403  # a logout is a change too
        async with http.delete(f"{base}/v1/session", headers=csrf) as r:
            assert r.status == 200
        async with http.get(f"{base}/v1/queues") as r:
            assert r.status == 403  # the session is gone


async def test_a_supervisor_limited_to_a_queue_sees_and_acts_on_it_only() -> None:
    async with running(centre()) as server, browser_like() as http:
        base = f"http://127.0.0.1:{server.bound_port}"
        sam = await log_in(http, base, "supervisor", "sam")
        csrf = {"X-CSRF-Token": str(sam["csrf"])}
        async with http.get(f"{base}/v1/queues") as r:
            assert [q["name"] for q in (await r.json())["queues"]] == ["support"]
        async with http.get(f"{base}/v1/agents") as r:
            assert [a["id"] for a in (await r.json())["agents"]] == ["bob"]
        async with http.post(f"{base}/v1/agents/alice/away", json={}, headers=csrf) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (403, "forbidden")
        async with http.post(f"{base}/v1/admin/reload", headers=csrf) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (403, "forbidden")  # admins only


async def test_an_agent_cookie_opens_its_desktop_and_nothing_else() -> None:
    async with running(centre()) as server, browser_like() as http:
        base = f"http://127.0.0.1:{server.bound_port}"
        wrong = {"role": "agent", "user": "alice", "password": "no"}
        async with http.post(f"{base}/v1/session", json=wrong) as r:
            assert r.status == 401 and "Set-Cookie" not in r.headers
        await log_in(http, base, "agent", "alice")
        async with http.get(f"{base}/v1/agents") as r:
            assert r.status == 403  # an agent is not a supervisor
        desk = WSClient(await http.ws_connect(f"{base}/v1/agent/ws"))
        await desk.expect("hello")
        state = await desk.call("auth", cookie=True)
        assert state["agent"] == "alice" and state["desktop"]["dispositions"] == {"sales": []}
        await desk.ws.close()
        async with aiohttp.ClientSession() as stranger:  # no cookie
            other = WSClient(await stranger.ws_connect(f"{base}/v1/agent/ws"))
            await other.expect("hello")
            refused = await other.request("auth", cookie=True)
            assert refused["error"]["code"] == "unauthorized"
            await other.ws.close()


async def test_the_pages_carry_a_strict_content_security_policy() -> None:
    async with running(centre()) as server, browser_like() as http:
        base = f"http://127.0.0.1:{server.bound_port}"
        for path in ("/", "/agent", "/supervisor", "/chat"):
            async with http.get(base + path) as r:
                assert r.status == 200 and r.content_type == "text/html"
                csp = r.headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "default-src 'none'" in csp
                assert ("frame-ancestors 'self'" if path == "/chat" else "frame-ancestors 'none'") in csp
                assert r.headers["X-Content-Type-Options"] == "nosniff"
        async with http.get(f"{base}/static/js/agent.js") as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-cache" and "ETag" in r.headers
            etag = r.headers["ETag"]
        async with http.get(f"{base}/static/js/agent.js", headers={"If-None-Match": etag}) as r:
            assert r.status == 304
        async with http.get(f"{base}/static/../config_file.py") as r:
            assert r.status in (403, 404)
        async with http.get(f"{base}/v1/chat/config") as r:
            assert await r.json() == {"queues": ["sales", "support"], "channels": ["chat"]}


async def test_a_session_ends_with_its_account_and_follows_its_role() -> None:
    """A reload (or a restart) that removes an account, or changes a
    supervisor's queues, applies to the browser already logged in."""
    async with running(centre()) as server, browser_like() as http:
        base = f"http://127.0.0.1:{server.bound_port}"
        await log_in(http, base, "supervisor", "sam")
        sam = server.settings.supervisors["sam"]
        server.settings = replace(server.settings, supervisors={"sam": replace(sam, queues=("sales",))})
        async with http.get(f"{base}/v1/queues") as r:
            assert [q["name"] for q in (await r.json())["queues"]] == ["sales"]  # its queues as they are now
        server.settings = replace(server.settings, supervisors={})
        async with http.get(f"{base}/v1/queues") as r:
            assert r.status == 403  # the account is gone: so is its session
        async with http.get(f"{base}/v1/session") as r:
            assert r.status == 401


def test_logins_replayed_after_a_restart_stay_bounded() -> None:
    """A journal (or a snapshot) holding more logins than the daemon keeps:
    the newest MAX_SESSIONS come back, the rest are gone."""
    sessions = Sessions(AuthGuard(1, 1, Verifier(1, 1)), dict, dict, lambda: 3600.0, tls=False)
    logins: list[dict[str, object]] = [
        {"k": "web", "d": f"d{i}", "u": "alice", "r": "agent", "c": "x", "q": []}
        for i in range(MAX_SESSIONS + 5)
    ]
    sessions.replay([*logins, {"k": "web", "d": f"d{MAX_SESSIONS + 4}", "gone": True}])
    assert len(sessions) == MAX_SESSIONS  # the newest logged out, the four oldest evicted
    assert "d3" not in sessions._by_digest and "d4" in sessions._by_digest
    r = Recovered(Engine(default_config()), 0.0, 0.0)
    r.other["web"] = [{**x, "_n": i} for i, x in enumerate(logins)]
    kept = [x for x in compact_other(r, SurveySettings()) if x["k"] == "web"]
    assert [x["d"] for x in kept] == [x["d"] for x in logins[5:]]  # a snapshot keeps as many, the newest
