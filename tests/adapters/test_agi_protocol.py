"""The FastAGI protocol layer against the real Asterisk 22.10.1 transcripts in
tests/fixtures/ami (copied from ../shared/fixtures/ami): every opening block
parses; every reply stream splits into exactly one reply per command sent,
with Asterisk's unsolicited HANGUP kept apart; whole or byte by byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acd.adapters.asterisk.agi_protocol import (
    AgiReply,
    BadRoute,
    HangupNotice,
    ReplyReader,
    parse_reply,
    parse_request,
    route,
)
from acd.errors import PeerProtocolError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
TRANSCRIPTS = sorted(FIXTURES.glob("*.agi.jsonl"))


def load(path: Path) -> tuple[str, bytes, list[str]]:
    """(opening block, what Asterisk sent after it, the commands sent)."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rx = [r["data"] for r in rows if r["dir"] == "rx" and "data" in r]
    end = rx.index("\n")
    commands = [r["data"] for r in rows if r["dir"] == "tx" and "data" in r]
    return "".join(rx[:end]), "".join(rx[end + 1 :]).encode(), commands


def events(reader: ReplyReader) -> list[AgiReply | HangupNotice]:
    out = []
    while (e := reader.next_event()) is not None:
        out.append(e)
    return out


def test_the_transcripts_are_here() -> None:
    assert len(TRANSCRIPTS) >= 10


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name.split(".")[0])
def test_every_opening_block_parses(path: Path) -> None:
    block, _, _ = load(path)
    req = parse_request(block)
    assert req.get("version") == "22.10.1"
    assert req.get("uniqueid") is not None and req.get("channel") is not None
    assert req.get("dnid") is None  # Asterisk's "unknown" reads as absent
    assert req.env["agi_accountcode"] == ""
    r = route(req)
    assert r.queue == "sales"
    assert r.attributes["uniqueid"] == req.get("uniqueid")


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name.split(".")[0])
@pytest.mark.parametrize("chunk", [None, 1], ids=["whole", "byte-by-byte"])
def test_one_reply_per_command_and_hangups_apart(path: Path, chunk: int | None) -> None:
    _, stream, commands = load(path)
    reader = ReplyReader()
    got: list[AgiReply | HangupNotice] = []
    for i in range(0, len(stream), chunk or len(stream)):
        reader.feed(stream[i : i + (chunk or len(stream))])
        got += events(reader)
    replies = [e for e in got if isinstance(e, AgiReply)]
    hangups = [e for e in got if isinstance(e, HangupNotice)]
    assert len(replies) == len(commands)
    assert len(hangups) == stream.split(b"\n").count(b"HANGUP")
    assert reader.hung_up == bool(hangups)


def test_caller_hangs_up_during_dial_then_dead_channel_commands_still_answer() -> None:
    _, stream, commands = load(FIXTURES / "10-fastagi-answered-caller-hangs-up.agi.jsonl")
    reader = ReplyReader()
    reader.feed(stream)
    got = events(reader)
    dial = commands.index('EXEC Dial "Local/agent1@agents,20"\n')
    assert got[dial] == AgiReply(200, -1, None, "200 result=-1")
    assert isinstance(got[dial + 1], HangupNotice)
    assert got[dial + 2] == AgiReply(200, 1, "ANSWER", "200 result=1 (ANSWER)")  # GET VARIABLE DIALSTATUS


def test_hangup_while_idle_arrives_before_the_next_reply() -> None:
    _, stream, _ = load(FIXTURES / "12-fastagi-abandon-while-queued.agi.jsonl")
    reader = ReplyReader()
    reader.feed(stream)
    kinds = [type(e).__name__ for e in events(reader)]
    assert kinds == ["AgiReply", "AgiReply", "HangupNotice", "AgiReply"]


def test_url_arguments_become_the_contact() -> None:
    block, stream, _ = load(FIXTURES / "16-fastagi-url-args-no-answer-overflow.agi.jsonl")
    req = parse_request(block)
    assert (req.script, req.params, req.args) == (
        "queue/sales",
        {"priority": "5", "lang": "en"},
        ("vip", "15559990000"),
    )
    r = route(req)
    assert (r.queue, r.priority, r.customer) == ("sales", 5, "15559990000")
    assert r.attributes["lang"] == "en" and r.attributes["arg1"] == "vip"
    assert r.attributes["calleridname"] == "VIP Customer"
    reader = ReplyReader()
    reader.feed(stream)
    codes = [(e.code, e.result, e.data) for e in events(reader) if isinstance(e, AgiReply)]
    assert codes == [
        (200, 1, "en"),
        (200, 1, "1795376547.32"),
        (200, 4, None),
        (200, 0, None),
        (510, None, None),
        (200, 1, None),
    ]


def test_usage_replies_span_lines_and_bad_input_is_refused() -> None:
    reader = ReplyReader()
    reader.feed(b"520-Invalid command syntax.  Proper usage follows:\n Usage: ANSWER\n")
    assert reader.next_event() is None
    reader.feed(b"520 End of proper usage.\n200 result=0\n")
    usage = reader.next_event()
    assert isinstance(usage, AgiReply) and usage.code == 520 and "Usage: ANSWER" in usage.text
    assert reader.next_event() == AgiReply(200, 0, None, "200 result=0")
    reader.feed(b"520-Invalid command syntax.  Proper usage follows:\n")
    reader.feed(b"Answers channel.520 End of proper usage.\nHANGUP\n")
    assert isinstance(reader.next_event(), AgiReply) and isinstance(reader.next_event(), HangupNotice)
    with pytest.raises(PeerProtocolError):
        parse_reply("hello")
    with pytest.raises(PeerProtocolError):
        parse_reply("200 result=x")
    # GET DATA: the keys pressed, none on a timeout, -1 when the caller hung up
    assert parse_reply("200 result=4").keys == "4"
    assert parse_reply("200 result=*1").keys == "*1"
    timeout = parse_reply("200 result= (timeout)")
    assert (timeout.result, timeout.keys, timeout.data) == (None, "", "timeout")
    assert parse_reply("200 result=-1").keys == ""
    with pytest.raises(PeerProtocolError):
        parse_request("not: agi\n")
    with pytest.raises(PeerProtocolError):
        ReplyReader().feed(b"x" * 10_000)
    base = "agi_network: yes\nagi_uniqueid: 1.2\n"
    for script in ("other/thing", "queue/", "queue/a/b", "route?x=1"):
        with pytest.raises(BadRoute):
            route(parse_request(base + f"agi_network_script: {script}\n"))
    with pytest.raises(BadRoute, match="integer"):
        route(parse_request(base + "agi_network_script: queue/sales?priority=high\n"))
