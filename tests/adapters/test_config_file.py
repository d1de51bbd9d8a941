"""Operator config files: the shipped examples, every error reported at once,
secrets kept out of sight, and the check-config command."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd import commands as c
from acd.adapters.daemon import cli, config_file
from acd.adapters.daemon.config_file import load, parse
from acd.adapters.security.passwords import hash_password, is_password_hash, verify_password
from acd.engine import Engine
from acd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "acd.toml"
LARGE = ROOT / "config" / "examples" / "large-dedicated-teams.toml"


def test_shipped_example_loads_and_routes() -> None:
    s = load(EXAMPLE, env={})
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8080)
    assert [q.name for q in s.routing.queues] == ["sales", "support", "followups"]
    sales = s.routing.queues[0]
    assert (sales.handoff_to, s.options("sales").survey, s.options("sales").hours) == (
        "followups",
        True,
        None,
    )
    assert [r.name for r in s.rules] == ["refunds", "vip", "ivr-billing"]
    assert sales.channels == ("voice", "chat", "wechat")
    assert [st.after for st in sales.escalation] == [30.0, 60.0]
    assert verify_password("alice-demo", s.credentials["alice"])
    assert not verify_password("wrong", s.credentials["alice"])
    engine = Engine(s.routing)
    engine.handle(c.Login(0, "alice"))
    out = engine.handle(c.NewContact(1, "k1", "sales", channel="chat"))
    assert any(type(e).__name__ == "ContactOffered" for e in out)


def test_large_example_loads_with_its_secret_from_the_environment() -> None:
    s = load(LARGE, env={"ACD_WECHAT_SECRET": "s3cret-from-the-environment"})
    assert len(s.routing.agents) == 60
    assert s.gateways["wechat"].secret == "s3cret-from-the-environment"
    assert "s3cret" not in repr(s)
    with pytest.raises(ConfigError, match="ACD_WECHAT_SECRET is not set"):
        load(LARGE, env={})


BAD = """
skills = ["sales", "english"]

[server]
listen = "localhost"
colour = "blue"

[queues.sales]
channel = "voice"
skills = { sales = 9, cooking = 2 }
strategy = "fastest"
[[queues.sales.escalation]]
after_s = 60
[[queues.sales.escalation]]
after_s = 30
accept_level = 1

[queues.support]
channels = ["fax"]
overflow_to = "nowhere"

[agents.alice]
profile = "robot"
skills = { sales = "high" }
queues = { sales = 0, billing = 1 }
password_hash = "hunter2"
"""


def test_every_problem_is_reported_with_file_and_key_path(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(BAD)
    with pytest.raises(ConfigError) as err:
        load(f, env={})
    text = "\n".join(err.value.problems)
    expected = [
        "server.listen: expected host:port, got 'localhost'",
        "server.colour: unknown key (allowed: listen, tls_cert",
        "queues.sales.skills.sales: level must be an integer 1..5, got 9",
        "queues.sales.strategy: 'fastest' is not one of longest-idle",
        "queues.sales.skills: unknown skill 'cooking'",
        "queues.sales.escalation[1].after: 30 must be greater than the previous step's (60)",
        "queues.support.channels: unknown channel 'fax'",
        "queues.support.overflow_to: unknown queue 'nowhere'",
        "agents.alice.profile: unknown profile 'robot'",
        "agents.alice.skills.sales: level must be an integer 1..5, got 'high'",
        "agents.alice.queues.sales: rank must be an integer >= 1",
        "agents.alice.queues: unknown queue 'billing'",
        "agents.alice.password_hash: not a hash from `acd hash-password`",
    ]
    for e in expected:
        assert e in text, e
    assert all(p.startswith(f"{f}: ") for p in err.value.problems)
    assert "hunter2" not in text  # a plain password is never echoed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[agents.a]\n[agents.a]\n", "not valid TOML"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "x.toml"
    f.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load(f)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.toml")


def test_an_empty_file_gives_the_default_channels_and_profiles() -> None:
    s = parse({}, "empty.toml", env={})
    assert [ch.name for ch in s.routing.channels] == ["voice", "chat", "email", "task", "wechat"]
    assert s.routing.queues == () and s.routing.agents == ()


def test_passwords_are_salted_and_checked_in_constant_time() -> None:
    a, b = hash_password("pw", iterations=1000), hash_password("pw", iterations=1000)
    assert a != b and is_password_hash(a)
    assert verify_password("pw", a) and not verify_password("pW", a)
    assert not verify_password("pw", "pbkdf2_sha256$x$y$z")
    assert not is_password_hash("pbkdf2_sha256$10$!!$??")


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "queue sales: voice/chat/wechat, needs sales>=2" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    assert cli.main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "problem(s)" in err and "unknown profile 'robot'" in err


def test_listen_override_for_containers() -> None:
    s = cli.with_listen(parse({}, "empty.toml", env={}), "0.0.0.0:9090")
    assert (s.server.host, s.server.port) == ("0.0.0.0", 9090)
    with pytest.raises(ConfigError, match="expected host:port"):
        cli.with_listen(s, "nonsense")


def test_asterisk_example_and_its_problems(tmp_path: Path) -> None:
    fragment = (ROOT / "config" / "asterisk" / "acd.toml").read_text()
    cfg = tmp_path / "acd.toml"
    cfg.write_text('skills = ["sales"]\n[queues.sales]\nchannels = ["voice"]\n' + fragment)
    s = load(cfg, env={"ACD_AMI_SECRET": "s3cret-from-env"})
    assert (s.asterisk.fastagi_host, s.asterisk.fastagi_port) == ("127.0.0.1", 4573)
    assert s.asterisk.for_queue("sales").announce_every_s == 30
    assert s.asterisk.for_queue("other").announce_every_s == 45
    assert s.asterisk.ami is not None and s.asterisk.ami.secret == "s3cret-from-env"
    assert s.asterisk.for_queue("sales").callback and not s.asterisk.for_queue("other").callback
    assert s.asterisk.callback_dial == "Local/{number}@acd-callback"
    assert "s3cret" not in repr(s)
    with pytest.raises(ConfigError) as e:
        load(cfg, env={})
    assert e.value.problems == [
        f"{cfg}: asterisk.ami.secret_env: environment variable ACD_AMI_SECRET is not set"
    ]
    off = parse({"asterisk": {"fastagi_listen": ""}}, "off.toml", env={})
    assert off.asterisk.fastagi_port is None and off.asterisk.ami is None
    with pytest.raises(ConfigError) as e:
        parse(
            {
                "asterisk": {
                    "fastagi_listen": "nowhere",
                    "announce_every_s": -1,
                    "queues": {"ghost": {}},
                    "ami": {"port": 5038},
                }
            },
            "bad.toml",
            env={},
        )
    assert e.value.problems == [
        "bad.toml: asterisk.fastagi_listen: expected host:port (\"\" turns FastAGI off), got 'nowhere'",
        "bad.toml: asterisk.announce_every_s: must be a number in 0..3600, got -1",
        "bad.toml: asterisk.queues.ghost: unknown queue 'ghost' (queues: none)",
        "bad.toml: asterisk.ami.username: required to use AMI (leave [asterisk.ami] out to run without it)",
    ]
    with pytest.raises(ConfigError) as e:
        parse(
            {
                "queues": {"sales": {"channels": ["voice"]}},
                "asterisk": {
                    "callback_dial": "PJSIP/trunk",
                    "callback_ring_s": 0,
                    "queues": {"sales": {"callback": True, "callback_key": "12"}},
                },
            },
            "cb.toml",
            env={},
        )
    assert e.value.problems == [
        "cb.toml: asterisk.queues.sales.callback_key: expected one of 0 1 2 3 4 5 6 7 8 9 * #, got '12'",
        "cb.toml: asterisk.callback_dial: a dial string with {number} where the caller id goes,"
        " got 'PJSIP/trunk'",
        "cb.toml: asterisk.callback_ring_s: must be a number in 0.01..600, got 0",
        "cb.toml: asterisk.queues.sales.callback: needs [asterisk.ami]:"
        " the key press and the call back go through AMI",
    ]


def test_customers_section_and_its_problems() -> None:
    s = load(EXAMPLE, env={})
    assert (s.customers.store, s.customers.sqlite_path, s.customers.history_limit) == (
        "sqlite",
        "data/customers.sqlite3",
        5,
    )
    r = parse(
        {"customers": {"store": "redis", "redis_url_env": "R"}}, "r.toml", env={"R": "redis://:pw@h:1/0"}
    )
    assert r.customers.redis_url == "redis://:pw@h:1/0" and "pw" not in repr(r)
    with pytest.raises(ConfigError) as e:
        parse(
            {
                "customers": {
                    "store": "mongo",
                    "country_code": "+86",
                    "history_limit": 500,
                    "redis_url_env": "NOPE",
                }
            },
            "c.toml",
            env={},
        )
    assert e.value.problems == [
        'c.toml: customers.store: expected "sqlite" or "redis", got \'mongo\'',
        "c.toml: customers.redis_url_env: environment variable NOPE is not set",
        "c.toml: customers.country_code: expected 1-3 digits without + (86, 1, 49), got '+86'",
        "c.toml: customers.history_limit: must be a number in 0..100, got 500",
    ]


def test_hours_rules_dispositions_and_surveys_and_their_problems() -> None:
    good = {
        "skills": ["sales", "billing"],
        "max_transfer_returns": 2,
        "schedules": {
            "office": {
                "timezone": "Asia/Shanghai",
                "mon-fri": ["09:00-12:00", "13:00-18:00"],
                "sat": "10:00-16:00",
                "closed_on": ["2026-10-01"],
            }
        },
        "queues": {
            "sales": {
                "channels": ["voice", "chat"],
                "hours": "office",
                "when_closed": "handoff",
                "handoff_to": "tasks",
                "dispositions": ["sale", "no-sale"],
                "disposition_required": True,
                "survey": True,
            },
            "tasks": {"channels": ["task"]},
        },
        "rules": [
            {"name": "refund", "when_keywords": ["refund"], "queue": "sales", "skills": {"billing": 2}},
            {"name": "vip", "when_customers": ["phone:008613800000000"], "raise_priority": 5, "stop": True},
        ],
        "survey": {"question": "Rate us 1-5", "voice_timeout_s": 4},
    }
    s = parse(good, "g.toml", env={})
    opts = s.options("sales")
    assert opts.hours is not None and opts.hours.week[5] == ((600, 960),) and opts.hours.week[6] == ()
    assert (opts.dispositions, opts.disposition_required, opts.survey) == (("sale", "no-sale"), True, True)
    assert s.options("tasks").hours is None and s.routing.max_transfer_returns == 2
    assert s.rules[1].customers == frozenset({"phone:+8613800000000"}) and s.rules[1].stop
    assert (s.survey.question, s.survey.voice_timeout_s) == ("Rate us 1-5", 4.0)
    bad = {
        "skills": ["sales"],
        "schedules": {"x": {"timezone": "Mars/Olympus", "weekdays": "09:00-18:00", "mon": "18:00-09:00"}},
        "queues": {
            "sales": {"hours": "nope", "when_closed": "sleep", "disposition_required": True},
        },
        "rules": [
            {"name": "r", "queue": "gone", "skills": {"cooking": 2}, "when_customers": ["phone"]},
            {"name": "idle"},
        ],
        "survey": {"answer_wait_s": 0},
    }
    with pytest.raises(ConfigError) as e:
        parse(bad, "b.toml", env={})
    text = "\n".join(e.value.problems)
    for expected in (
        "schedules.x.timezone: unknown time zone 'Mars/Olympus'",
        "schedules.x.weekdays: 'weekdays' is not a day",
        "schedules.x.mon: '18:00-09:00': the end must be after the start",
        "queues.sales.hours: unknown schedule 'nope'",
        "queues.sales.when_closed: 'sleep' is not one of wait, handoff, leave",
        "queues.sales.disposition_required: needs a list of dispositions",
        "rules[0] (r): unknown queue 'gone'",
        "rules[0] (r).skills: unknown skill 'cooking'",
        "rules[0] (r).when_customers: expected kind:value",
        "rules[1] (idle): does nothing",
        "survey.answer_wait_s: must be a number in 0.01..86400",
    ):
        assert expected in text, expected


def test_every_key_the_parser_accepts_is_in_the_configuration_reference() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    cf = config_file
    keys = {
        *cf._TOP_KEYS,
        *cf._SERVER_TIMES,
        "listen",
        "tls_cert",
        "tls_key",
        "admin_token_hash",
        *cf._LIMIT_RANGES,
        "allowed_origins",
        "identity_secret",
        "identity_secret_env",
        "identity_max_age_s",
        *cf._QUEUE_KEYS,
        *cf._STEP_KEYS,
        *cf._AGENT_KEYS,
        *cf._RULE_KEYS,
        *cf._CUSTOMER_KEYS,
        *cf._VOICE_KEYS,
        *cf._SOUND_KEYS,
        *cf._AMI_KEYS,
        "like",
        "exclusive",
        "capacity",
        "blocks",
        "callback_url",
        "question",
        "thanks",
        "answer_wait_s",
        "voice_timeout_s",
        "fastagi_listen",
        "dial_options",
        "callback_dial",
        "callback_ring_s",
        *cf._SUPERVISOR_KEYS,
        "away_reasons",
        "canned_replies",
        "session_hours",
        "snapshot_records",
        "snapshot_interval_s",
        "enabled",
        "node",
        "lease_ms",
    }
    forms = ("`{}`", "`{}", "{}`", "[{}", ".{}]", ".{}`")
    missing = sorted(k for k in keys if not any(f.format(k) in doc for f in forms))
    assert not missing, missing
