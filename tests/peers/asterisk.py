"""An Asterisk stand-in for the FastAGI side: callers that open FastAGI
sessions and answer AGI commands the way Asterisk 22 does in the transcripts
of ``tests/fixtures/ami/*.agi.jsonl``, and agent phones that ring, answer,
refuse or stay silent.

What it reproduces, line for line:

* the environment block (``agi_*`` lines in Asterisk's order, from
  transcript 10, with this call's script, channel, uniqueid, caller id and
  arguments), ended by an empty line;
* ``200 result=0`` for ANSWER (after ``answer_delay``: 500 ms on a real
  Local channel), ``SET MUSIC``, ``STREAM FILE`` (with ``endpos``) and
  ``SAY NUMBER``; ``200 result=1`` for ``SET VARIABLE``; ``GET VARIABLE``
  as ``200 result=1 (value)`` or ``200 result=0``; Dial sets ``DIALSTATUS``
  and ``ANSWEREDTIME_MS`` (empty unless answered; 11b's VarSet events); ``510 Invalid or unknown
  command`` otherwise;
* ``EXEC Dial "<endpoint>,<timeout>[,<options>]"``: BUSY / CONGESTION /
  CHANUNAVAIL at once with ``result=0``; NOANSWER after the timeout with
  ``result=0``; answered then ended by the agent: ``result=0`` with the
  ``g`` option (11b), ``result=-1`` and no HANGUP without it (11); ended by
  the caller: ``result=-1`` then ``HANGUP`` 40 ms later (10);
  caller gone while ringing: ``result=-1``, ``HANGUP``, DIALSTATUS CANCEL;
* ``GET DATA <file> <timeout ms> <max>``: the keys this caller presses
  (``keypad``) as ``200 result=4``, ``200 result= (timeout)`` when none,
  ``200 result=-1`` once the caller is gone (res_agi.c ``handle_getdata``;
  not in the transcripts);
* a caller who hangs up while the socket is idle: an unsolicited
  ``HANGUP`` line, the socket stays open and commands still answer;
* the agent's leg of a Dial hung up by AMI ``Hangup``: while ringing the
  Dial returns ``result=0`` (the ACD reads the engine, not DIALSTATUS, then:
  ``CHANUNAVAIL`` here, not captured), while talking as if the agent hung up.

The same class plays an originated agent leg running
``AGI(agi://.../callback/<contact>)`` (:mod:`tests.peers.ami`'s Originate):
then ``hang_up`` is the agent putting the phone down.

The AMI peer (:mod:`tests.peers.ami`) is told about dials and answers so it
can emit DialBegin/DialEnd as Asterisk would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
HANGUP_LAG_S = 0.04  # Asterisk writes HANGUP ~40 ms after a Dial ended by the caller


def transcript_env() -> list[tuple[str, str]]:
    """The environment Asterisk sent in transcript 10, in its order."""
    out = []
    for line in (FIXTURES / "10-fastagi-answered-caller-hangs-up.agi.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["dir"] != "rx":
            break
        data = entry["data"].rstrip("\n")
        if not data:
            break
        key, _, value = data.partition(": ")
        out.append((key.rstrip(":"), value))
    return out


async def first_set(events: tuple[asyncio.Event, ...], timeout: float | None) -> asyncio.Event | None:
    """The first of ``events`` to be set within ``timeout`` (None: forever)."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    _, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return next((e for e in events if e.is_set()), None)


@dataclass
class Phone:
    """An agent's phone. ``mode``: answer, noanswer, busy, congestion.
    ``talk_s`` None: talk until :meth:`hang_up` (the agent ends the call)."""

    endpoint: str
    mode: str = "answer"
    ring_s: float = 0.0
    talk_s: float | None = None
    rings: list[float] = field(default_factory=list)  # when each Dial reached it
    ended: list[float] = field(default_factory=list)  # when each answered call ended
    _hangup: asyncio.Event = field(default_factory=asyncio.Event)

    def hang_up(self) -> None:
        self._hangup.set()


class Pbx:
    """The devices and counters one fake Asterisk shares between its callers
    and its AMI sessions."""

    def __init__(self) -> None:
        self.phones: dict[str, Phone] = {}
        self._seq = itertools.count(1)
        self.epoch = int(time.time())
        # called with (event name, fields) for each dial step, by the AMI peer
        self.listeners: list[Callable[[str, dict[str, str]], None]] = []
        # live channels AMI Hangup can end: name or uniqueid -> how to hang it up
        self.channels: dict[str, Callable[[], None]] = {}

    def seq(self) -> int:
        return next(self._seq)

    def phone(self, endpoint: str, **kw: Any) -> Phone:
        p = Phone(endpoint, **kw)
        self.phones[endpoint] = p
        return p

    def uniqueid(self) -> str:
        return f"{self.epoch}.{next(self._seq)}"

    def tell(self, name: str, **fields: str) -> None:
        for fn in self.listeners:
            fn(name, fields)


class Caller:
    """One call that the dialplan hands to ``agi://host:port/<script>``."""

    def __init__(
        self,
        pbx: Pbx,
        port: int,
        script: str = "queue/sales",
        args: tuple[str, ...] = (),
        callerid: str = "15551230001",
        answer_delay: float = 0.0,
        channel: str | None = None,
        uniqueid: str | None = None,
        keypad: str = "",
    ) -> None:
        self.pbx = pbx
        self.port = port
        self.script = script
        self.args = args
        self.callerid = callerid
        self.answer_delay = answer_delay
        self.keypad = keypad  # what the caller keys at a GET DATA prompt ("": nothing)
        self.uniqueid = pbx.uniqueid()  # the ;1 half (the caller's phone)
        self.agi_uniqueid = uniqueid or pbx.uniqueid()  # the ;2 half running the AGI
        self.channel = channel or f"Local/5000@from-pstn-{int(self.agi_uniqueid.split('.')[1]):08x};2"
        self.commands: list[str] = []
        self.variables: dict[str, str] = {}
        self.dials: list[tuple[str, str]] = []  # (endpoint, DIALSTATUS)
        self.dial_at: list[float] = []  # perf_counter() when each EXEC Dial arrived
        self.closed = asyncio.Event()  # the ACD closed the socket
        self._gone = asyncio.Event()  # the caller hung up
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.dialing = False
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []

    # ------------------------------------------------------------------ API

    async def received(self, command: str, times: int = 1, timeout: float = 5.0) -> None:
        """Wait until the ACD has sent ``command`` ``times`` times so far."""
        if self.commands.count(command) >= times:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((command, times, fut))
        await asyncio.wait_for(fut, timeout)

    async def start(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writer = writer
        request = f"agi://127.0.0.1:{self.port}/{self.script}"
        values = {
            "agi_network_script": self.script,
            "agi_request": request,
            "agi_channel": self.channel,
            "agi_uniqueid": self.agi_uniqueid,
            "agi_callerid": self.callerid,
        }
        lines = []
        for key, value in transcript_env():
            value = values.get(key, value)
            lines.append(f"{key}: {value}" if value or key != "agi_accountcode" else f"{key}: ")
            if key == "agi_threadid":
                lines[-1:-1] = [f"agi_arg_{i}: {a}" for i, a in enumerate(self.args, 1)]
        writer.write(("\n".join(lines) + "\n\n").encode())
        self._task = asyncio.create_task(self._serve(reader, writer))

    def hang_up(self) -> None:
        """The caller puts the phone down."""
        if self._gone.is_set():
            return
        self._gone.set()
        if not self.dialing and self._writer is not None and not self._writer.is_closing():
            self._writer.write(b"HANGUP\n")  # unsolicited, the socket stays open

    async def finished(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        if self._task is not None:
            await self._task

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()

    # ---------------------------------------------------------- AGI server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                cmd = line.decode().rstrip("\n")
                self.commands.append(cmd)
                for text, times, fut in self._waiters:
                    if text == cmd and not fut.done() and self.commands.count(cmd) >= times:
                        fut.set_result(None)
                for out in await self._answer(cmd):
                    writer.write(out.encode() + b"\n")
        finally:
            self.closed.set()
            writer.close()

    async def _answer(self, cmd: str) -> list[str]:
        words = shlex.split(cmd)
        head = " ".join(words[:2]).upper()
        if cmd == "ANSWER":
            if self.answer_delay:
                await asyncio.sleep(self.answer_delay)  # ast_answer waits for a first frame
            return ["200 result=0"]
        if head in {"SET MUSIC", "SAY NUMBER"}:
            return ["200 result=0"]
        if head == "STREAM FILE":
            return ["200 result=0 endpos=8000"]
        if head == "SET VARIABLE" and len(words) >= 4:
            self.variables[words[2]] = words[3]
            return ["200 result=1"]
        if head == "GET VARIABLE" and len(words) == 3:
            value = self.variables.get(words[2])
            return ["200 result=0"] if value is None else [f"200 result=1 ({value})"]
        if head == "GET DATA" and len(words) >= 3:
            if self._gone.is_set():
                return ["200 result=-1"]
            return [f"200 result={self.keypad}"] if self.keypad else ["200 result= (timeout)"]
        if words[:2] == ["EXEC", "Dial"] and len(words) == 3:
            return await self._dial(words[2])
        return ["510 Invalid or unknown command"]

    async def _dial(self, data: str) -> list[str]:
        self.dial_at.append(time.perf_counter())
        endpoint, _, rest = data.partition(",")
        timeout_s, _, options = rest.partition(",")
        timeout = float(timeout_s or 0) or 3600.0
        phone = self.pbx.phones.get(endpoint)
        self.dialing = True
        self.variables["ANSWEREDTIME_MS"] = ""  # set empty by every Dial, filled when answered (11b)
        try:
            status, result = await self._ring(phone, timeout, "g" in options)
        finally:
            self.dialing = False
        self.variables["DIALSTATUS"] = status
        self.dials.append((endpoint, status))
        if result == -1 and self._gone.is_set():
            asyncio.get_running_loop().call_later(HANGUP_LAG_S, self._late_hangup)
        return [f"200 result={result}"]

    def _late_hangup(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(b"HANGUP\n")

    async def _ring(self, phone: Phone | None, timeout: float, go_on: bool) -> tuple[str, int]:
        if phone is None:
            return "CHANUNAVAIL", 0
        if phone.mode == "busy":
            return "BUSY", 0
        if phone.mode == "congestion":
            return "CONGESTION", 0
        phone.rings.append(time.perf_counter())
        dest = f"{phone.endpoint}-{self.pbx.seq():08x}"
        leg_gone = asyncio.Event()  # AMI Hangup of the agent's leg
        self.pbx.channels[dest] = leg_gone.set
        try:
            return await self._ring_leg(phone, dest, leg_gone, timeout, go_on)
        finally:
            del self.pbx.channels[dest]

    async def _ring_leg(
        self, phone: Phone, dest: str, leg_gone: asyncio.Event, timeout: float, go_on: bool
    ) -> tuple[str, int]:
        def tell(name: str, **status: str) -> None:
            self.pbx.tell(name, uniqueid=self.agi_uniqueid, channel=self.channel, dest=dest, **status)

        tell("DialBegin")
        ring_for = timeout if phone.mode == "noanswer" else min(phone.ring_s, timeout)
        first = await first_set((self._gone, leg_gone), ring_for)
        if first is self._gone:
            tell("DialEnd", status="CANCEL")
            return "CANCEL", -1
        if first is leg_gone:
            tell("DialEnd", status="CHANUNAVAIL")
            return "CHANUNAVAIL", 0
        if phone.mode == "noanswer" or phone.ring_s > timeout:
            tell("DialEnd", status="NOANSWER")
            return "NOANSWER", 0
        tell("DialEnd", status="ANSWER")
        phone._hangup.clear()
        answered = time.perf_counter()
        await first_set((phone._hangup, leg_gone, self._gone), phone.talk_s)
        phone.ended.append(time.perf_counter())
        # Asterisk 22's Dial: ANSWEREDTIME_MS = answer to hang-up, in ms (transcript 11b: 22024)
        self.variables["ANSWEREDTIME_MS"] = str(round((phone.ended[-1] - answered) * 1000))
        # The agent hung up: with Dial's g option the caller goes on (result=0,
        # transcript 11b), without it the Dial returns -1 anyway (11), and the
        # caller's channel hangs up too.
        goes_on = go_on and not self._gone.is_set()
        tell("Hangup", caller="on" if goes_on else "gone")
        return "ANSWER", 0 if goes_on else -1
