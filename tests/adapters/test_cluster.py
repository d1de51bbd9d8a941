"""Two daemons on one Redis journal: one owns the routing, the other waits;
kill the owner and the standby takes over with every contact in its
place; pause the owner past its lease and its next write is fenced, so it
steps down instead of offering anything twice. Real processes, a real
redis-server."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import signal
import subprocess
import time
import tomllib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from redis.exceptions import ResponseError

from acd.adapters.cluster.lease import APPEND, Lease
from acd.adapters.web.peers import FORWARDED_FOR, PEER
from tests.adapters.test_durability import Daemon, customer, free_port, queue_state
from tests.adapters.wsclient import WSClient

LEASE_MS = 600


def cluster_journal(redis_url: str, key: str, node: str) -> str:
    return (
        f'store = "redis"\nredis_url = "{redis_url}"\nredis_key = "{key}"\n'
        f'[cluster]\nenabled = true\nnode = "{node}"\nlease_ms = {LEASE_MS}\n'
        # Every test client is 127.0.0.1 (forwarded or not): the limits of one address are not the point here.
        "[limits]\nchat_starts_per_minute = 100000\nchat_start_burst = 100000"
    )


async def start_standby(d: Daemon) -> None:
    """Start a node that must wait: it says so once it listens (forwarding),
    and does not serve as an owner."""
    await d.start(until=b"takes over when its lease lapses")
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
            await d.reap()


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


# ---------------------------------------------------------------- forwarding


async def ready_as(http: aiohttp.ClientSession, d: Daemon) -> dict[str, Any]:
    async with http.get(d.url("/readyz")) as r:
        body: dict[str, Any] = await r.json()
        return body


async def closed_with(c: WSClient) -> int | None:
    """The close code of a socket (frames before it are kept, unread)."""
    while True:
        msg = await c.ws.receive(timeout=10)
        if msg.type == aiohttp.WSMsgType.CLOSE:  # the code as sent (our reply may find the socket gone)
            return int(msg.data)
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return c.ws.close_code
        if msg.type == aiohttp.WSMsgType.ERROR:
            return None


@dataclass
class DomainLoad:
    """One routing domain's steady state: Alice on one chat, away; three waiting."""

    token: str
    served: dict[str, Any]
    waiting: list[str]
    desk: WSClient
    page: WSClient


async def domain_load(
    http: aiohttp.ClientSession, desk_via: Daemon, page_via: Daemon, also_via: Daemon, label: str
) -> DomainLoad:
    """Alice's desktop through ``desk_via``, her customer's page through
    ``page_via``, the waiting customers through it and ``also_via``."""
    desk = WSClient(await http.ws_connect(desk_via.url("/v1/agent/ws")))
    await desk.expect("hello")
    token = (await desk.call("auth", agent="alice", password="alice-pw"))["token"]
    await desk.call("login")
    page, served = await customer(http, page_via, f"hello {label}")
    await desk.expect("offer", contact=served["contact"])
    await desk.call("accept", contact=served["contact"])
    await desk.call("message", contact=served["contact"], text=f"hi {label}")
    await page.expect("message", text=f"hi {label}")
    await page.call("message", text=f"one {label}")
    await desk.expect("message", text=f"one {label}")
    await desk.call("away", reason="lunch")
    waiting = []
    for i, via in enumerate((page_via, also_via, page_via)):
        _, ack = await customer(http, via, f"waiting {label} {i}")
        waiting.append(ack["contact"])
    return DomainLoad(token, served, waiting, desk, page)


async def owns(d: Daemon) -> Daemon:
    await d.read_until(b"serving on")
    return d


async def test_three_nodes_two_domains_lose_a_node_and_nothing_else(tmp_path: Path, redis_url: str) -> None:
    """Every node serves both domains (a forwarding standby or the owner);
    clients are spread over the nodes. Kill node 1 (the owner of east, a
    standby of west): east gets a new owner within the lease and a replay,
    every waiting contact keeps its place, the connected chat goes on over
    the same node's address with its tokens, in order, nothing offered
    twice; west, whose owner lives, loses nothing and keeps its owner."""
    keys = {dom: f"acd:{dom}:{uuid.uuid4().hex}" for dom in ("east", "west")}
    nodes: dict[tuple[str, str], Daemon] = {}
    for n in ("n1", "n2", "n3"):
        for dom, key in keys.items():
            (tmp_path / f"{n}-{dom}").mkdir()
            nodes[n, dom] = Daemon(tmp_path / f"{n}-{dom}", cluster_journal(redis_url, key, n))
    try:
        await nodes["n1", "east"].start()
        await nodes["n2", "west"].start()
        for n, dom in (("n2", "east"), ("n3", "east"), ("n1", "west"), ("n3", "west")):
            await start_standby(nodes[n, dom])
        async with aiohttp.ClientSession() as http:
            assert (await ready_as(http, nodes["n3", "east"]))["owner"] == "n1"
            east = await domain_load(
                http, nodes["n2", "east"], nodes["n3", "east"], nodes["n1", "east"], "east"
            )
            west = await domain_load(
                http, nodes["n1", "west"], nodes["n3", "west"], nodes["n2", "west"], "west"
            )
            east_before = await queue_state(http, nodes["n3", "east"], east.waiting)
            west_before = await queue_state(http, nodes["n3", "west"], west.waiting)
            assert east_before == west_before == [("queued", 1), ("queued", 2), ("queued", 3)]

            killed = time.monotonic()
            await asyncio.gather(*(nodes["n1", dom].stop(signal.SIGKILL) for dom in keys))
            contenders = [asyncio.create_task(owns(nodes[n, "east"])) for n in ("n2", "n3")]
            done, others = await asyncio.wait(contenders, return_when=asyncio.FIRST_COMPLETED)
            took_over = time.monotonic() - killed
            for t in others:
                t.cancel()
            new_owner = done.pop().result()
            assert took_over < LEASE_MS / 1000 + 3  # lease + replay (the 2 s target: bench_cluster.py)
            standby = nodes["n3", "east"] if new_owner is nodes["n2", "east"] else nodes["n2", "east"]
            name = (await ready_as(http, new_owner))["node"]
            await standby.read_until(f"standby: forwarding to {name}".encode())
            assert (await ready_as(http, standby))["owner"] == name

            # The sockets east's owner held through other nodes: "come back" (1012).
            assert await closed_with(east.desk) == 1012
            assert await closed_with(east.page) == 1012
            desk = WSClient(await http.ws_connect(nodes["n2", "east"].url("/v1/agent/ws")))
            await desk.expect("hello")
            state = await desk.call("auth", token=east.token)
            assert (state["status"], state["reason"]) == ("away", "lunch")
            (held,) = state["contacts"]
            assert [m["text"] for m in held["transcript"]] == ["hello east", "hi east", "one east"]
            page = WSClient(await http.ws_connect(nodes["n3", "east"].url("/v1/chat/ws")))
            await page.expect("hello")
            resumed = await page.call("resume", token=east.served["resume_token"])
            assert [m["text"] for m in resumed["transcript"]] == ["hello east", "hi east", "one east"]
            await page.call("message", text="two east")
            assert (await desk.expect("message", contact=held["contact"]))["text"] == "two east"
            await desk.call("message", contact=held["contact"], text="answer east")
            await page.expect("message", text="answer east")
            assert await queue_state(http, nodes["n3", "east"], east.waiting) == east_before
            await desk.call("available")
            first = await desk.expect("offer")
            assert first["contact"] == east.waiting[0]  # the head of the line, once
            await desk.call("accept", contact=first["contact"])
            offered = [f["contact"] for f in desk.seen("offer")] + [first["contact"]]
            assert len(offered) == len(set(offered)) and set(offered) <= set(east.waiting)

            # West: its owner lives; Alice's desktop came through node 1 and comes back through node 3.
            assert await closed_with(west.desk) in (None, 1006, 1012)
            assert (await ready_as(http, nodes["n2", "west"]))["role"] == "owner"
            desk_w = WSClient(await http.ws_connect(nodes["n3", "west"].url("/v1/agent/ws")))
            await desk_w.expect("hello")
            state = await desk_w.call("auth", token=west.token)
            (held,) = state["contacts"]
            assert held["contact"] == west.served["contact"] and held["state"] == "connected"
            await west.page.call("message", text="two west")  # its page never moved
            await desk_w.expect("message", text="two west")
            assert await queue_state(http, nodes["n3", "west"], west.waiting) == west_before
            assert b"stepping down" not in nodes["n2", "west"].log
            for c in (desk, page, desk_w, west.page):
                await c.ws.close()
    finally:
        for d in nodes.values():
            await d.reap()


async def test_a_standby_forwards_and_only_a_peer_names_the_client(tmp_path: Path, redis_url: str) -> None:
    """Through a standby: its own health, the owner's answers and cookies
    for the client who asked only, and the client's address as the
    forwarder saw it. The owner believes a forwarded address only with the
    peer secret; a client's own X-ACD-* headers change nothing."""
    async with two_nodes(tmp_path, redis_url) as (a, b):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(b.url("/healthz")) as r:
                assert (await r.json())["role"] == "standby"
            assert await ready_as(http, b) == {"ready": True, "role": "standby", "node": "b", "owner": "a"}
            assert (await ready_as(http, a))["role"] == "owner"
            body = {"role": "agent", "user": "alice", "password": "alice-pw"}
            async with http.post(b.url("/v1/session"), json=body) as r:
                assert r.status == 200 and "HttpOnly" in r.headers["Set-Cookie"]
            async with http.get(b.url("/v1/session")) as r:  # the cookie came back through b
                assert (await r.json())["user"] == "alice"
        async with aiohttp.ClientSession() as other:  # b kept no cookie of Alice's for anyone else
            async with other.get(b.url("/v1/session")) as r:
                assert r.status == 401
            forged = {FORWARDED_FOR: "10.6.6.6", PEER: "guess", "Authorization": "Bearer wrong"}
            async with other.get(b.url("/v1/queues"), headers=forged) as r:
                assert r.status == 401
            await a.read_until(b"authentication failed: admin-token from 127.0.0.1")
            async with other.get(a.url("/v1/queues"), headers=forged) as r:
                assert r.status == 401
            key = tomllib.loads((a.workdir / "acd.toml").read_text())["journal"]["redis_key"]
            lease = Lease(redis_url, key, "probe", LEASE_MS)
            try:
                secret = lease.peer_secret()
            finally:
                lease.close()
            peer = {FORWARDED_FOR: "10.7.7.7", PEER: secret, "Authorization": "Bearer wrong"}
            async with other.get(a.url("/v1/queues"), headers=peer) as r:
                assert r.status == 401
            await a.read_until(b"authentication failed: admin-token from 10.7.7.7")
            assert b"10.6.6.6" not in a.log
            async with other.get(b.url("/metrics")) as r:
                text = await r.text()
            assert "acd_cluster_owner 0" in text and 'acd_forwarded_total{kind="requests"} 4' in text


def own_redis(port: int, workdir: Path) -> subprocess.Popen[str]:
    """A redis-server of this test's own (it restarts it), persisting as a
    production one must: an append-only file, fsynced on every write."""
    exe = shutil.which("redis-server")
    assert exe is not None
    workdir.mkdir(exist_ok=True)
    args = ["--port", str(port), "--bind", "127.0.0.1", "--appendonly", "yes", "--appendfsync", "always"]
    proc = subprocess.Popen(
        [exe, *args, "--save", "", "--dir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Ready to accept connections" in line:
            return proc
    raise AssertionError("redis-server did not start")


def stop_redis(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


async def test_while_redis_restarts_the_owner_routes_on_bounded_and_keeps_its_lease(tmp_path: Path) -> None:
    """docs/cluster.md: Redis away, the owner keeps routing from memory and
    takes new contacts until [journal] outage_bytes wait unwritten, then
    refuses them (503 journal-unavailable); /readyz says so. Redis back
    (after longer than the lease), the owner writes what it kept and
    renews its lease before the standby may take it; then nothing it
    accepted is lost, even when it dies."""
    port = free_port()
    redis = own_redis(port, tmp_path / "redis")
    url = f"redis://127.0.0.1:{port}/0"
    key = f"acd:outage:{uuid.uuid4().hex}"
    table = cluster_journal(url, key, "{node}").replace("\n[cluster]", "\noutage_bytes = 4000\n[cluster]")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Daemon(tmp_path / "a", table.replace("{node}", "a"))
    b = Daemon(tmp_path / "b", table.replace("{node}", "b"))
    try:
        await a.start()
        await start_standby(b)
        async with aiohttp.ClientSession() as http:
            accepted = [(await customer(http, a, "before"))[1]["contact"]]
            stop_redis(redis)
            refused = None
            for i in range(40):  # each new chat leaves ~0.5 KB unwritten: a few, then refused
                page = WSClient(await http.ws_connect(a.url("/v1/chat/ws")))
                await page.expect("hello")
                reply = await page.request("start", queue="sales", text=f"during {i}")
                await page.ws.close()
                if reply["type"] == "error":
                    refused = reply["error"]["code"]
                    break
                accepted.append(reply["contact"])
            assert refused == "journal-unavailable" and len(accepted) > 2
            assert (await ready_as(http, a))["ready"] is False
            await b.read_until(b"cannot reach Redis")
            await asyncio.sleep(LEASE_MS / 1000 * 1.5)  # the outage outlasts the lease
            redis = own_redis(port, tmp_path / "redis")
            await a.read_until(b"journal " + key.encode() + b": writing again")
            await a.read_until(b"still owns the routing")
            assert (await ready_as(http, a))["ready"] is True
            accepted.append((await customer(http, a, "after"))[1]["contact"])
            assert b"node b owns the routing" not in b.log
            await a.stop(signal.SIGKILL)
            await b.read_until(b"serving on")
            places = await queue_state(http, b, accepted)
            assert places == [("queued", i + 1) for i in range(len(accepted))]
    finally:
        for d in (a, b):
            await d.reap()
        stop_redis(redis)


async def test_a_rolling_restart_of_every_node_under_load_loses_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    """Three nodes; customers keep arriving through all of them (a client
    tries the next node when one is away, as a load balancer would); each
    node in turn is stopped (SIGTERM: it hands over at once) and started
    again. Every contact acknowledged is queued at the end, once, in the
    order it was acknowledged."""
    key = f"acd:rolling:{uuid.uuid4().hex}"
    nodes = []
    for n in ("n1", "n2", "n3"):
        (tmp_path / n).mkdir()
        nodes.append(Daemon(tmp_path / n, cluster_journal(redis_url, key, n)))
    acked: list[str] = []
    attempts = {"failed": 0}
    stop, progress = asyncio.Event(), asyncio.Event()

    async def arrivals(http: aiohttp.ClientSession) -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            d = nodes[i % 3]
            try:
                page = WSClient(await http.ws_connect(d.url("/v1/chat/ws")))
                try:
                    await page.expect("hello")
                    reply = await page.request("start", queue="sales", text=f"arrival {i}")
                finally:
                    await page.ws.close()
            except (aiohttp.ClientError, OSError, AssertionError, TimeoutError):
                attempts["failed"] += 1  # that node is restarting, or its owner changing: the next one
                continue
            if reply["type"] == "ack":
                acked.append(reply["contact"])
                progress.set()

    try:
        await nodes[0].start()
        for d in nodes[1:]:
            await start_standby(d)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            load = asyncio.create_task(arrivals(http))
            try:
                for i, d in enumerate(nodes):
                    before = len(acked)
                    await d.stop(signal.SIGTERM)
                    assert d.proc is not None and d.proc.returncode == 0
                    rest = [x for x in nodes if x is not d]
                    if i == 0 or d.log.find(b"serving on") >= 0:  # it owned the routing: another takes over
                        waits = [asyncio.create_task(x.read_until(b"serving on")) for x in rest]
                        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                        for t in pending:
                            t.cancel()
                        await asyncio.gather(*pending, return_exceptions=True)
                    await start_standby(d)
                    while len(acked) < before + 5:  # the load goes on through the change
                        progress.clear()
                        await asyncio.wait_for(progress.wait(), 30)
            finally:
                stop.set()
                await load
            owner = next(d for d in nodes if b"serving on" in d.log)
            places = await queue_state(http, owner, acked)
            # All there, once, in order (a start whose answer was lost in a
            # change of owner may stand between two: the client saw an error).
            assert len(set(acked)) == len(acked) >= 15
            assert {state for state, _ in places} == {"queued"}
            positions = [pos for _, pos in places]
            assert positions == sorted(positions) and len(set(positions)) == len(positions)
    finally:
        for d in nodes:
            await d.reap()
