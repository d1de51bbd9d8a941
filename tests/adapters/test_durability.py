"""Nothing lost: the daemon, killed with SIGKILL or stopped with SIGTERM
under a small load, comes back from its journal with every waiting contact
in its place, transcripts whole, resume and session tokens valid, and
presence as it was. Real processes, real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from acd import journal as framing
from acd import snapshot
from acd.adapters.daemon.snapshots import compact, journaled_routing
from acd.adapters.durable.journal import SEGMENT, DirectoryJournal
from acd.adapters.durable.recovery import recover
from acd.adapters.security.passwords import hash_password, hash_token
from acd.adapters.web.gateways import SIGNATURE, TIMESTAMP, sign
from tests.adapters.wsclient import IDENTITY_SECRET, WSClient, identity_token
from tests.peers.asterisk import Caller, Pbx

ADMIN = "durability-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, port: int, journal: str = 'store = "directory"\npath = "journal"') -> None:
    pw = hash_password("alice-pw", iterations=1000)
    path.write_text(
        f"""
skills = ["sales"]
[server]
listen = "127.0.0.1:{port}"
admin_token_hash = "{hash_token(ADMIN)}"
agent_grace_s = 30
customer_grace_s = 30
[asterisk]
fastagi_listen = ""
[journal]
{journal}
[webchat]
identity_secret = "{IDENTITY_SECRET}"
[queues.sales]
channels = ["chat"]
skills = {{ sales = 1 }}
wrapup_s = 30
[agents.alice]
profile = "chat"
skills = {{ sales = 3 }}
queues = {{ sales = 1 }}
password_hash = "{pw}"
"""
    )


class Daemon:
    """One ``acd run`` process. Its log (stderr) is read all along by a
    task of its own: a daemon that logs much must never block on a full pipe."""

    def __init__(self, workdir: Path, journal: str | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        if journal is None:
            write_config(workdir / "acd.toml", self.port)
        else:
            write_config(workdir / "acd.toml", self.port, journal)
        self.proc: asyncio.subprocess.Process | None = None
        self.log = b""
        self._reader: asyncio.Task[None] | None = None
        self._grew = asyncio.Event()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "acd.adapters.daemon.cli", "run", "--config", "acd.toml"]

    async def start(self, until: bytes = b"serving on") -> None:
        """Start the process; return once its log says ``until``."""
        await self.reap()
        self.log = b""
        self.proc = await asyncio.create_subprocess_exec(
            *self.command(), cwd=self.workdir, stderr=asyncio.subprocess.PIPE
        )
        self._reader = asyncio.create_task(self._read_log(self.proc))
        await self.read_until(until)

    async def _read_log(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            self.log += line
            self._grew.set()
        self._grew.set()  # the end: a waiter sees it

    async def read_until(self, marker: bytes) -> bytes:
        """The log so far, once ``marker`` shows (the daemon logs it)."""
        while marker not in self.log:
            assert self._reader is not None and not self._reader.done(), self.log.decode()
            self._grew.clear()
            await asyncio.wait_for(self._grew.wait(), 30)
        return self.log

    async def stop(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        await asyncio.wait_for(self.proc.wait(), 30)
        await self.reap()

    async def reap(self) -> None:
        """Kill the process if it still runs; wait for it and its log's end."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader
            self._reader = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@asynccontextmanager
async def daemon(workdir: Path, journal: str | None = None) -> AsyncIterator[Daemon]:
    d = Daemon(workdir, journal)
    try:
        yield d
    finally:
        await d.reap()


async def customer(
    http: aiohttp.ClientSession, d: Daemon, text: str, **fields: Any
) -> tuple[WSClient, dict[str, Any]]:
    c = WSClient(await http.ws_connect(d.url("/v1/chat/ws")))
    await c.expect("hello")
    return c, await c.call("start", queue="sales", text=text, **fields)


async def queue_state(http: aiohttp.ClientSession, d: Daemon, ids: list[str]) -> list[Any]:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    out = []
    for cid in ids:
        async with http.get(d.url(f"/v1/contacts/{cid}"), headers=auth) as r:
            body = await r.json()
            out.append((body["state"], body["position"]))
    return out


SNAPSHOT_OFTEN = "\nsnapshot_records = 7"  # several snapshots (real worker processes) under the load


async def waited(http: aiohttp.ClientSession, d: Daemon, cid: str) -> float:
    """How long ``cid`` has waited, by the engine's clock now: a command
    (Alice away for lunch, as she is) moves the engine's time to now first."""
    auth = {"Authorization": f"Bearer {ADMIN}"}
    async with http.post(d.url("/v1/agents/alice/away"), json={"reason": "lunch"}, headers=auth) as r:
        assert r.status in (200, 409), await r.text()
    async with http.get(d.url(f"/v1/contacts/{cid}"), headers=auth) as r:
        return float((await r.json())["waited_s"])


@pytest.fixture(params=["directory", "directory-snapshots", "redis-snapshots"])
def journal(request: pytest.FixtureRequest) -> str:
    """The [journal] table: a directory (snapshot at a clean stop only), the
    same with snapshots every few records, or a stream in a real
    redis-server with them."""
    if request.param == "directory":
        return 'store = "directory"\npath = "journal"'
    if request.param == "directory-snapshots":
        return 'store = "directory"\npath = "journal"' + SNAPSHOT_OFTEN
    url = request.getfixturevalue("redis_url")
    return f'store = "redis"\nredis_url = "{url}"\nredis_key = "acd:test:{uuid.uuid4().hex}"' + SNAPSHOT_OFTEN


async def scripted_load(
    http: aiohttp.ClientSession, d: Daemon
) -> tuple[str, dict[str, Any], list[tuple[WSClient, dict[str, Any]]], WSClient, WSClient]:
    """Alice connected to one chat, then away for lunch; three chats waiting,
    each with a second message. Returns her session token, the served
    chat's ack, the waiting pages with their acks, her desk and the served page."""
    alice = WSClient(await http.ws_connect(d.url("/v1/agent/ws")))
    await alice.expect("hello")
    token = (await alice.call("auth", agent="alice", password="alice-pw"))["token"]
    await alice.call("login")
    li = identity_token({"email": "li@example.com"})
    served, first = await customer(http, d, "hello, order 42", identity_token=li)
    await alice.expect("offer", contact=first["contact"])
    await alice.call("accept", contact=first["contact"])
    await alice.call("message", contact=first["contact"], text="let me look")
    await served.call("message", text="thanks")
    await alice.call("away", reason="lunch")
    waiting = []
    for i in range(3):
        c, ack = await customer(http, d, f"waiting {i}")
        await c.call("message", text=f"still waiting {i}")
        waiting.append((c, ack))
    return token, first, waiting, alice, served


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
async def test_a_restart_loses_nothing(tmp_path: Path, how: int, journal: str) -> None:
    async with daemon(tmp_path, journal) as d, aiohttp.ClientSession() as http:
        await d.start()
        token, first, waiting, _, _ = await scripted_load(http, d)
        ids = [ack["contact"] for _, ack in waiting]
        before = await queue_state(http, d, ids)
        assert before == [("queued", 1), ("queued", 2), ("queued", 3)]
        waited_before, asked_before = await waited(http, d, ids[0]), time.time()
        if SNAPSHOT_OFTEN in journal:
            await d.read_until(b"journal snapshot at")  # at least one, before the end
            async with http.get(d.url("/metrics")) as r:
                written = [
                    x for x in (await r.text()).splitlines() if x.startswith("acd_journal_snapshots_total")
                ]
            assert written and float(written[0].split()[-1]) >= 1

        await d.stop(how)
        if "directory" in journal:  # what the journal holds, read offline
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "acd.adapters.daemon.cli",
                    "replay",
                    "--journal",
                    "journal",
                    "--check",
                ],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert out.returncode == 0, out.stderr
            summary = json.loads(out.stdout)
            assert summary["refused"] == 0 and summary["open_contacts_by_queue"] == {"sales": 4}
            assert summary["conversations"] == 4 and summary["session_tokens"] == 1
        await d.start()  # the same directory: it recovers
        assert b"recovered from the journal" in d.log
        if SNAPSHOT_OFTEN in journal or how == signal.SIGTERM:  # a clean stop writes one too
            assert b"a snapshot and" in d.log

        assert await queue_state(http, d, ids) == before  # every one in its place
        # Engine time went on while the daemon was down: customers were waiting.
        grew, elapsed = await waited(http, d, ids[0]) - waited_before, time.time() - asked_before
        assert elapsed > 0.5 and abs(grew - elapsed) < 0.25
        page = WSClient(await http.ws_connect(d.url("/v1/chat/ws")))
        await page.expect("hello")
        resumed = await page.call("resume", token=waiting[0][1]["resume_token"])
        assert [m["text"] for m in resumed["transcript"]] == ["waiting 0", "still waiting 0"]
        desk = WSClient(await http.ws_connect(d.url("/v1/agent/ws")))
        await desk.expect("hello")
        state = await desk.call("auth", token=token)  # the session token survived
        assert (state["status"], state["reason"]) == ("away", "lunch")
        (held,) = state["contacts"]
        assert held["contact"] == first["contact"] and held["state"] == "connected"
        assert [m["text"] for m in held["transcript"]] == ["hello, order 42", "let me look", "thanks"]
        await desk.call("message", contact=first["contact"], text="back again")
        await desk.call("available")
        offer = await desk.expect("offer")
        assert offer["contact"] == ids[0]  # the head of the line first
        # The conversation that spans the restart goes into the customer's history whole.
        await desk.call("end", contact=first["contact"])
        await desk.call("wrap-up-done", contact=first["contact"])
        auth = {"Authorization": f"Bearer {ADMIN}"}
        async with http.get(d.url("/v1/customers?kind=email&value=li@example.com"), headers=auth) as r:
            li_id = (await r.json())["id"]
        for _ in range(100):  # the record is written by the history writer task, a moment later
            async with http.get(d.url(f"/v1/customers/{li_id}/contacts"), headers=auth) as r:
                past = (await r.json())["contacts"]
            if past:
                break
            await asyncio.sleep(0.05)
        (rec,) = past
        assert rec["contact_id"] == first["contact"] and rec["outcome"] == "answered"
        texts = [m["text"] for m in rec["transcript"]]
        assert texts == ["hello, order 42", "let me look", "thanks", "back again"]
        for c in (page, desk):
            await c.ws.close()


def test_a_torn_last_record_is_cut_off_and_the_rest_read(tmp_path: Path) -> None:
    path = tmp_path / SEGMENT.format(1)
    records: list[dict[str, Any]] = [
        {"k": "start", "now": 1.0, "w": 2.0, "toml": None},
        {"k": "tok", "a": "x", "d": "y"},
    ]
    whole = b"".join(framing.frame(r) for r in records)
    path.write_bytes(whole + framing.frame({"k": "tok", "a": "z", "d": "w"})[:-3])  # torn mid-write
    j = DirectoryJournal(tmp_path)
    j.open()
    assert j.read_from("") == (None, records)
    j.close()
    assert path.read_bytes() == whole
    assert j.path == tmp_path / SEGMENT.format(2)  # this process's records go to a new segment
    damaged = bytearray(whole)
    damaged[-2] ^= 0xFF  # a flipped bit in the last record: its checksum fails
    assert framing.read(bytes(damaged)) == (records[:1], len(framing.frame(records[0])))


async def test_a_call_that_comes_back_after_a_crash_keeps_its_place(tmp_path: Path) -> None:
    """The FastAGI session dies with the process; the dialplan sends the same
    channel (same Uniqueid) back once the ACD is up again: the call is the
    same contact, ahead of a call that arrived after it."""
    agi_port = free_port()
    async with daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        text = (tmp_path / "acd.toml").read_text()
        text = text.replace('fastagi_listen = ""', f'fastagi_listen = "127.0.0.1:{agi_port}"')
        text = text.replace('channels = ["chat"]', 'channels = ["chat", "voice"]')
        (tmp_path / "acd.toml").write_text(text)
        await d.start()
        auth = {"Authorization": f"Bearer {ADMIN}"}
        sup = WSClient(await http.ws_connect(d.url("/v1/supervisor/ws"), headers=auth))
        pbx = Pbx()
        first = Caller(pbx, agi_port, "queue/sales", uniqueid="1700000000.11")
        second = Caller(pbx, agi_port, "queue/sales", uniqueid="1700000000.12")
        queued = []
        for caller in (first, second):
            await caller.start()
            e = await sup.expect("event")
            while e["event"]["type"] != "ContactQueued":
                e = await sup.expect("event")
            queued.append(e["event"]["contact_id"])

        await d.stop(signal.SIGKILL)
        await first.closed.wait()
        await d.start()
        again = Caller(pbx, agi_port, "queue/sales", uniqueid="1700000000.11")  # the dialplan's retry
        await again.start()
        await again.received("SET MUSIC ON default")
        assert b"came back after a restart" in await d.read_until(b"came back")
        async with http.get(d.url("/v1/queues"), headers=auth) as r:
            assert (await r.json())["queues"][0]["waiting"] == 2  # the same contact, not a third
        async with http.get(d.url(f"/v1/contacts/{queued[0]}"), headers=auth) as r:
            assert (await r.json())["position"] == 1  # still ahead of the one that came after
        for c in (first, second, again):
            await c.close()


async def test_survey_tallies_and_gateway_message_ids_survive_a_restart(tmp_path: Path) -> None:
    async with daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        text = (tmp_path / "acd.toml").read_text()
        text = text.replace("wrapup_s = 30", "wrapup_s = 30\nsurvey = true")
        text += '\n[gateways.wechat]\nsecret = "a-gateway-secret-for-tests"\nqueue = "sales"\n'
        (tmp_path / "acd.toml").write_text(text)
        await d.start()
        desk = WSClient(await http.ws_connect(d.url("/v1/agent/ws")))
        await desk.expect("hello")
        await desk.call("auth", agent="alice", password="alice-pw")
        await desk.call("login")
        chat, ack = await customer(http, d, "hi")
        await desk.expect("offer", contact=ack["contact"])
        await desk.call("accept", contact=ack["contact"])
        await desk.call("end", contact=ack["contact"])
        await chat.expect("survey")
        await chat.call("survey", answer=4)
        body = json.dumps({"message_id": "wx-1", "user": "openid-1", "text": "你好"}).encode()
        stamp = str(int(time.time()))
        headers = {TIMESTAMP: stamp, SIGNATURE: sign("a-gateway-secret-for-tests", stamp, body)}
        async with http.post(d.url("/v1/gateways/wechat/messages"), data=body, headers=headers) as r:
            assert r.status == 202

        await d.stop(signal.SIGKILL)
        await d.start()
        auth = {"Authorization": f"Bearer {ADMIN}"}
        async with http.get(d.url("/v1/surveys"), headers=auth) as r:
            assert (await r.json())["queues"]["sales"]["answers"] == 1
        async with http.post(d.url("/v1/gateways/wechat/messages"), data=body, headers=headers) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (409, "replayed")


def test_a_failing_disk_keeps_the_records_and_says_so(tmp_path: Path) -> None:
    """A write that fails (here: the descriptor is read-only) keeps the
    records in memory, marks the journal unhealthy (/readyz), and the next
    write puts exactly the missing bytes on disk."""
    j = DirectoryJournal(tmp_path, fsync="always")
    j.open()
    assert j.read_from("") == (None, [])
    good = j._fd
    assert good is not None
    j._fd = os.open(j.path, os.O_RDONLY)
    j.append({"k": "tok", "a": "a", "d": "1"})
    assert not j.healthy and j.errors == 1
    os.close(j._fd)
    j._fd = good
    j.append({"k": "tok", "a": "b", "d": "2"})
    assert j.healthy
    j.close()
    records, _ = framing.read(j.path.read_bytes())
    assert [r["a"] for r in records] == ["a", "b"]


async def test_a_new_config_that_would_strand_recovered_contacts_is_refused_not_fatal(tmp_path: Path) -> None:
    async with daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        await d.start()
        _, ack = await customer(http, d, "still here?")
        await d.stop(signal.SIGKILL)
        cfg = tmp_path / "acd.toml"
        cfg.write_text(
            cfg.read_text().replace('channels = ["chat"]', 'channels = ["voice"]')
        )  # no more chats
        await d.start()
        assert b"cannot apply to the recovered contacts" in await d.read_until(b"cannot apply")
        page = WSClient(await http.ws_connect(d.url("/v1/chat/ws")))
        await page.expect("hello")
        resumed = await page.call("resume", token=ack["resume_token"])
        assert resumed["contact"] == ack["contact"] and resumed["ended"] is False
        await page.ws.close()


async def test_a_snapshot_and_the_records_after_it_give_the_state_of_them_all(tmp_path: Path) -> None:
    """Record a journal under the scripted load (no snapshots), then cut it
    in two at many points: a snapshot of the first part (what the worker
    writes) plus the rest rebuilds exactly what replaying it all does:
    engine records, conversations, tokens, the history in progress."""
    no_snapshots = 'store = "directory"\npath = "journal"\nsnapshot_records = 0\nsnapshot_interval_s = 0'
    async with daemon(tmp_path, no_snapshots) as d, aiohttp.ClientSession() as http:
        await d.start()
        _, _, _, alice, _ = await scripted_load(http, d)
        await alice.call("available")  # the first waiting chat is offered: an offer in flight too
        await alice.expect("offer")
        await d.stop(signal.SIGKILL)
    whole = DirectoryJournal(tmp_path / "journal")
    (_, records) = whole.read_from("")
    assert not list((tmp_path / "journal").glob("snapshot-*"))

    full = recover(whole, journaled_routing)
    assert full is not None and len(full.engine.contacts) == 4
    for k in sorted({1, 2, *range(3, len(records), 5), len(records) - 1}):
        split = tmp_path / f"split-{k}"
        split.mkdir()
        (split / SEGMENT.format(1)).write_bytes(b"".join(framing.frame(r) for r in records[:k]))
        (split / SEGMENT.format(2)).write_bytes(b"".join(framing.frame(r) for r in records[k:]))
        store = DirectoryJournal(split)
        assert compact(store, "1")["position"] == "1"
        got = recover(store, journaled_routing)
        assert got is not None and got.from_snapshot and got.records == len(records) - k
        assert snapshot.dump(got.engine) == snapshot.dump(full.engine), k
        assert got.open_conversations() == full.open_conversations(), k
        assert (got.tokens, got.history.state(), got.now, got.wall) == (
            full.tokens,
            full.history.state(),
            full.now,
            full.wall,
        ), k


def test_a_damaged_snapshot_falls_back_to_the_one_before(tmp_path: Path) -> None:
    """Snapshots 1 and 2 (a snapshot keeps its predecessor and the segments
    after it); 2 is damaged on disk: recovery starts from 1 and replays
    segment 2 and on; both damaged and segment 1 gone: a clear error."""
    config = 'skills = ["s"]\n[queues.q]\nchannels = ["chat"]\n[agents.a]\nprofile = "chat"\n'
    config += "queues = { q = 1 }\n"
    start = {"k": "start", "now": 0.0, "w": 1000.0, "toml": config}

    def tok(i: int) -> dict[str, Any]:
        return {"k": "tok", "a": "a", "d": f"digest-{i}"}

    d = tmp_path / "j"
    d.mkdir()
    (d / SEGMENT.format(1)).write_bytes(framing.frame(start) + framing.frame(tok(1)))
    (d / SEGMENT.format(2)).write_bytes(framing.frame(tok(2)))
    (d / SEGMENT.format(3)).write_bytes(framing.frame(tok(3)))
    store = DirectoryJournal(d)

    compact(store, "1")
    compact(store, "2")
    assert sorted(p.name for p in d.iterdir()) == [
        SEGMENT.format(2),
        SEGMENT.format(3),
        "snapshot-00000001.bin",
        "snapshot-00000002.bin",
    ]  # segment 1 went with snapshot 2: snapshot 1 is the fallback, segment 2 stays for it
    newest = d / "snapshot-00000002.bin"
    data = bytearray(newest.read_bytes())
    data[20] ^= 0xFF
    newest.write_bytes(bytes(data))
    got = recover(store, journaled_routing)
    assert got is not None and got.tokens == {"a": "digest-3"} and got.records == 2
    (d / "snapshot-00000001.bin").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no snapshot loads"):
        recover(store, journaled_routing)


def three_agents() -> str:
    """Alice, Bob and Carol on chats (three at a time each)."""
    pw = hash_password("alice-pw", iterations=1000)
    return "".join(
        f'\n[agents.{a}]\nprofile = "chat"\nskills = {{ sales = 3 }}\nqueues = {{ sales = 1 }}\n'
        f'password_hash = "{pw}"\n'
        for a in ("alice", "bob", "carol")
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_kill_at_a_random_point_loses_and_duplicates_nothing(tmp_path: Path, seed: int) -> None:
    """Two agents take chats as fast as they are offered (a third is away
    for training) while customers keep arriving, each sending a second
    message; the daemon is killed after a random number of customers were
    answered (snapshots every few records, so some kills hit a worker).
    After the restart: every acknowledged chat is there once, held by at
    most one agent, the waiting ones in the order they arrived, with their
    messages; Carol is still away for training."""
    rnd = random.Random(seed)
    customers = 14
    kill_after = rnd.randint(4, customers)
    async with daemon(tmp_path) as d, aiohttp.ClientSession() as http:
        text = (tmp_path / "acd.toml").read_text()
        text = text[: text.index("[agents.alice]")] + three_agents()
        text = text.replace('path = "journal"', 'path = "journal"' + SNAPSHOT_OFTEN)
        (tmp_path / "acd.toml").write_text(text)
        await d.start()

        async def agent(name: str, away: bool) -> None:
            desk = WSClient(await http.ws_connect(d.url("/v1/agent/ws")))
            await desk.expect("hello")
            await desk.call("auth", agent=name, password="alice-pw")
            await desk.call("login")
            if away:
                await desk.call("away", reason="training")
                return
            while True:
                offer = await desk.expect("offer")
                await desk.call("accept", contact=offer["contact"])

        desks = [asyncio.create_task(agent(n, n == "carol")) for n in ("alice", "bob", "carol")]
        await desks[2]  # Carol is away before the first customer comes
        acked: list[tuple[str, str, str]] = []  # (contact, resume token, first text), in arrival order
        for i in range(customers):
            page, ack = await customer(http, d, f"hello {seed}-{i}")
            await page.call("message", text=f"more {seed}-{i}")
            acked.append((ack["contact"], ack["resume_token"], f"hello {seed}-{i}"))
            if len(acked) == kill_after:
                break
        await d.stop(signal.SIGKILL)
        for t in desks:
            t.cancel()
        await asyncio.gather(*desks, return_exceptions=True)

        await d.start()
        auth = {"Authorization": f"Bearer {ADMIN}"}
        async with http.get(d.url("/v1/queues"), headers=auth) as r:
            (q,) = (await r.json())["queues"]
        assert q["waiting"] + q["ringing"] + q["connected"] == len(acked)  # none lost, none twice
        async with http.get(d.url("/v1/agents"), headers=auth) as r:
            agents = {a["id"]: a for a in (await r.json())["agents"]}
        held = [cid for a in agents.values() for cid in a["contacts"]]
        assert len(held) == len(set(held))  # never with two agents
        assert (agents["carol"]["status"], agents["carol"]["reason"]) == ("away", "training")
        positions = []
        for cid, token, first in acked:
            async with http.get(d.url(f"/v1/contacts/{cid}"), headers=auth) as r:
                assert r.status == 200, cid
                state = await r.json()
            if state["state"] == "queued":
                positions.append(state["position"])
                page = WSClient(await http.ws_connect(d.url("/v1/chat/ws")))
                await page.expect("hello")
                resumed = await page.call("resume", token=token)
                assert [m["text"] for m in resumed["transcript"]] == [first, first.replace("hello", "more")]
                await page.ws.close()
        assert positions == list(range(1, len(positions) + 1))  # in the order they came


async def test_a_browser_login_survives_a_crash(tmp_path: Path) -> None:
    """The agent's page reconnects after a restart with the cookie it has:
    the journal keeps the login (by its digest)."""
    jar = aiohttp.CookieJar(unsafe=True)  # an IP-addressed host, as a browser keeps it
    async with daemon(tmp_path) as d, aiohttp.ClientSession(cookie_jar=jar) as http:
        await d.start()
        body = {"role": "agent", "user": "alice", "password": "alice-pw"}
        async with http.post(d.url("/v1/session"), json=body) as r:
            assert r.status == 200
            csrf = (await r.json())["csrf"]
        await d.stop(signal.SIGKILL)
        await d.start()
        async with http.get(d.url("/v1/session")) as r:
            assert r.status == 200 and (await r.json()) == {
                "user": "alice",
                "role": "agent",
                "queues": [],
                "csrf": csrf,
            }
        desk = WSClient(await http.ws_connect(d.url("/v1/agent/ws")))
        await desk.expect("hello")
        assert (await desk.call("auth", cookie=True))["agent"] == "alice"
        await desk.ws.close()
        async with http.delete(d.url("/v1/session"), headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
        await d.stop(signal.SIGTERM)  # a clean stop: its snapshot keeps the logout
        await d.start()
        async with http.get(d.url("/v1/session")) as r:
            assert r.status == 401
