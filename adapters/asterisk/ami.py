"""Asterisk Manager Interface: answer supervision, phone state and desk-phone
login, on panoramisk's AMI protocol.

The link logs in with the configured user (the secret is sent, never
logged), backs off from ``reconnect_min_s`` doubling to ``reconnect_max_s``
while Asterisk is unreachable or refuses the login, and after every login
resyncs, because a new AMI session only sees new events: ``DeviceStateList``
for the agents' phones, ``CoreShowChannels`` for calls whose answer it missed.

Events become engine commands, in arrival order, through one consumer task:

* ``DialEnd`` with ``DialStatus: ANSWER`` on a FastAGI caller's channel
  (matched on its Uniqueid; Linkedid changes on bridging) → Accept, so
  answer time and speed of answer are exact; ``DialBegin`` gives the agent's
  channel.
* ``DeviceStateChange`` of an agent's endpoint and PJSIP ``ContactStatus``
  → DeviceState: unregistered/unreachable/UNAVAILABLE, or in use by a call
  the ACD did not route, closes the agent's voice channels; idle reopens
  them.
* ``UserEvent`` ``ACDAgent`` (``Agent``, ``Action`` login / logout / pause /
  unpause, ``Reason``) → Login / Logout / SetAway / SetAvailable, so a desk
  phone works without the web desktop.
* ``DTMFEnd`` received on a waiting caller's channel → the caller's key
  press (a callback request, :mod:`acd.adapters.asterisk.callback`).
* ``Hangup`` of the caller of a call recovered connected after a restart
  (no FastAGI session follows it any more), or its absence from a resync's
  ``CoreShowChannels`` → EndContact: the agent goes to wrap-up.

Actions go the other way: ``Originate`` (async) rings an agent for a
callback, ``Hangup`` stops an agent's phone when the engine takes the call
away from it (the offer was withdrawn, the desktop ended or transferred the
call). A ``Ping`` every ``ping_s`` finds a link that died silently.

panoramisk's ``Manager`` is not used for the connection: it reconnects on a
fixed timer and retries a refused login forever at that pace; this module
owns the connection and uses panoramisk's ``AMIProtocol`` (framing, action
futures, list responses) on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from acd import commands as cmds
from acd.adapters.asterisk.fastagi import VoiceCalls
from acd.adapters.daemon.config_file import AmiSettings
from acd.adapters.daemon.runner import EngineRunner
from acd.errors import InvalidRequest

log = logging.getLogger("acd.ami")

LOGIN_TIMEOUT_S = 10.0  # also how long a Hangup (or a Ping, at most) may go unanswered
# Every action we send: panoramisk keeps unanswered actions of any other kind
# across a reconnect, to be sent again, which we never want.
_OUR_ACTIONS = ("login", "filter", "ping", "devicestatelist", "coreshowchannels", "originate", "hangup")
# Device states (DeviceStateChange State) that mean the phone cannot take a call,
# and those that mean it is on a call (ours, or one we must route around).
_DOWN = {"UNAVAILABLE", "INVALID"}
_ON_A_CALL = {"INUSE", "BUSY", "ONHOLD", "RINGING", "RINGINUSE"}
_CONTACT_DOWN = {"Removed", "Unreachable"}
_CONTACT_UP = {"Created", "Reachable", "NonQualified"}
# What the ACD reads, and no more (Login's Events mask, then a session filter).
EVENT_CLASSES = "call,user,system,dtmf"
WANTED_EVENTS = (
    "DialBegin",
    "DialEnd",
    "DeviceStateChange",
    "ContactStatus",
    "UserEvent",
    "DTMFEnd",
    "OriginateResponse",
    "Hangup",
)
# A POSIX extended regex (Asterisk's regcomp), matched against the whole event:
# its first line, the name ended by the CR (ERE has no \r escape, it has classes).
EVENT_FILTER = f"^Event: ({'|'.join(WANTED_EVENTS)})[[:space:]]"


def devices_of(endpoint: str) -> tuple[str, ...]:
    """The devices whose state is the agent's phone, from its Dial string:
    ``PJSIP/6001`` → itself; ``PJSIP/a&PJSIP/b`` → both (rung together);
    ``Local/6001@agents/n`` → ``Local/6001@agents``; a number dialled
    through a trunk (``PJSIP/trunk/sip:...``) has no device of its own."""
    out = []
    for part in endpoint.split("&"):
        tech, _, rest = part.strip().partition("/")
        resource, _, extra = rest.partition("/")
        if not resource or (extra and tech.upper() != "LOCAL"):
            continue
        out.append(f"{tech}/{resource}")
    return tuple(out)


_Make = Callable[[float], cmds.Command]  # builds a command with the writer's clock


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol, bound to the link from the first byte (its own
    ``connection_made`` leaves the factory unset, and a connection reset at
    once would then be lost)."""

    def __init__(self, link: AmiLink) -> None:
        self._link = link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.factory = self._link
        self.log = log
        self.encoding = "utf-8"


def field(msg: Message, key: str) -> str:
    """A field's value; the last when the key repeats (a UserEvent's own
    fields follow the channel's, and may reuse their names)."""
    v = msg.get(key, "")
    return str(v[-1] if isinstance(v, list) else v)


class AmiLink:
    def __init__(self, settings: AmiSettings, runner: EngineRunner, voice: VoiceCalls) -> None:
        self.settings = settings
        self.runner = runner
        self.voice = voice
        self.connected = False  # logged in now
        self.logins = 0  # successful logins so far
        self.failures = 0  # failed attempts in a row
        self._proto: AMIProtocol | None = None
        self._lost = asyncio.Event()
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self.received = 0  # events (and list items) read from Asterisk
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()  # actions nobody waits on
        self._phones: dict[str, str] = {}  # device → agent id
        self._usable: dict[str, tuple[bool, str]] = {}  # agent id → (usable, reason) last sent
        self._devices: dict[str, tuple[str, ...]] = {}  # agent id → its devices
        self._device_states: dict[str, str] = {}  # device → its last DeviceStateChange State
        self._unregistered: set[str] = set()  # agents whose PJSIP contact is gone
        # panoramisk's protocol reads these on its "factory"
        self.forgetable_actions = _OUR_ACTIONS
        self.awaiting_actions: list[Any] = []
        self.remap()
        voice.pbx = self

    # ------------------------------------------------------------ lifecycle

    def remap(self) -> None:
        """Agent devices from the running config's endpoints (again after a reload)."""
        self._devices = {
            aid: devices_of(a.spec.endpoint)
            for aid, a in self.runner.engine.agents.items()
            if a.spec.endpoint is not None
        }
        self._phones = {d: aid for aid, ds in self._devices.items() for d in ds}

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._connect_forever(), name="acd-ami"),
            asyncio.create_task(self._consume(), name="acd-ami-events"),
            asyncio.create_task(self._send_outbox(), name="acd-ami-actions"),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._proto is not None:
            self._proto.close()

    def callbacks(self) -> int:
        """Callers waiting to be called back (a metric)."""
        return len(self.voice.callbacks.pending)

    # panoramisk's protocol calls these two on its "factory"
    def dispatch(self, msg: Message) -> None:
        self._events.put_nowait(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connected = False
        self._lost.set()

    # ----------------------------------------------------------- connection

    async def _connect_forever(self) -> None:
        s = self.settings
        where = f"{s.host}:{s.port} as {s.username!r}"
        while True:
            problem = await self._session()
            self.connected = False
            if problem is None:
                self.failures = 0
                problem = "connection lost"
            self.failures += 1
            delay = min(s.reconnect_max_s, s.reconnect_min_s * 2 ** (self.failures - 1))
            log.error("AMI %s: %s; retrying in %.3g s", where, problem, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> str | None:
        """Connect, log in, resync, serve until the connection drops. Returns
        why a connection or login failed, or None after a session that worked."""
        s = self.settings
        loop = asyncio.get_running_loop()
        self._lost.clear()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _Protocol(self), s.host, s.port), LOGIN_TIMEOUT_S
            )
        except (OSError, TimeoutError) as e:
            return f"cannot connect ({e.__class__.__name__}: {e})"
        self._proto = proto
        try:
            return await self._serve(proto)
        except TimeoutError as e:
            return str(e)
        except ConnectionError:
            return "connection lost"
        finally:
            proto.close()
            self._proto = None

    async def _serve(self, proto: AMIProtocol) -> str | None:
        s = self.settings
        action = {"Action": "Login", "Username": s.username, "Secret": s.secret, "Events": EVENT_CLASSES}
        resp = await self._ask(proto, action)
        if isinstance(resp, list) or not resp.success:
            return f"login refused: {field(resp, 'Message') or 'no reason given'}"
        self.connected = True
        self.logins += 1
        self.failures = 0
        log.info("AMI logged in at %s:%d as %r", s.host, s.port, s.username)
        # Only the events we read, whatever manager.conf's read= says: the
        # class mask above, narrowed to names by a session filter (it needs
        # the system write permission; without it the mask alone applies).
        filtered = await self._ask(proto, {"Action": "Filter", "Operation": "Add", "Filter": EVENT_FILTER})
        if isinstance(filtered, list) or not filtered.success:
            log.info("AMI: no session event filter (%s): the class mask applies", field(filtered, "Message"))
        await self._resync(proto)
        while not self._lost.is_set():
            try:
                await asyncio.wait_for(self._lost.wait(), s.ping_s)
            except TimeoutError:
                # A half-open TCP link (Asterisk's host gone) would otherwise
                # look connected forever: TimeoutError ends the session.
                await self._ask(proto, {"Action": "Ping"}, min(LOGIN_TIMEOUT_S, s.ping_s))
        return None

    async def _ask(
        self,
        proto: AMIProtocol,
        action: dict[str, Any],
        timeout_s: float = LOGIN_TIMEOUT_S,
        as_list: bool | None = False,
    ) -> Message | list[Message]:
        """Send an action; its response (a list for list actions). ``as_list``
        None lets panoramisk tell from the response (an async Originate that
        was queued waits for its OriginateResponse; one refused does not).
        Raises ConnectionError if the link drops first, TimeoutError if
        Asterisk does not answer in time."""
        fut = proto.send(action, as_list=as_list)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({fut, lost}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if fut.done():
            return fut.result()
        fut.cancel()
        if self._lost.is_set():
            raise ConnectionError("connection lost")
        raise TimeoutError(f"no answer to {action['Action']}")

    async def _resync(self, proto: AMIProtocol) -> None:
        """A new session misses what happened while we were away."""
        live: set[str] = set()
        for action in ("DeviceStateList", "CoreShowChannels"):
            # as a list: panoramisk gathers the items up to EventList: Complete
            items = await self._ask(proto, {"Action": action}, as_list=True)
            for msg in items if isinstance(items, list) else []:
                if field(msg, "Event") in ("DeviceStateChange", "CoreShowChannel"):
                    self._events.put_nowait(msg)  # handled in order with the live events
                    live.add(field(msg, "Uniqueid"))
        for uniqueid in [u for u in self.voice.bridged if u not in live]:
            # a recovered call whose channel is gone: it ended while we were away
            self._events.put_nowait(Message({"Event": "Hangup", "Uniqueid": uniqueid}))

    # --------------------------------------------------------------- actions

    async def originate(self, action: dict[str, Any], timeout_s: float) -> tuple[bool, str]:
        """An async ``Originate``: (answered, Reason) from its
        ``OriginateResponse`` (Reason 4: answered; 3 no answer, 5 busy,
        8 congestion, 0 no such endpoint, transcript 41). Raises
        ConnectionError when the link is down or drops before the answer,
        TimeoutError when none comes within ``timeout_s``."""
        proto = self._proto
        if proto is None or not self.connected:
            raise ConnectionError("AMI is not connected")
        reply = await self._ask(proto, {"Action": "Originate", "Async": "true", **action}, timeout_s, None)
        last = reply[-1] if isinstance(reply, list) else reply
        if field(last, "Event") != "OriginateResponse":  # "Response: Error": refused outright
            return False, field(last, "Message") or "refused"
        return field(last, "Response") == "Success", field(last, "Reason")

    def hang_up(self, channel: str) -> None:
        """Ask Asterisk to hang up ``channel`` (a name or a Uniqueid). Nobody
        waits for the answer: the call's own session sees the result."""
        self._outbox.put_nowait({"Action": "Hangup", "Channel": channel})

    async def _send_outbox(self) -> None:
        while True:
            action = await self._outbox.get()
            what = f"{action['Action']} {action.get('Channel', '')}"
            proto = self._proto
            if proto is None or not self.connected:
                log.warning("AMI down: %s not sent", what)
                continue
            try:
                reply = await self._ask(proto, action)
            except (ConnectionError, TimeoutError) as e:
                log.warning("AMI %s: %s", what, e)
                continue
            if isinstance(reply, Message) and not reply.success:
                # "No such channel": the call ended on its own meanwhile
                log.info("AMI %s: %s", what, field(reply, "Message"))

    # ---------------------------------------------------------------- events

    async def _consume(self) -> None:
        handlers: dict[str, Callable[[Message], _Make | None]] = {  # every name in WANTED_EVENTS
            "DialBegin": self._on_dial_begin,
            "DialEnd": self._on_dial_end,
            "DeviceStateChange": self._on_device_state,
            "CoreShowChannel": self._on_channel,
            "ContactStatus": self._on_contact_status,
            "UserEvent": self._on_user_event,
            "DTMFEnd": self._on_dtmf,
            "Hangup": self._on_hangup,
        }
        while True:
            msg = await self._events.get()
            self.received += 1
            handler = handlers.get(field(msg, "Event"))
            if handler is None:
                continue
            try:
                make = handler(msg)
            except Exception:  # a malformed event must not stop the link
                log.exception("AMI event %s not understood", field(msg, "Event"))
                continue
            if make is not None:
                try:
                    await self.runner.submit(make)
                except InvalidRequest as e:
                    log.info("AMI: %s", e)

    # Each handler reads one event and returns the engine command it calls for, if any.

    def _on_hangup(self, msg: Message) -> _Make | None:
        return self.voice.bridged_ended(field(msg, "Uniqueid"))

    def _on_dial_begin(self, msg: Message) -> None:
        s = self.voice.by_uniqueid.get(field(msg, "Uniqueid"))
        if s is not None and s.dialing is not None:
            s.dest_channel = field(msg, "DestChannel")

    def _on_dial_end(self, msg: Message) -> _Make | None:
        if field(msg, "DialStatus") != "ANSWER":
            return None
        return self.voice.answered(field(msg, "Uniqueid"), field(msg, "DestChannel"))

    def _on_channel(self, msg: Message) -> _Make | None:
        """A resync item: a caller bridged inside our Dial was answered while
        the link was down."""
        if field(msg, "Application") != "Dial" or not field(msg, "BridgeId"):
            return None
        return self.voice.answered(field(msg, "Uniqueid"), None)

    def _phone(self, agent_id: str) -> _Make | None:
        """A DeviceState from what the agent's devices say, only when it changes.

        Any device on a call we did not route: busy (so is a phone ringing
        with a private call, as app_queue's ringinuse=no has it). Every
        device down: unregistered if its PJSIP contact is gone (whichever
        of the two events came first), else unavailable. Otherwise usable."""
        states = [self._device_states.get(d, "NOT_INUSE") for d in self._devices.get(agent_id, ())]
        if any(st in _ON_A_CALL for st in states) and not self._routing_a_call(agent_id):
            now_is: tuple[bool, str] = (False, "phone-busy")
        elif states and all(st in _DOWN for st in states):
            gone = agent_id in self._unregistered
            now_is = (False, "phone-unregistered" if gone else "phone-unavailable")
        elif agent_id in self._unregistered:
            now_is = (False, "phone-unregistered")
        else:
            now_is = (True, "")
        if self._usable.get(agent_id, (True, "")) == now_is:
            return None
        self._usable[agent_id] = now_is
        usable, reason = now_is
        return lambda now: cmds.DeviceState(now, agent_id, usable, reason)

    def _routing_a_call(self, agent_id: str) -> bool:
        """Our own call also puts the phone in use: only another call closes voice."""
        a = self.runner.engine.agents.get(agent_id)
        phones = self.runner.engine.phone_channels
        return a is not None and any(x.channel in phones for x in a.assignments.values())

    def _on_device_state(self, msg: Message) -> _Make | None:
        device = field(msg, "Device")
        agent_id = self._phones.get(device)
        if agent_id is None:
            return None
        self._device_states[device] = field(msg, "State")
        return self._phone(agent_id)

    def _on_contact_status(self, msg: Message) -> _Make | None:
        agent_id = self._phones.get(f"PJSIP/{field(msg, 'EndpointName')}")
        if agent_id is None:
            return None
        if field(msg, "ContactStatus") in _CONTACT_DOWN:
            self._unregistered.add(agent_id)
        elif field(msg, "ContactStatus") in _CONTACT_UP:
            self._unregistered.discard(agent_id)
        else:
            return None
        return self._phone(agent_id)

    def _on_user_event(self, msg: Message) -> _Make | None:
        if field(msg, "UserEvent") != "ACDAgent":
            return None
        agent_id = field(msg, "Agent")
        action = field(msg, "Action").lower()
        reason = field(msg, "Reason") or "paused"
        actions: dict[str, _Make] = {
            "login": lambda now: cmds.Login(now, agent_id),
            "logout": lambda now: cmds.Logout(now, agent_id),
            "pause": lambda now: cmds.SetAway(now, agent_id, reason),
            "unpause": lambda now: cmds.SetAvailable(now, agent_id),
        }
        make = actions.get(action)
        if make is None:
            log.warning("UserEvent ACDAgent: unknown Action %r (login, logout, pause, unpause)", action)
        return make

    def _on_dtmf(self, msg: Message) -> None:
        if field(msg, "Direction") == "Received":
            self.voice.key_pressed(field(msg, "Uniqueid"), field(msg, "Digit"))
