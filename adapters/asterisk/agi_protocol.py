"""FastAGI as plain data: the request Asterisk opens with, and its replies.

Sans-I/O like h11: bytes in, parsed values out, no socket. The FastAGI
server (issue 4) owns the socket and feeds this.

* :func:`parse_request` reads the ``agi_*: value`` block that opens a FastAGI
  session (ended by an empty line), with the script path, its query string
  and the ``agi_arg_N`` arguments, and :func:`route` turns it into the queue
  and contact fields (``agi://host:4573/queue/sales?priority=5&lang=en``).
* :class:`ReplyReader` splits what Asterisk sends after that into command
  replies (``200 result=1 (en)``, ``510 ...``, the multi-line ``520-`` usage)
  and hangup notices. Asterisk writes ``HANGUP\\n`` on its own when the caller
  hangs up (while idle, or ~40 ms after an ``EXEC`` returned ``result=-1``);
  a reader that takes one line per command, as panoramisk's does, would
  hand that ``HANGUP`` to the next command as its answer. Here a notice is
  never a reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from acd.errors import InvalidRequest, PeerProtocolError

MAX_ENV_LINES = 200
_USAGE_END = "520 End of proper usage."
MAX_LINE = 8192


class BadRoute(InvalidRequest):
    code = "bad-agi-route"


@dataclass(frozen=True, slots=True)
class AgiRequest:
    env: dict[str, str]
    script: str  # the path of agi_network_script, e.g. "queue/sales"
    params: dict[str, str]  # its query string
    args: tuple[str, ...]  # agi_arg_1 .. agi_arg_N

    def get(self, key: str) -> str | None:
        """An ``agi_`` variable, None when absent or Asterisk's ``unknown``."""
        v = self.env.get(f"agi_{key}")
        return None if v in (None, "", "unknown") else v


def parse_request(block: str) -> AgiRequest:
    """The opening block (lines up to the empty one). PeerProtocolError if
    it is not one."""
    env: dict[str, str] = {}
    lines = block.split("\n")
    if len(lines) > MAX_ENV_LINES:
        raise PeerProtocolError(f"AGI environment longer than {MAX_ENV_LINES} lines")
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")  # "agi_accountcode:" with nothing after
        if not sep or not key.startswith("agi_"):
            raise PeerProtocolError(f"not an AGI environment line: {line[:80]!r}")
        env[key] = value
    if "agi_network_script" not in env and "agi_request" not in env:
        raise PeerProtocolError("AGI environment without agi_network_script or agi_request")
    raw = env.get("agi_network_script") or urlsplit(env["agi_request"]).path.lstrip("/")
    parts = urlsplit(raw)
    args = []
    i = 1
    while f"agi_arg_{i}" in env:
        args.append(env[f"agi_arg_{i}"])
        i += 1
    return AgiRequest(env, parts.path.strip("/"), dict(parse_qsl(parts.query)), tuple(args))


@dataclass(frozen=True, slots=True)
class CallRoute:
    """What the dialplan asked for: the queue and the contact's fields."""

    queue: str
    priority: int
    customer: str
    attributes: dict[str, str] = field(default_factory=dict)


def route(req: AgiRequest) -> CallRoute:
    """``queue/<name>`` (or ``route?queue=<name>``) with optional
    ``priority=N`` and any other parameters, which become attributes with
    the channel's identity (caller id, DNID, channel, uniqueid, language)
    and the dialplan arguments (``arg1`` ...)."""
    params = dict(req.params)
    head, _, rest = req.script.partition("/")
    if head == "queue" and rest and "/" not in rest:
        queue = rest
    elif head == "route" and not rest and params.get("queue"):
        queue = params.pop("queue")
    else:
        raise BadRoute(f"unknown AGI script {req.script!r}: expected queue/<name>[?priority=N&...]")
    params.pop("queue", None)
    raw_priority = params.pop("priority", "0")
    try:
        priority = int(raw_priority)
    except ValueError:
        raise BadRoute(f"priority must be an integer, got {raw_priority!r}") from None
    if not -100 <= priority <= 100:
        raise BadRoute(f"priority must be in -100..100, got {priority}")
    attributes = {k: v for k, v in params.items() if len(k) <= 64 and len(v) <= 500}
    for key in (
        "callerid",
        "calleridname",
        "dnid",
        "channel",
        "uniqueid",
        "language",
        "context",
        "extension",
    ):
        value = req.get(key)
        if value is not None:
            attributes[key] = value
    for i, arg in enumerate(req.args, 1):
        attributes[f"arg{i}"] = arg
    customer = req.get("callerid") or req.get("uniqueid") or ""
    return CallRoute(queue, priority, customer, attributes)


@dataclass(frozen=True, slots=True)
class AgiReply:
    """``200 result=1 (en)`` → code 200, result 1, data "en"."""

    code: int
    result: int | None
    data: str | None
    text: str  # the whole reply, for errors and logs
    # GET DATA: the keys pressed ("" on a timeout, "*" or "#" too); every
    # other reply's digits land here as well, so it is left out of equality.
    keys: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class HangupNotice:
    """Asterisk's unsolicited ``HANGUP``: the caller is gone."""


DTMF_KEYS = "0123456789*#"


def parse_reply(line: str) -> AgiReply:
    head, _, rest = line.partition(" ")
    if len(head) != 3 or not head.isdigit():
        raise PeerProtocolError(f"not an AGI reply: {line[:80]!r}")
    code = int(head)
    result = data = None
    if rest.startswith("result="):
        value, _, tail = rest[len("result=") :].partition(" ")
        keys = ""
        try:
            result = int(value)
        except ValueError:
            # GET DATA answers with the keys themselves: "200 result=*1", or
            # "200 result= (timeout)" when none was pressed (res_agi.c handle_getdata).
            if value.strip(DTMF_KEYS):
                raise PeerProtocolError(f"AGI result is not an integer: {line[:80]!r}") from None
            keys = value
        if result is not None and result >= 0 and value.isdigit():
            keys = value
        tail = tail.strip()
        if tail.startswith("(") and tail.endswith(")"):
            data = tail[1:-1]
        elif tail:
            data = tail
        return AgiReply(code, result, data, line, keys)
    return AgiReply(code, result, data, line)


class ReplyReader:
    """Feed bytes as they arrive; take replies and hangup notices in order.

    ``feed`` then ``next_event`` until it returns None (h11's pattern). A
    ``520-`` reply runs until its ``520 End of proper usage.`` line and comes
    out as one reply. O(bytes).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._usage: list[str] | None = None
        self.hung_up = False

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > MAX_LINE and b"\n" not in self._buf:
            raise PeerProtocolError(f"AGI line longer than {MAX_LINE} bytes")

    def next_event(self) -> AgiReply | HangupNotice | None:
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                return None
            line = self._buf[:end].decode("utf-8", "replace").rstrip("\r")
            del self._buf[: end + 1]
            if self._usage is not None:
                self._usage.append(line)
                # Some usage texts lack a final newline: the end marker shares their last line.
                if line.startswith("520 ") or line.endswith(_USAGE_END):
                    text = "\n".join(self._usage)
                    self._usage = None
                    return AgiReply(520, None, None, text)
                continue
            if line == "HANGUP":
                self.hung_up = True
                return HangupNotice()
            if line.startswith("520-"):
                self._usage = [line]
                continue
            if not line:
                continue
            return parse_reply(line)
