"""queue_log lines from the engine's events, compared field by field with
the lines a real Asterisk 22.10.1 app_queue wrote for the same scenario
(tests/fixtures/queue_log/, captured; their README describes each field).

Each scenario runs the real engine at the captured times (engine time 0 is
the capture's first second). Where our line differs by design (CONNECT's
member channel is the agent's id; a transfer's context names what it went
to), the test says so; every other field must be Asterisk's."""

from __future__ import annotations

from pathlib import Path

from acd import commands as c
from acd.queue_log import Directory, QueueLog
from acd.settings import AgentSpec, QueueSpec
from tests.core.world import Run, config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "queue_log"
CALLER = "15551230001"


def captured(name: str) -> list[list[str]]:
    (path,) = FIXTURES.glob(f"{name}-*.queue_log")
    return [line.split("|") for line in path.read_text().splitlines()]


def names(run: Run, uids: dict[str, str]) -> Directory:
    agents = {a.id: a for a in run.engine.config.agents}
    return Directory(
        callid=lambda cid: uids.get(cid, cid),
        phone=lambda channel: channel == "voice",
        member=lambda aid: agents[aid].name,
        queues=lambda aid: tuple(agents[aid].queues),
    )


def ours(run: Run, log: QueueLog, start: int, cmds: list[c.Command]) -> list[list[str]]:
    """The calls' lines (agents' logins are ours alone: Asterisk wrote
    none, its agent pool not loaded) of the scenario's commands."""
    lines = []
    for cmd in cmds:
        lines += log.lines(run(cmd), float(start))
    return [x.split("|") for x in lines if "|AGENTLOG" not in x]


def same(
    mine: list[list[str]], theirs: list[list[str]], member_channel: dict[int, str] | None = None
) -> None:
    assert [m[4] for m in mine] == [t[4] for t in theirs]  # the events, in order
    for i, (m, t) in enumerate(zip(mine, theirs, strict=True)):
        if member_channel is not None and i in member_channel:  # CONNECT: hold|member uid|ring
            assert m[6] == member_channel[i]
            m, t = m[:6] + m[7:], t[:6] + t[7:]
        assert m == t, f"line {i}: {'|'.join(m)} != {'|'.join(t)}"


def sales(**queue: object) -> Run:
    return Run(
        config(
            [QueueSpec("sales", channels=("voice",), **queue)],  # type: ignore[arg-type]
            [
                AgentSpec("a1", name="Agent One", queues={"sales": 1}),
                AgentSpec("a2", name="Agent Two", queues={"sales": 1}),
                AgentSpec("a3", name="Agent Three", queues={"sales": 1}),
            ],
        )
    )


def test_answered_the_caller_hangs_up() -> None:
    theirs = captured("01")
    run = sales()
    log = QueueLog(names(run, {"k": theirs[0][1]}))
    t0 = int(theirs[0][0])
    mine = ours(
        run,
        log,
        t0,
        [
            c.Login(-10.0, "a3"),
            c.NewContact(0.0, "k", "sales", "voice", CALLER),
            c.Accept(1.0, "a3", "k"),
            c.Abandon(8.0, "k"),  # the caller hangs up, connected: COMPLETECALLER
        ],
    )
    same(mine, theirs, member_channel={1: "a3"})


def test_answered_the_agent_hangs_up() -> None:
    theirs = captured("02")
    run = sales()
    log = QueueLog(names(run, {"k": theirs[0][1]}))
    mine = ours(
        run,
        log,
        int(theirs[0][0]),
        [
            c.Login(-10.0, "a2"),
            c.NewContact(0.0, "k", "sales", "voice", CALLER),
            c.Accept(1.0, "a2", "k"),
            c.EndContact(21.0, "a2", "k"),
        ],
    )
    same(mine, theirs, member_channel={1: "a2"})


def test_abandoned_while_waiting() -> None:
    theirs = captured("03")
    run = sales()
    log = QueueLog(names(run, {"k": theirs[0][1]}))
    mine = ours(
        run, log, int(theirs[0][0]), [c.NewContact(0.0, "k", "sales", "voice", CALLER), c.Abandon(2.0, "k")]
    )
    same(mine, theirs)


def test_ring_no_answer_then_busy_then_the_next_member() -> None:
    theirs = captured("05")
    run = Run(
        config(
            [QueueSpec("support", channels=("voice",), offer_timeout_s=3)],
            [
                AgentSpec("nx", name="No Answer", queues={"support": 1}),
                AgentSpec("bp", name="Busy Phone", queues={"support": 1}),
                AgentSpec("a2", name="Agent Two", queues={"support": 1}),
            ],
        )
    )
    log = QueueLog(names(run, {"k": theirs[0][1]}))
    mine = ours(
        run,
        log,
        int(theirs[0][0]),
        [
            c.Login(-10.0, "nx"),
            c.NewContact(0.0, "k", "support", "voice", CALLER),
            c.Tick(3.0),  # its phone rang the offer's 3 s: RINGNOANSWER 3000
            c.Login(4.0, "bp"),
            c.NoAnswer(4.0, "bp", "k", "busy"),  # busy at once: RINGNOANSWER 0
            c.Login(4.0, "a2"),
            c.Accept(5.0, "a2", "k"),
            c.Abandon(13.0, "k"),
        ],
    )
    same(mine, theirs, member_channel={3: "a2"})


def test_exit_with_timeout() -> None:
    theirs = captured("06")
    run = sales(max_wait_s=6)
    log = QueueLog(names(run, {"k": theirs[0][1]}))
    mine = ours(run, log, int(theirs[0][0]), [c.NewContact(0.0, "k", "sales", "voice", CALLER), c.Tick(6.0)])
    same(mine, theirs)


def test_pause_everywhere_with_a_reason_and_unpause() -> None:
    """Away from every queue at once is app_queue's QueuePause without a
    queue: PAUSEALL, then a PAUSE per queue (the capture's last six lines)."""
    theirs = captured("07")[4:]
    run = Run(
        config(
            [QueueSpec("support", channels=("voice",)), QueueSpec("sales", channels=("voice",))],
            [AgentSpec("a2", name="Agent Two", queues={"support": 1, "sales": 1})],
        )
    )
    log = QueueLog(names(run, {}))
    mine = ours(
        run,
        log,
        int(theirs[0][0]),
        [c.Login(-1.0, "a2"), c.SetAway(0.0, "a2", "meeting"), c.SetAvailable(0.0, "a2")],
    )
    same(mine, theirs)


def test_blind_transfer() -> None:
    """The capture ends where app_queue lets the call go; ours goes on (the
    ACD places it with the agent it went to). The context field names what
    it went to (``agent`` or ``queue``), not a dialplan context."""
    theirs = captured("09")
    run = Run(
        config(
            [QueueSpec("sales", channels=("voice",))],
            [
                AgentSpec("a1", name="Agent One", queues={"sales": 1}),
                AgentSpec("agent3", name="Agent Three", queues={"sales": 1}),
            ],
        )
    )
    log = QueueLog(names(run, {"k": theirs[0][1]}))
    mine = ours(
        run,
        log,
        int(theirs[0][0]),
        [
            c.Login(-10.0, "a1"),
            c.Login(-10.0, "agent3"),
            c.SetAway(-5.0, "agent3", "busy"),
            c.NewContact(0.0, "k", "sales", "voice", CALLER),
            c.Accept(1.0, "a1", "k"),
            c.Transfer(3.0, "k", by_agent="a1", to_agent="agent3"),
        ],
    )
    mine = [m for m in mine if m[4] not in ("PAUSEALL", "PAUSE")][:3]
    assert mine[2][6] == "agent"
    mine[2][6] = theirs[2][6]
    same(mine, theirs, member_channel={1: "a1"})


def test_a_chat_is_logged_like_a_call_with_its_channel_in_the_url_field() -> None:
    run = Run(
        config([QueueSpec("sales", channels=("chat",))], [AgentSpec("a1", name="Ana", queues={"sales": 1})])
    )
    log = QueueLog(names(run, {}))
    mine = ours(
        run,
        log,
        1_000,
        [
            c.Login(0.0, "a1"),
            c.NewContact(0.0, "chat-1", "sales", "chat", "li@example.com"),  # claimed: not written
            c.Accept(2.0, "a1", "chat-1"),
            c.EndContact(30.0, "a1", "chat-1"),
        ],
    )
    assert ["|".join(m) for m in mine] == [
        "1000|chat-1|sales|NONE|ENTERQUEUE|chat||1",
        "1002|chat-1|sales|Ana|CONNECT|2|a1|2",
        "1030|chat-1|sales|Ana|COMPLETEAGENT|2|28|1",
    ]
