"""Calls in through FastAGI: each AGI session is one caller waiting in a queue.

The dialplan hands a call over with
``AGI(agi://127.0.0.1:4573/queue/sales?priority=5&lang=en)``. The session
answers, starts music on hold, queues a voice contact, and then does what the
engine decides: when the call is offered to an agent it runs ``EXEC Dial`` of
the agent's endpoint with the queue's offer timeout and turns the outcome into
an engine command:

=========================  ==================================================
Dial outcome               command
=========================  ==================================================
answered, then hung up     Accept (if AMI did not already report the answer),
                           then EndContact, or Abandon if the caller left
NOANSWER / BUSY /          NoAnswer (RONA: the agent goes not-responding, the
CONGESTION / CHANUNAVAIL   call goes back to the head of its queue, MOH again)
CANCEL, or HANGUP          Abandon (queued or ringing)
=========================  ==================================================

Overflow (queue full, maximum wait) sets ``ACD_RESULT=overflow`` and returns
the call to the dialplan, which continues (voicemail, another queue); a
queue closed with ``when_closed = "leave"`` sets ``ACD_RESULT=closed``; a
call handed off as a work item (closed, full, too long) sets
``ACD_RESULT=handoff`` (the dialplan says "we will call you back"); a
caller who asked to be called back leaves with ``ACD_RESULT=callback``
(:mod:`acd.adapters.asterisk.callback`). A call that is not answered by anyone stays
ours until the caller leaves.

With AMI, the engine taking a call away from a ringing or talking agent
(offer withdrawn, call ended or transferred from the desktop) hangs up that
agent's leg, so the phone stops ringing and the Dial returns.

panoramisk's ``fast_agi.Application`` is not used: it routes on the whole
script string (query included), reads one line per command (so Asterisk's
unsolicited ``HANGUP`` becomes the next command's answer) and spins on a
socket closed before the environment ends. :mod:`acd.adapters.asterisk.agi_protocol`
does the protocol; this module owns the sockets. Every session is one task
(the server's connection handler) plus its reader task, which it awaits.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from acd import commands as cmds
from acd import events as ev
from acd.adapters.asterisk.agi_protocol import (
    AgiReply,
    BadRoute,
    HangupNotice,
    ReplyReader,
    parse_request,
    route,
)
from acd.adapters.asterisk.callback import Callbacks
from acd.adapters.daemon.config_file import AsteriskSettings
from acd.adapters.daemon.conversations import Conversation
from acd.adapters.daemon.grace import Graces
from acd.adapters.daemon.hub import Hub
from acd.adapters.daemon.surveys import parse_score
from acd.errors import InvalidRequest, PeerProtocolError
from acd.states import CONNECTED, OFFERED, QUEUED

log = logging.getLogger("acd.fastagi")

ENV_TIMEOUT_S = 5.0  # Asterisk sends the environment at once; a silent peer is not Asterisk
COMMAND_TIMEOUT_S = 120.0  # the longest a prompt or a GET DATA may take before the peer counts as gone
MAX_ENV_BYTES = 16384
SHUTDOWN_WAIT_S = 2.0

# DIALSTATUS → NoAnswer reason; anything else unexpected counts as unavailable.
_NO_ANSWER = {
    "NOANSWER": "no-answer",
    "BUSY": "busy",
    "CONGESTION": "congestion",
    "CHANUNAVAIL": "unavailable",
}


@dataclass(frozen=True, slots=True)
class _Dial:
    agent_id: str


@dataclass(frozen=True, slots=True)
class _Finish:
    result: str  # ACD_RESULT for the dialplan: overflow, shutdown


@dataclass(frozen=True, slots=True)
class _CallerGone:
    """Asterisk said HANGUP or closed the socket."""


@dataclass(frozen=True, slots=True)
class _CalledBack:
    """The caller pressed the callback key: the contact is no longer ours."""


_Intent = _Dial | _Finish | _CallerGone | _CalledBack


class PbxActions(Protocol):
    """What the AMI link does for calls (None without AMI)."""

    connected: bool

    async def originate(self, action: dict[str, Any], timeout_s: float) -> tuple[bool, str]: ...

    def hang_up(self, channel: str) -> None: ...


class AgiClosed(PeerProtocolError):
    code = "agi-closed"


class CallSession:
    """One FastAGI connection: one caller. Commands go out one at a time; the
    reader task hands replies back in order and turns ``HANGUP`` or EOF into
    a :class:`_CallerGone` intent, so a caller who leaves while idle is seen
    at once and one who leaves during a Dial after it returns."""

    def __init__(self, calls: VoiceCalls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.calls = calls
        self.reader = reader
        self.writer = writer
        self.replies = ReplyReader()
        self.intents: asyncio.Queue[_Intent] = asyncio.Queue()
        self.pending: asyncio.Future[AgiReply] | None = None
        self.contact_id: str | None = None
        self.uniqueid: str | None = None
        self.callerid: str | None = None
        self.agi_base = ""  # agi://host:port as Asterisk reached us
        self.queue = ""
        self.dialing: str | None = None  # the agent whose phone rings or talks now
        self.dest_channel: str | None = None  # that agent's channel, from AMI DialBegin
        self.position: int | None = None  # place in line, as the hub last said
        self.gone = False  # the caller hung up
        self.closed = False  # the socket is done: no reply will come

    # ------------------------------------------------------------ protocol

    async def _read_replies(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.replies.feed(data)
                while (item := self.replies.next_event()) is not None:
                    if isinstance(item, HangupNotice):
                        self._caller_gone()
                    elif self.pending is not None and not self.pending.done():
                        self.pending.set_result(item)
                    else:
                        log.warning("AGI reply with no command pending: %s", item.text[:80])
        except (ConnectionError, PeerProtocolError) as e:
            log.warning("AGI session %s: %s", self.uniqueid, e)
        finally:
            self.closed = True
            self._caller_gone()
            if self.pending is not None and not self.pending.done():
                self.pending.set_exception(AgiClosed("Asterisk closed the AGI session"))

    def _caller_gone(self) -> None:
        if not self.gone:
            self.gone = True
            self.intents.put_nowait(_CallerGone())

    async def command(self, line: str, timeout_s: float | None = COMMAND_TIMEOUT_S) -> AgiReply:
        """Send one AGI command, wait for its reply (at most ``timeout_s``:
        Asterisk answers every command but Dial within seconds; a peer that
        does not is treated as gone). O(1)."""
        if self.closed:
            raise AgiClosed("Asterisk closed the AGI session")
        self.pending = asyncio.get_running_loop().create_future()
        self.writer.write(line.encode() + b"\n")
        try:
            return await asyncio.wait_for(asyncio.shield(self.pending), timeout_s)
        except TimeoutError:
            self.closed = True
            raise AgiClosed(f"no reply to {line.split(' ', 1)[0]} within {timeout_s:g} s") from None

    async def set_variable(self, name: str, value: str) -> None:
        quoted = (
            value if value and value.isprintable() and " " not in value and '"' not in value else f'"{value}"'
        )
        await self.command(f"SET VARIABLE {name} {quoted}")

    # ----------------------------------------------------------- lifecycle

    async def run(self) -> None:
        """Serve the session; on every path, the socket is closed at the end."""
        try:
            try:
                block = await asyncio.wait_for(self.reader.readuntil(b"\n\n"), self.calls.env_timeout_s)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                self.calls.probes += 1
                log.warning("FastAGI connection closed or silent before its environment ended")
                return
            await self._session(block)
        finally:
            self.writer.close()

    async def _session(self, block: bytes) -> None:
        reading = asyncio.create_task(self._read_replies(), name="acd-agi-reader")
        try:
            await self._serve(block.decode("utf-8", "replace"))
        except AgiClosed:
            pass
        except (ConnectionError, PeerProtocolError) as e:
            log.warning("AGI session %s ended: %s", self.uniqueid, e)
        finally:
            await self._forget()
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)

    async def _serve(self, block: str) -> None:
        calls = self.calls
        try:
            req = parse_request(block)
            head, _, leg_of = req.script.partition("/")
            if head == "callback" and leg_of:
                self.uniqueid = req.get("uniqueid")
                await calls.callbacks.serve_leg(self, leg_of)
                return
            call = route(req)
        except (BadRoute, PeerProtocolError) as e:
            log.warning("FastAGI request refused: %s", e)
            await self.refuse(e.code, str(e))
            return
        self.uniqueid = req.get("uniqueid")
        self.callerid = req.get("callerid")
        where = urlsplit(req.env.get("agi_request", ""))
        self.agi_base = f"agi://{where.netloc}" if where.scheme == "agi" and where.netloc else ""
        self.queue = call.queue
        channel = calls.voice_channel(call.queue)
        if channel is None:
            await self.refuse("no-voice-queue", f"queue {call.queue!r} does not exist or takes no voice")
            return
        if self.uniqueid is not None and self.uniqueid in calls.bridged:
            # Bridged to an agent when the old process died: its Dial has
            # returned (this is the dialplan's retry), so the conversation is over.
            self.contact_id = calls.bridged[self.uniqueid]
            make = calls.bridged_ended(self.uniqueid)
            if make is not None:
                await self._submit(make)
            await self.set_variable("ACD_RESULT", "answered")
            return
        if calls.settings.answer:
            await self.command("ANSWER")
        await self._music()
        if self.uniqueid is not None and self.uniqueid in calls.orphans:
            await self._come_back(calls.orphans.pop(self.uniqueid))
            return
        identity = {"phone": call.customer} if req.get("callerid") else {}
        conv = Conversation(
            calls.hub.new_contact_id("call"),
            channel,
            call.queue,
            call.priority,
            call.customer,
            "voice",
            identity=identity,
            attributes=call.attributes,
            sink=self,
        )
        self.contact_id = conv.contact_id
        calls.register(self)
        try:
            await calls.hub.start_contact(conv)
        except InvalidRequest as e:
            await self.refuse(e.code, str(e))
            return
        if calls.callback_offer(call.queue):
            await self._offer_callback()
        await self._wait_and_connect(calls.settings.for_queue(call.queue).announce_every_s)

    async def _come_back(self, contact_id: str) -> None:
        """The same call (its Uniqueid) back after a restart of the ACD: it
        takes its place again, not the back of the line; if it was ringing
        an agent, that agent's phone rings again."""
        calls = self.calls
        calls.graces.cancel(contact_id)
        conv = calls.hub.conversations.get(contact_id)
        self.contact_id = contact_id
        if conv is None or contact_id not in calls.hub.runner.engine.contacts:
            return  # it ended meanwhile (a supervisor, the grace): nothing to wait for
        conv.sink = self
        calls.register(self)
        log.info("call %s came back after a restart: contact %s, in its place", self.uniqueid, contact_id)
        state, holder = self.state()
        if state == OFFERED and holder is not None:
            self.intents.put_nowait(_Dial(holder))
        await self._wait_and_connect(calls.settings.for_queue(self.queue).announce_every_s)

    def deliver(self, conv: Conversation, frame: dict[str, Any]) -> None:
        """The hub's frames for this customer: only the place in line is of
        use on the phone (the hub computes every caller's at once)."""
        if frame["type"] == "position":
            self.position = frame["position"]

    async def _music(self) -> None:
        await self.command(f"SET MUSIC ON {self.calls.settings.for_queue(self.queue).moh_class}")

    async def refuse(self, code: str, message: str) -> None:
        await self.set_variable("ACD_RESULT", "error")
        await self.set_variable("ACD_ERROR", code)
        log.info("call %s sent back to the dialplan: %s", self.uniqueid, message)

    async def _wait_and_connect(self, announce_every_s: float) -> None:
        """Do what the engine decides until the call leaves us."""
        loop = asyncio.get_running_loop()
        next_announce = loop.time() + announce_every_s if announce_every_s > 0 else math.inf
        while True:
            timeout = None if next_announce == math.inf else max(0.0, next_announce - loop.time())
            try:
                intent = await asyncio.wait_for(self.intents.get(), timeout)
            except TimeoutError:
                await self._announce()
                next_announce = loop.time() + announce_every_s
                continue
            if isinstance(intent, _CallerGone):
                return  # _forget abandons the call
            if isinstance(intent, _Finish):
                await self.set_variable("ACD_RESULT", intent.result)
                return
            if isinstance(intent, _CalledBack):
                sound = self.calls.settings.sound_callback_confirmed
                if sound:
                    await self.command(f'STREAM FILE {sound} ""')
                await self.set_variable("ACD_RESULT", "callback")
                return
            if await self._dial(intent.agent_id):
                return

    # ---------------------------------------------------------------- dial

    def state(self) -> tuple[str | None, str | None]:
        return self.calls.contact_state(self.contact_id or "")

    async def _submit(self, make: Callable[[float], cmds.Command]) -> bool:
        return await self.calls.submit(make, self.contact_id or "")

    async def _dial(self, agent_id: str) -> bool:
        """Ring the agent; True when the call has left the queue for good."""
        cid = self.contact_id or ""
        if self.state() != (OFFERED, agent_id):
            return False  # withdrawn before we got to it
        endpoint = self.calls.endpoint(agent_id)
        if endpoint is None:
            await self._submit(lambda now: cmds.NoAnswer(now, agent_id, cid, "unavailable"))
            return False
        if not await self._submit(lambda now: cmds.Ringing(now, agent_id, cid, None)):
            return False
        ring = self.calls.ring_s(self.queue)
        # g: when the agent hangs up the caller goes on in the dialplan and the
        # Dial returns 0; -1 then means the caller hung up (transcripts 10, 11b).
        options = "g" + self.calls.settings.dial_options.replace("g", "")
        self.dialing, self.dest_channel = agent_id, None
        try:
            # No timeout: Dial returns when the conversation ends (or either side hangs up).
            reply = await self.command(f'EXEC Dial "{endpoint},{ring},{options}"', None)
        finally:
            self.dialing = None
        if reply.result == -1:
            self._caller_gone()  # the HANGUP line follows; the caller is gone either way
        state, holder = self.state()
        if holder != agent_id and state is not None:
            # The engine moved the call on while the phone rang (the agent went
            # away, a supervisor or the desktop moved it): whatever Dial did is moot.
            return await self._resume_waiting()
        if state == OFFERED:  # no answer supervision, or not answered: ask the Dial
            status = await self._dial_status()
            if status == "ANSWER":
                # No AMI told us when: Dial's ANSWEREDTIME_MS (Asterisk >= 16.4) places
                # the answer, so waiting and handle times come out right.
                talked = await self._answered_seconds()
                await self._submit(lambda now: cmds.Accept(now, agent_id, cid, talked))
            elif status == "CANCEL" or self.gone:
                return True  # _forget abandons the call
            else:
                reason = _NO_ANSWER.get(status, "unavailable")
                await self._submit(lambda now: cmds.NoAnswer(now, agent_id, cid, reason))
                return await self._resume_waiting()
        elif state is None and await self._dial_status() != "ANSWER":
            return await self._resume_waiting()  # gone from the engine unanswered: an overflow follows
        # Answered (AMI told us, the Dial did, or the desktop already ended it): over.
        return await self._end(agent_id)

    async def _answered_seconds(self) -> float:
        """Seconds from the answer to the end of the Dial just returned; 0 if unknown."""
        if self.closed:
            return 0.0
        raw = (await self.command("GET VARIABLE ANSWEREDTIME_MS")).data or ""
        return int(raw) / 1000 if raw.isascii() and raw.isdigit() else 0.0

    async def _dial_status(self) -> str:
        if self.closed:
            return "CANCEL"
        return (await self.command("GET VARIABLE DIALSTATUS")).data or ""

    async def _resume_waiting(self) -> bool:
        """Back to waiting (music again), unless the caller left: then the
        queued _CallerGone intent abandons the call next."""
        if not self.gone:
            await self._music()
        return False

    async def _end(self, agent_id: str) -> bool:
        """The conversation is over: ended by the caller if the Dial said -1
        (or HANGUP came), else by the agent, and the caller goes on in the
        dialplan with ``ACD_RESULT=answered``."""
        cid = self.contact_id or ""
        survey = not self.gone and self.calls.hub.ask_survey(cid, self.queue, agent_id)  # before the record
        if self.state() == (CONNECTED, agent_id):  # else the desktop ended it already
            if self.gone:
                await self._submit(lambda now: cmds.Abandon(now, cid))
            else:
                await self._submit(lambda now: cmds.EndContact(now, agent_id, cid))
        if not self.gone:
            await self.set_variable("ACD_AGENT", agent_id)
            await self.set_variable("ACD_RESULT", "answered")
            if survey:
                await self._survey(cid)
        return True

    async def _survey(self, contact_id: str) -> None:
        """Ask the caller to rate the call with one key, 1-5 (``GET DATA``:
        the recorded question, a timeout, at most one key)."""
        surveys = self.calls.hub.surveys
        assert surveys is not None
        s = surveys.settings
        reply = await self.command(
            f"GET DATA {s.sound} {round(s.voice_timeout_s * 1000)} 1", s.voice_timeout_s + COMMAND_TIMEOUT_S
        )
        if reply.result == -1:
            self._caller_gone()
            return
        score = parse_score(reply.keys)
        if score is None:
            log.info("call %s: no survey answer (%r)", contact_id, reply.keys or reply.data)
            return
        surveys.answer(contact_id, score)
        await self.set_variable("ACD_SURVEY", str(score))
        if s.sound_thanks:
            await self.command(f'STREAM FILE {s.sound_thanks} ""')

    async def _announce(self) -> None:
        """Tell the caller its place in line, then music again."""
        pos = self.position
        if pos is None or self.state()[0] != QUEUED:
            return
        s = self.calls.settings
        if pos == 1:
            await self.command(f'STREAM FILE {s.sound_next} ""')
        else:
            await self.command(f'STREAM FILE {s.sound_there_are} ""')
            await self.command(f'SAY NUMBER {pos - 1} ""')
            await self.command(f'STREAM FILE {s.sound_calls_waiting} ""')
        if self.calls.callback_offer(self.queue):
            await self._offer_callback()
        else:
            await self._music()

    async def _offer_callback(self) -> None:
        """Tell a new caller about the callback key, then music again."""
        await self.command(f'STREAM FILE {self.calls.settings.sound_callback_offer} ""')
        await self._music()

    async def _forget(self) -> None:
        """The session is over: a contact still waiting is abandoned, so no
        call is left queued without a caller behind it."""
        cid = self.contact_id
        # Stopping, the call keeps its place: the journal carries it over the
        # restart, and the dialplan's retry brings the caller back to it.
        if cid is not None and self.state()[0] is not None and not self.calls.closing:
            await self._submit(lambda now: cmds.Abandon(now, cid))
        self.calls.unregister(self)


class VoiceCalls:
    """The FastAGI server and the calls it holds, keyed by contact id and by
    the AGI channel's Uniqueid (what AMI events name)."""

    def __init__(self, hub: Hub, settings: AsteriskSettings) -> None:
        self.hub = hub
        self.settings = settings
        self.sessions: dict[str, CallSession] = {}
        self.env_timeout_s = ENV_TIMEOUT_S
        self.probes = 0  # connections that never sent a whole environment (closed at once)
        self.by_uniqueid: dict[str, CallSession] = {}
        self._server: asyncio.Server | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self.pbx: PbxActions | None = None  # the AMI link sets itself here
        hub.runner.listen(self.on_events)
        self.callbacks = Callbacks(self)
        # Calls recovered from the journal whose FastAGI session died with the
        # old process: Uniqueid -> contact id, until the dialplan sends the
        # same channel back (docs/asterisk.md) or the grace runs out.
        self.orphans: dict[str, str] = {}
        # Calls recovered connected to an agent: Asterisk keeps them bridged
        # without us; Uniqueid -> contact id, until AMI says the caller hung up.
        self.bridged: dict[str, str] = {}
        self.graces = Graces("call-grace")
        self.closing = False

    def adopt(self, uniqueid: str, contact_id: str, grace_s: float) -> None:
        """After a restart: keep a waiting call's place for ``grace_s``."""
        self.orphans[uniqueid] = contact_id

        async def gone() -> None:
            if self.orphans.pop(uniqueid, None) is not None:
                await self.submit(lambda now: cmds.Abandon(now, contact_id), contact_id)

        self.graces.start(contact_id, grace_s, gone)

    def adopt_bridged(self, uniqueid: str, contact_id: str) -> None:
        """After a restart: a call connected to an agent, to be ended when
        AMI reports its caller's hangup (or its absence at a resync)."""
        self.bridged[uniqueid] = contact_id

    def bridged_ended(self, uniqueid: str) -> Callable[[float], cmds.Command] | None:
        """The caller of a recovered connected call hung up: its conversation
        ends and the agent's wrap-up starts. None if not one of them."""
        contact_id = self.bridged.pop(uniqueid, None)
        if contact_id is None:
            return None
        log.info("call %s: ended while the ACD was away (AMI)", contact_id)
        _, agent = self.contact_state(contact_id)
        return lambda now: cmds.EndContact(now, agent or "", contact_id)

    # -------------------------------------------------------------- config

    def voice_channel(self, queue: str) -> str | None:
        engine = self.hub.runner.engine
        spec = engine.queues.get(queue)
        if spec is None:
            return None
        return next((ch for ch in spec.channels if ch in engine.phone_channels), None)

    def endpoint(self, agent_id: str) -> str | None:
        a = self.hub.runner.engine.agents.get(agent_id)
        return a.spec.endpoint if a is not None else None

    def callback_offer(self, queue: str) -> bool:
        """Callers of this queue are told about the callback key."""
        return self.settings.for_queue(queue).callback and bool(self.settings.sound_callback_offer)

    def ring_s(self, queue: str) -> int:
        """How long an agent's phone rings for this queue's calls: its offer
        timeout, in whole seconds (what Dial and Originate take)."""
        spec = self.hub.runner.engine.queues.get(queue)
        return max(1, math.ceil(spec.offer_timeout_s if spec is not None else 20.0))

    def has_call(self, contact_id: str) -> bool:
        """A live phone leg holds this contact (a caller's session, or a callback being made)."""
        return contact_id in self.sessions or contact_id in self.callbacks.pending

    def contact_state(self, contact_id: str) -> tuple[str | None, str | None]:
        """(contact state, agent) in the engine now; (None, None) once gone."""
        c = self.hub.runner.engine.contacts.get(contact_id)
        return (c.state, c.agent_id) if c is not None else (None, None)

    async def submit(self, make: Callable[[float], cmds.Command], contact_id: str) -> bool:
        """Submit a call's command; a refusal means the contact moved on
        meanwhile (a race with another adapter), which is logged, not fatal."""
        return await self.hub.runner.attempt(make, f"call {contact_id}")

    # ------------------------------------------------------------- serving

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_ENV_BYTES)
        return int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await CallSession(self, reader, writer).run()
        finally:
            self._running.discard(task)

    async def stop(self) -> None:
        """Stop listening; callers still waiting go back to the dialplan with
        ``ACD_RESULT=shutdown``; calls in a Dial keep talking until it ends or
        the wait runs out."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for s in list(self.sessions.values()):
            if s.dialing is None:
                s.intents.put_nowait(_Finish("shutdown"))
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=SHUTDOWN_WAIT_S)
            for t in late:
                t.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.callbacks.stop()
        await self.graces.close()

    def register(self, s: CallSession) -> None:
        if s.contact_id is not None:
            self.sessions[s.contact_id] = s
        if s.uniqueid is not None:
            self.by_uniqueid[s.uniqueid] = s

    def unregister(self, s: CallSession) -> None:
        if s.contact_id is not None and self.sessions.get(s.contact_id) is s:
            del self.sessions[s.contact_id]
        if s.uniqueid is not None and self.by_uniqueid.get(s.uniqueid) is s:
            del self.by_uniqueid[s.uniqueid]

    # -------------------------------------------------------------- engine

    def on_events(self, events: list[ev.Event], seconds: float) -> None:
        """In the writer: hand each call's offers and overflows to its
        session; stop an agent's phone when the call is taken from it. O(events)."""
        if not self.sessions:
            return
        for e in events:
            if isinstance(e, ev.ContactOffered):
                s = self.sessions.get(e.contact_id)
                if s is not None:
                    s.intents.put_nowait(_Dial(e.agent_id))
            elif isinstance(e, ev.ContactOverflowed) and e.to_queue is None:
                s = self.sessions.get(e.contact_id)
                if s is not None:
                    s.intents.put_nowait(_Finish("closed" if e.reason == "closed" else "overflow"))
            elif isinstance(e, ev.ContactHandedOff):
                s = self.sessions.pop(e.contact_id, None)
                if s is not None:  # the work item lives on: the session ends without abandoning it
                    s.contact_id = None
                    s.intents.put_nowait(_Finish("handoff"))
            elif (isinstance(e, ev.OfferEnded) and e.reason != "abandoned") or (
                isinstance(e, ev.ContactEnded) and e.by == "agent"
            ):
                self._stop_phone(e.contact_id, e.agent_id)
            elif isinstance(e, ev.ContactTransferred) and e.by_agent is not None:
                self._stop_phone(e.contact_id, e.by_agent)

    def _stop_phone(self, contact_id: str, agent_id: str) -> None:
        """Hang up the agent's leg if the Dial that rings or connects it still
        runs (the session's own NoAnswer and EndContact come after the Dial
        returned, when ``dialing`` is None)."""
        s = self.sessions.get(contact_id)
        if s is not None and s.dialing == agent_id and s.dest_channel and self.pbx is not None:
            self.pbx.hang_up(s.dest_channel)

    # ----------------------------------------------------------------- AMI

    def key_pressed(self, uniqueid: str, digit: str) -> None:
        """AMI saw the caller on this channel press ``digit``: the callback
        key of its queue, while it waits, hands the call to the callbacks."""
        s = self.by_uniqueid.get(uniqueid)
        if s is None or s.contact_id is None or s.dialing is not None:
            return
        q = self.settings.for_queue(s.queue)
        if not q.callback or digit != q.callback_key or s.state()[0] != QUEUED:
            return
        if not self.callbacks.can_call(s.callerid) or not s.agi_base:
            log.info(
                "call %s: callback key pressed, but caller id %r cannot be called", s.contact_id, s.callerid
            )
            return
        cid = s.contact_id
        del self.sessions[cid]
        s.contact_id = None  # its session ends without abandoning it
        self.callbacks.keep(cid, s.callerid or "", s.queue, s.agi_base)
        s.intents.put_nowait(_CalledBack())

    def answered(self, uniqueid: str, dest_channel: str | None) -> Callable[[float], cmds.Command] | None:
        """AMI says the Dial of this AGI channel was answered: the Accept to
        submit, or None if it is not a ring of ours (any more)."""
        s = self.by_uniqueid.get(uniqueid)
        if s is None or s.dialing is None or s.contact_id is None:
            return None
        agent, cid = s.dialing, s.contact_id
        if dest_channel:
            s.dest_channel = dest_channel
        if s.state() != (OFFERED, agent):
            return None
        return lambda now: cmds.Accept(now, agent, cid)
