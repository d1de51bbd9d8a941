"""An Asterisk stand-in for AMI: a TCP server that talks like Asterisk 22's
manager as captured in ``tests/fixtures/ami/*.ami.raw``.

* The banner ``Asterisk Call Manager/11.0.0\\r\\n`` (one line, not a message).
* ``Login``: ``Authentication accepted`` then ``FullyBooted`` (Events: on);
  a bad secret waits ``auth_delay`` (1 s on Asterisk), answers
  ``Authentication failed`` and closes. Anything else before a login is
  ``Permission denied``.
* ``Ping``, ``Logoff``, ``DeviceStateList`` and ``CoreShowChannels`` (list
  responses with ``EventList: start`` and a ``...Complete`` event), unknown
  actions with Asterisk's error text.
* Events built from a real event of the same kind in the transcripts:
  every field name in Asterisk's order, values replaced for this call:
  DialBegin/DialEnd for dials the FastAGI peer makes, DeviceStateChange,
  PJSIP ContactStatus, and dialplan UserEvents (whose own fields may
  repeat the channel's field names, as in transcript 42).
* ``Originate`` with ``Async: true`` (41): ``Originate successfully
  queued`` at once, then ``OriginateResponse``: Success Reason 4 when the
  phone answers (Uniqueid = ChannelId), Failure Reason 5 busy, 8
  congestion, 3 no answer after ``Timeout`` ms, 0 no such endpoint (Channel
  the dial string, Uniqueid ``<unknown>``). An answered ``Application: AGI``
  leg opens a FastAGI session to ``Data`` like any Asterisk channel would.
* ``Hangup`` (43, 44): ``Channel Hungup`` or ``No such channel``.
* Login's ``Events`` class mask and the ``Filter`` action (a session regex
  whitelist over the whole event, needing the system permission): not
  captured, done as manager.c does them; :meth:`AmiServer.noise` emits
  events of calls the ACD does not route, which they keep away.
* ``DTMFBegin``/``DTMFEnd`` of a caller's key press. These were not captured:
  their fields are the channel snapshot every call event carries (taken
  from a captured ``Newchannel``) followed by Asterisk's documented
  ``Digit``, ``DurationMs``, ``Direction``, class ``dtmf``.
* :meth:`AmiServer.drop` aborts every session, like a network cut (48a).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from tests.peers.asterisk import FIXTURES, Caller, Pbx, first_set

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
Fields = list[tuple[str, str]]


def _messages() -> Iterator[Fields]:
    for raw in sorted(FIXTURES.glob("*.ami.raw")):
        text = raw.read_bytes().decode()
        for block in text.split("\r\n\r\n"):
            lines = [ln for ln in block.split("\r\n") if ": " in ln or ln.endswith(":")]
            if lines:
                yield [(k, v) for k, _, v in (ln.partition(": ") for ln in lines)]


def _templates() -> dict[str, Fields]:
    """The first captured event of each kind; dial events of the caller's
    channel (they carry ``Channel``), list items (with ``ActionID``) apart."""
    out: dict[str, Fields] = {}
    for msg in _messages():
        head, name = msg[0]
        if head != "Event":
            continue
        keys = {k for k, _ in msg}
        if name.startswith("Dial") and "Channel" not in keys:
            continue
        listed = "ActionID" in keys and name != "OriginateResponse"  # that one answers an action, alone
        kind = f"{name}/list" if listed else name
        out.setdefault(kind, msg)
    return out


TEMPLATES = _templates()


def render(kind: str, **values: str) -> bytes:
    """A captured event of ``kind`` with some values replaced. Asking for a
    field the captured event does not have is a bug in the peer."""
    template = TEMPLATES[kind]
    names = {k for k, _ in template}
    unknown = set(values) - names
    assert not unknown, f"{kind} has no field {unknown}"
    lines = [f"{k}: {values.get(k, v)}" for k, v in template]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def snapshot_event(name: str, privilege: str, channel: str, uniqueid: str, *extra: tuple[str, str]) -> bytes:
    """An event made of a channel snapshot (Newchannel's fields) and ``extra``."""
    fields = [(k, v) for k, v in TEMPLATES["Newchannel"] if k not in ("Event", "Privilege")]
    values = {"Channel": channel, "Uniqueid": uniqueid, "Linkedid": uniqueid, "ChannelState": "6"}
    values["ChannelStateDesc"] = "Up"
    lines = [f"Event: {name}", f"Privilege: {privilege}"]
    lines += [f"{k}: {values.get(k, v)}" for k, v in fields] + [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response(action_id: str, status: str, message: str | None, *extra: tuple[str, str]) -> bytes:
    """``Response``, ``ActionID``, then the rest (Asterisk puts ActionID second)."""
    lines = [f"Response: {status}", f"ActionID: {action_id}", *(f"{k}: {v}" for k, v in extra)]
    if message is not None:
        lines.insert(2 + (1 if extra and extra[0][0] == "EventList" else 0), f"Message: {message}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _Session:
    def __init__(self, server: AmiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.logged_in = False
        self.events = False
        self.classes: set[str] | None = None  # Login's Events mask (None: all)
        self.filters: list[re.Pattern[str]] = []  # session whitelist (Filter action)

    def wants(self, data: bytes) -> bool:
        """Asterisk's delivery test: the event's class is in the session's
        mask, and with filters, one of them matches the whole event."""
        if not (self.logged_in and self.events):
            return False
        text = data.decode()
        privilege = next((ln[11:] for ln in text.split("\r\n") if ln.startswith("Privilege: ")), "")
        classes = set(privilege.split(",")) - {"all"}
        if self.classes is not None and not classes & self.classes:
            return False
        return not self.filters or any(f.search(text) for f in self.filters)

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def run(self) -> None:
        self.send(BANNER)
        buf = b""
        try:
            while data := await self.reader.read(65536):
                buf += data
                while b"\r\n\r\n" in buf:
                    block, buf = buf.split(b"\r\n\r\n", 1)
                    fields = dict(ln.split(": ", 1) for ln in block.decode().split("\r\n") if ": " in ln)
                    if not await self.act(fields):
                        return
        except ConnectionError:
            pass
        finally:
            self.writer.close()
            self.server.session_closed.set()

    async def act(self, f: dict[str, str]) -> bool:
        """Answer one action; False to close the session."""
        srv = self.server
        aid = f.get("ActionID", "")
        action = f.get("Action", "")
        srv.actions.append(action)
        srv.requests.append(f)
        if srv.silent:
            return True
        if action == "Ping":
            srv.pinged.set()
        if not action:
            self.send(response(aid, "Error", "Missing action in request"))
            return True
        if action == "Login":
            ok = f.get("Username") == srv.username and f.get("Secret") == srv.secret
            srv.logins.append((f.get("Username", ""), ok))
            srv.login_attempted.set()
            if not ok:
                await asyncio.sleep(srv.auth_delay)
                self.send(response(aid, "Error", "Authentication failed"))
                return False
            self.logged_in = True
            wanted = f.get("Events", "on").lower()
            self.events = wanted != "off"
            # "on": every class the user may read; else a list of classes (manager.c strings_to_mask)
            self.classes = None if wanted == "on" else {c.strip() for c in wanted.split(",")}
            self.send(response(aid, "Success", "Authentication accepted"))
            if self.events:
                self.send(render("FullyBooted"))
            srv.sessions_ready.set()
            return True
        if not self.logged_in:
            self.send(response(aid, "Error", "Permission denied"))
            return True
        if action == "Ping":
            self.send(response(aid, "Success", None, ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")))
        elif action == "Logoff":
            self.send(response(aid, "Goodbye", "Thanks for all the fish."))
            return False
        elif action == "DeviceStateList":
            self.send(response(aid, "Success", "Device State Changes will follow", ("EventList", "start")))
            for device, state in srv.device_states.items():
                self.send(render("DeviceStateChange/list", ActionID=aid, Device=device, State=state))
            n = str(len(srv.device_states))
            self.send(render("DeviceStateListComplete/list", ActionID=aid, ListItems=n))
        elif action == "CoreShowChannels":
            self.send(response(aid, "Success", "Channels will follow", ("EventList", "start")))
            for uniqueid, (channel, bridge) in srv.pbx_channels.items():
                self.send(
                    render(
                        "CoreShowChannel/list",
                        ActionID=aid,
                        Channel=channel,
                        Uniqueid=uniqueid,
                        Application="Dial",
                        BridgeId=bridge,
                    )
                )
            n = str(len(srv.pbx_channels))
            self.send(render("CoreShowChannelsComplete/list", ActionID=aid, ListItems=n))
            srv.resynced.set()
        elif action == "Originate" and f.get("Async", "").lower() == "true":
            self.send(response(aid, "Success", "Originate successfully queued"))
            srv.spawn(srv.originate(aid, f))
        elif action == "Filter":
            # Not captured. manager.c: needs the system write permission, a
            # regex over the whole event, answered "Success".
            if not srv.filter_allowed:
                self.send(response(aid, "Error", "Permission denied"))
            elif f.get("Operation", "").lower() != "add":
                self.send(response(aid, "Error", "Unknown operation"))
            else:
                # POSIX ERE as regcomp reads it: the classes Python spells differently
                posix = f.get("Filter", "").replace("[[:space:]]", r"\s").replace("[[:digit:]]", r"\d")
                self.filters.append(re.compile(posix))
                self.send(response(aid, "Success", "Success"))
        elif action == "Hangup":
            hang_up = srv.pbx.channels.get(f.get("Channel", ""))
            if hang_up is None:
                self.send(response(aid, "Error", "No such channel"))
            else:
                hang_up()
                self.send(response(aid, "Success", "Channel Hungup"))
        else:
            text = f"Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
            self.send(response(aid, "Error", text))
        return True


class AmiServer:
    def __init__(
        self, pbx: Pbx, username: str = "acd", secret: str = "acdsecret", auth_delay: float = 1.0
    ) -> None:
        self.pbx = pbx
        self.username = username
        self.secret = secret
        self.auth_delay = auth_delay
        self.sessions: set[_Session] = set()
        self.sessions_ready = asyncio.Event()  # a session logged in
        self.resynced = asyncio.Event()  # a session asked for CoreShowChannels (the link's last resync step)
        self.login_attempted = asyncio.Event()
        self.pinged = asyncio.Event()
        self.session_closed = asyncio.Event()
        self.silent = False  # True: read actions, answer none (a hung Asterisk)
        self.logins: list[tuple[str, bool]] = []
        self.actions: list[str] = []
        self.requests: list[dict[str, str]] = []  # every action's fields (the last of a repeated key)
        self.legs: list[Caller] = []  # answered Originates running an AGI
        self.device_states: dict[str, str] = {}
        # AGI channels bridged inside a Dial: uniqueid -> (channel, bridge id)
        self.pbx_channels: dict[str, tuple[str, str]] = {}
        self.refusing = False  # True: Asterisk is unreachable (connections are closed at once)
        self.filter_allowed = True  # the user has the system write permission (Filter action)
        self.delivered = 0  # events sent to sessions
        self._bridges = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        pbx.listeners.append(self._on_pbx)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        s = _Session(self, reader, writer)
        self.sessions.add(s)
        try:
            await s.run()
        finally:
            self.sessions.discard(s)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for leg in self.legs:
            await leg.close()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -------------------------------------------------------------- originate

    async def originate(self, aid: str, f: dict[str, str]) -> None:
        """Ring ``Channel``; answer with OriginateResponse; an answered AGI
        leg connects to the FastAGI server named in ``Data``."""
        endpoint = f.get("Channel", "")
        phone = self.pbx.phones.get(endpoint)
        name, _, num = f.get("CallerID", "").partition(" <")
        num, name = num.rstrip(">"), name.strip('"')

        def reply(ok: bool, reason: str, channel: str = endpoint, uniqueid: str = "<unknown>") -> None:
            self.emit(
                render(
                    "OriginateResponse",
                    ActionID=aid,
                    Response="Success" if ok else "Failure",
                    Channel=channel,
                    Application=f.get("Application", ""),
                    Data=f.get("Data", ""),
                    Reason=reason,
                    Uniqueid=uniqueid,
                    CallerIDNum=num if ok else "<unknown>",
                    CallerIDName=name if ok else "<unknown>",
                )
            )

        if phone is None or phone.mode in ("busy", "congestion"):
            reply(False, {"busy": "5", "congestion": "8"}.get(phone.mode, "0") if phone else "0")
            return
        phone.rings.append(time.perf_counter())
        uniqueid = f.get("ChannelId") or self.pbx.uniqueid()
        channel = f"{endpoint}-{self.pbx.seq():08x}"
        stop_ringing = asyncio.Event()
        self.pbx.channels[uniqueid] = self.pbx.channels[channel] = stop_ringing.set
        timeout = int(f.get("Timeout", "30000")) / 1000
        ring_for = timeout if phone.mode == "noanswer" else min(phone.ring_s, timeout)
        try:
            await asyncio.wait_for(stop_ringing.wait(), ring_for)
            reply(False, "1")  # hung up while ringing: the last control frame was HANGUP
            return
        except TimeoutError:
            if phone.mode == "noanswer" or phone.ring_s > timeout:
                reply(False, "3")
                return
        finally:
            del self.pbx.channels[uniqueid], self.pbx.channels[channel]
        reply(True, "4", channel, uniqueid)
        url = urlsplit(f.get("Data", ""))
        leg = Caller(
            self.pbx, url.port or 4573, url.path.lstrip("/"), callerid=num, channel=channel, uniqueid=uniqueid
        )
        self.legs.append(leg)
        self.pbx.channels[uniqueid] = self.pbx.channels[channel] = leg.hang_up
        phone._hangup.clear()
        await leg.start()
        try:
            # The agent puts the phone down, or the leg's AGI ends (and the channel with it).
            await first_set((phone._hangup, leg.closed), phone.talk_s)
            leg.hang_up()
        finally:
            del self.pbx.channels[uniqueid], self.pbx.channels[channel]

    def dtmf(self, caller: Caller, digit: str) -> None:
        """The caller presses ``digit``: DTMFBegin, then DTMFEnd, on its channel."""
        who = (caller.channel, caller.agi_uniqueid)
        direction = ("Direction", "Received")
        self.emit(snapshot_event("DTMFBegin", "dtmf,all", *who, ("Digit", digit), direction))
        self.emit(
            snapshot_event("DTMFEnd", "dtmf,all", *who, ("Digit", digit), ("DurationMs", "120"), direction)
        )

    def drop(self, refuse: bool = False) -> None:
        """Cut every session (the client sees a reset, as in transcript 48a);
        ``refuse``: and refuse new ones until :meth:`restore`."""
        self.refusing = refuse
        self.sessions_ready.clear()
        self.resynced.clear()
        for s in list(self.sessions):
            transport = s.writer.transport
            transport.abort()

    def restore(self) -> None:
        self.refusing = False

    # ---------------------------------------------------------------- events

    def emit(self, data: bytes) -> None:
        for s in self.sessions:
            if s.wants(data):
                s.send(data)
                self.delivered += 1

    def noise(self, channel: str = "PJSIP/9999-00000001", uniqueid: str = "1700000000.99") -> None:
        """Events of a call routed by someone else, which the ACD never reads:
        a Newchannel (class call) and a VarSet (class dialplan)."""
        self.emit(snapshot_event("Newchannel", "call,all", channel, uniqueid))
        self.emit(
            snapshot_event("VarSet", "dialplan,all", channel, uniqueid, ("Variable", "X"), ("Value", "1"))
        )

    def device_state(self, device: str, state: str) -> None:
        self.device_states[device] = state
        self.emit(render("DeviceStateChange", Device=device, State=state))

    def contact_status(self, endpoint: str, status: str) -> None:
        self.emit(
            render(
                "ContactStatus",
                URI=f"sip:{endpoint}@127.0.0.1:5071",
                ContactStatus=status,
                AOR=endpoint,
                EndpointName=endpoint,
            )
        )

    def user_event(self, name: str, **fields: str) -> None:
        """A dialplan ``UserEvent(name,Key: value,...)``: the channel's fields,
        then ``UserEvent: name``, then the custom ones (transcript 42)."""
        head = render("UserEvent").split(b"\r\nUserEvent: ")[0]
        body = "".join(f"\r\n{k}: {v}" for k, v in fields.items())
        self.emit(head + f"\r\nUserEvent: {name}{body}\r\n\r\n".encode())

    def _on_pbx(self, name: str, f: dict[str, str]) -> None:
        if name == "DialEnd" and f["status"] == "ANSWER":
            self.pbx_channels[f["uniqueid"]] = (f["channel"], f"bridge-{next(self._bridges)}")
        elif name == "Hangup":
            self.pbx_channels.pop(f["uniqueid"], None)
        if name == "Hangup":
            if f.get("caller") == "gone":  # its caller hangs up too (not when it goes on in the dialplan)
                self.emit(render("Hangup", Channel=f["channel"], Uniqueid=f["uniqueid"]))
            return
        fields = {"Channel": f["channel"], "Uniqueid": f["uniqueid"], "DestChannel": f["dest"]}
        if name == "DialBegin":
            self.emit(render("DialBegin", DialString=f["dest"].split("-")[0], **fields))
        elif name == "DialEnd":
            self.emit(render("DialEnd", DialStatus=f["status"], **fields))
