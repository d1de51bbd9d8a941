"""Two daemons on one Redis journal: one owns the routing, the other waits;
kill the owner and the standby takes over with every contact in its
place; pause the owner past its lease and its next write is fenced, so it
steps down instead of offering anything twice. Real processes, a real
redis-server."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import aiohttp
import pytest
from redis.exceptions import ResponseError

from acd.adapters.cluster.lease import APPEND, Lease
from tests.adapters.test_durability import Daemon, customer, queue_state

LEASE_MS = 600


def cluster_journal(redis_url: str, key: str, node: str) -> str:
    return (
        f'store = "redis"\nredis_url = "{redis_url}"\nredis_key = "{key}"\n'
        f'[cluster]\nenabled = true\nnode = "{node}"\nlease_ms = {LEASE_MS}'
    )


async def start_standby(d: Daemon) -> None:
    """Start a node that must wait: it says so, and does not serve."""
    d.log = b""
    d.proc = await asyncio.create_subprocess_exec(*d.command(), cwd=d.workdir, stderr=asyncio.subprocess.PIPE)
    await d.read_until(b"standby:")
    assert b"serving on" not in d.log


@asynccontextmanager
async def two_nodes(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[Daemon, Daemon]]:
    """Node a started and owning the routing, node b waiting as its standby;
    both killed at the end, whatever happened."""
    key = f"acd:cluster:{uuid.uuid4().hex}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Daemon(tmp_path / "a", cluster_journal(redis_url, key, "a"))
    b = Daemon(tmp_path / "b", cluster_journal(redis_url, key, "b"))
    try:
        await a.start()
        await start_standby(b)
        yield a, b
    finally:
        for d in (a, b):
            if d.proc is not None and d.proc.returncode is None:
                d.proc.kill()
                await d.proc.wait()


async def test_the_standby_takes_over_a_killed_owner(tmp_path: Path, redis_url: str) -> None:
    async with two_nodes(tmp_path, redis_url) as (a, b), aiohttp.ClientSession() as http:
        ids = []
        for i in range(3):
            _, ack = await customer(http, a, f"waiting {i}")
            ids.append(ack["contact"])
        before = await queue_state(http, a, ids)
        assert before == [("queued", 1), ("queued", 2), ("queued", 3)]
        killed = time.monotonic()
        await a.stop(signal.SIGKILL)
        await b.read_until(b"serving on")
        assert time.monotonic() - killed < LEASE_MS / 1000 + 5  # the lease lapses, then a short replay
        assert b"node b owns the routing" in b.log
        assert await queue_state(http, b, ids) == before  # every one in its place, on the other node


async def test_a_paused_owner_is_fenced_and_steps_down(tmp_path: Path, redis_url: str) -> None:
    async with two_nodes(tmp_path, redis_url) as (a, b), aiohttp.ClientSession() as http:
        assert a.proc is not None
        a.proc.send_signal(signal.SIGSTOP)  # a long GC pause, a frozen VM
        await b.read_until(b"serving on")  # the lease lapsed: b owns it now
        _, ack = await customer(http, b, "hello b")
        a.proc.send_signal(signal.SIGCONT)
        code = await asyncio.wait_for(a.proc.wait(), 10)
        assert code == 3  # it stepped down: its lease renewal (or its next write) was refused
        assert await queue_state(http, b, [ack["contact"]]) == [("queued", 1)]


def test_the_fence_refuses_a_deposed_owners_appends(redis_url: str) -> None:
    """The lease and the fenced append, against Redis itself."""
    key = f"acd:fence:{uuid.uuid4().hex}"
    a, b = Lease(redis_url, key, "a", 10_000), Lease(redis_url, key, "b", 10_000)
    try:
        assert a.try_acquire() == 1 and b.try_acquire() == 0 and b.owner() == "a"
        assert a.try_acquire() == 1  # acquiring again while it holds: the same token
        assert a.r.eval(APPEND, 2, key, a.fence_key, a.token, b"one") is not None
        a.r.delete(a.lease_key)  # the lease lapses (as PX would make it)
        assert b.try_acquire() == 2
        with pytest.raises(ResponseError, match="FENCED"):
            a.r.eval(APPEND, 2, key, a.fence_key, a.token, b"two")
        assert not a.renew()
        assert b.r.eval(APPEND, 2, key, b.fence_key, b.token, b"three") is not None
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], b.r.xrange(key))
        assert [f[b"r"] for _, f in entries] == [b"one", b"three"]  # nothing of a's after b began
        b.release()
        assert b.owner() is None and a.try_acquire() == 3  # a clean stop hands over at once
    finally:
        a.close()
        b.close()
