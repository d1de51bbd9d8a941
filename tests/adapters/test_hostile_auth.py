"""Wrong credentials cannot stall routing or be guessed at speed: tokens are
keyed digests checked on the loop, passwords go to a bounded pool, failures
are limited per client address (429 + Retry-After, WS close 4029), counted
and logged without the secret."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from acd.adapters.daemon.config_file import AcdSettings
from acd.adapters.security.auth import Busy, Verifier
from acd.adapters.security.passwords import hash_password, hash_token, verify_token
from tests.adapters.wsclient import ADMIN, WSClient, pw, session, settings


def token_settings(**limits: object) -> AcdSettings:
    return settings(
        admin_token_hash=hash_token(ADMIN),
        extra={"limits": {"auth_failure_burst": 3, "auth_failures_per_minute": 6, **limits}},
    )


async def test_wrong_admin_tokens_are_limited_per_address_with_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "acd.auth")
    async with session(token_settings()) as s:
        guess = "guess-" + "x" * 30
        statuses = []
        for _ in range(5):
            async with s.http.get(s.url("/v1/queues"), headers={"Authorization": f"Bearer {guess}"}) as r:
                statuses.append(r.status)
                body = await r.json()
                if r.status == 401:
                    assert r.headers["WWW-Authenticate"].startswith("Bearer")
                    assert body["error"]["code"] == "unauthorized"
                else:
                    assert body["error"]["code"] == "rate-limited"
                    assert int(r.headers["Retry-After"]) >= 1
        assert statuses == [401, 401, 401, 429, 429]
        # The right token, scheme in lower case, from an address already known good
        # is not the attacker's: the digest cache lets it through.
        s.server.guard.limit._buckets.clear()
        async with s.http.get(s.url("/v1/queues"), headers={"Authorization": f"bearer {ADMIN}"}) as r:
            assert r.status == 200
        async with s.http.get(s.url("/metrics")) as r:
            text = await r.text()
        assert 'acd_auth_failures_total{kind="admin-token"} 3.0' in text
        assert "acd_auth_rate_limited_total 2.0" in text
    assert guess not in caplog.text and "admin-token from 127.0.0.1" in caplog.text


async def test_wrong_tokens_never_reach_the_password_pool() -> None:
    async with session(token_settings(auth_failure_burst=1000)) as s:
        pool = s.server.verifier
        calls = 0
        real = pool.verify

        async def counting(secret: str, stored: str) -> bool:
            nonlocal calls
            calls += 1 if not stored.startswith("hmac_sha256$") else 0
            return await real(secret, stored)

        pool.verify = counting  # type: ignore[method-assign]
        bad = {"Authorization": "Bearer " + "y" * 40}
        replies = await asyncio.gather(*(s.http.get(s.url("/v1/agents"), headers=bad) for _ in range(50)))
        assert [r.status for r in replies] == [401] * 50
        for r in replies:
            r.release()
        assert calls == 0


async def test_the_password_pool_is_bounded() -> None:
    v = Verifier(workers=1, backlog=2)
    stored = hash_password("right", iterations=50_000)
    try:
        results = await asyncio.gather(*(v.verify("wrong", stored) for _ in range(5)), return_exceptions=True)
    finally:
        v.close()
    assert sum(isinstance(r, Busy) for r in results) == 3
    assert [r for r in results if not isinstance(r, Busy)] == [False, False]


def test_token_digests_verify_in_constant_form() -> None:
    h = hash_token("a-long-machine-token")
    assert verify_token("a-long-machine-token", h) and not verify_token("a-long-machine-tokeN", h)
    assert not verify_token("x", "hmac_sha256$!!$??")


async def test_agent_password_guessing_is_limited_and_closed_with_4029() -> None:
    async with session(token_settings()) as s:
        for _ in range(2):  # each socket allows three failures, the address three in all
            c = WSClient(await s.http.ws_connect(s.url("/v1/agent/ws")))
            await c.expect("hello")
            codes = []
            for _ in range(3):
                reply = await c.request("auth", agent="alice", password="guess")
                codes.append(reply["error"]["code"])
                if reply["error"]["code"] == "rate-limited":
                    break
            msg = await c.ws.receive(timeout=5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert codes == ["rate-limited"] and c.ws.close_code == 4029


async def test_a_session_token_dies_with_logout() -> None:
    async with session() as s:
        c = WSClient(await s.http.ws_connect(s.url("/v1/agent/ws")))
        await c.expect("hello")
        token = (await c.call("auth", agent="alice", password=pw("alice")))["token"]
        await c.call("login")
        await c.call("logout")
        await c.call("logout")  # idempotent
        other = WSClient(await s.http.ws_connect(s.url("/v1/agent/ws")))
        await other.expect("hello")
        reply = await other.request("auth", token=token)
        assert reply["error"]["code"] == "unauthorized"
