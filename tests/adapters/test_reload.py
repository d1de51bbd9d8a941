"""Hot reload through the running daemon: POST /v1/admin/reload applies a good
file without dropping anyone, and refuses a bad one with every problem."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from acd.adapters.daemon.config_file import load
from acd.adapters.daemon.server import Server
from acd.adapters.security.passwords import hash_password
from tests.adapters.wsclient import ADMIN, Session, pw

BASE = """
skills = ["sales", "support"]
fallback_queue = "support"
[server]
listen = "127.0.0.1:0"
admin_token_hash = "{admin}"
[queues.support]
channels = ["chat"]
skills = {{ support = 1 }}
{extra}
[agents.bob]
profile = "chat"
skills = {{ sales = 1, support = 3 }}
queues = {{ support = 1{member} }}
password_hash = "{bob}"
"""
SALES_STRICT = """
[queues.sales]
channels = ["chat"]
skills = { sales = 4 }
"""
SALES_RELAXED = """
[queues.sales]
channels = ["chat"]
skills = { sales = 1 }
"""


def write(path: Path, extra: str, hashes: dict[str, str]) -> None:
    path.write_text(BASE.format(extra=extra, member=", sales = 2" if extra else "", **hashes))


@asynccontextmanager
async def reloadable(tmp_path: Path) -> AsyncIterator[tuple[Session, Path, dict[str, str]]]:
    """The daemon started from a file (strict sales) that the test edits and reloads."""
    hashes = {
        "admin": hash_password(ADMIN, iterations=1000),
        "bob": hash_password(pw("bob"), iterations=1000),
    }
    cfg = tmp_path / "acd.toml"
    write(cfg, SALES_STRICT, hashes)
    server = Server(load(cfg), port=0, agi_port=0)
    await server.start()
    s = Session(server)
    try:
        yield s, cfg, hashes
    finally:
        await s.close()
        await server.stop()


async def test_every_reload_attempt_is_logged_and_a_failing_one_leaves_the_handler_alive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A reload refused over REST leaves a log line; one that fails with
    something other than a config error (here a bug halfway through) is
    logged with its traceback, and the next reload still works."""
    caplog.set_level(logging.INFO, "acd.server")
    async with reloadable(tmp_path) as (s, cfg, hashes):
        server = s.server
        cfg.write_text(cfg.read_text().replace("sales = 4", "sales = 9"))
        status, _ = await s.post("/v1/admin/reload")
        assert status == 422 and "reload refused" in caplog.text
        write(cfg, SALES_STRICT, hashes)
        surveys = server.surveys
        server.surveys = None  # type: ignore[assignment]  # a bug: the reload trips over it halfway
        status, body = await s.post("/v1/admin/reload")
        assert status == 500 and body["error"]["code"] == "internal-error"
        assert "reload failed" in caplog.text
        server.surveys = surveys
        status, body = await s.post("/v1/admin/reload")
        assert status == 200 and "reloaded" in caplog.text


async def test_reload_applies_good_files_and_refuses_bad_ones(tmp_path: Path) -> None:
    async with reloadable(tmp_path) as (s, cfg, hashes):
        server = s.server
        bob = await s.agent("bob")
        cust, cid = await s.customer("sales", "needs a sales expert")
        assert not bob.seen("offer")
        # A bad file: every problem reported, nothing changes.
        cfg.write_text(
            cfg.read_text().replace("sales = 4", "sales = 9").replace('profile = "chat"', 'profile = "x"')
        )
        status, body = await s.post("/v1/admin/reload")
        assert status == 422 and body["error"]["code"] == "invalid-config"
        problems = " ".join(body["error"]["problems"])
        assert "queues.sales.skills.sales" in problems and "unknown profile 'x'" in problems
        assert server.runner.engine.queues["sales"].skills == {"sales": 4}
        # Relaxing the requirement reaches the contact already waiting.
        write(cfg, SALES_RELAXED, hashes)
        status, body = await s.post("/v1/admin/reload")
        assert (status, body["reloaded"]) == (200, True)
        offer = await bob.expect("offer", contact=cid)
        assert offer["decision"]["trigger"] == "reconfigured"
        await bob.call("accept", contact=cid)
        # Removing the queue keeps the conversation (it is not dropped).
        write(cfg, "", hashes)
        status, body = await s.post("/v1/admin/reload")
        assert status == 200 and "sales" not in server.runner.engine.queues
        await cust.call("message", text="still there?")
        assert (await bob.expect("message", contact=cid))["text"] == "still there?"
        assert server.runner.engine.contacts[cid].queue == "support"  # relabelled to the fallback
        # Removing a logged-in agent with no conversation ends its session.
        await bob.call("end", contact=cid)  # support has no wrap-up: done at once
        cfg.write_text(cfg.read_text().split("[agents.bob]")[0])
        status, body = await s.post("/v1/admin/reload")
        assert status == 200 and body["agents"] == 0
        assert (await bob.expect("bye"))["reason"] == "removed"
