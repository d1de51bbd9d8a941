"""Every command the README shows a newcomer, run as they would run it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACD = [sys.executable, "-m", "acd.adapters.daemon.cli"]


def acd(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ACD, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_the_offline_demo_runs_with_whichever_core_is_built() -> None:
    r = acd("demo", "--minutes", "2")
    assert r.returncode == 0, r.stderr
    assert "handled" in r.stdout and "Traceback" not in r.stderr


def test_check_config_of_both_shipped_files_and_hash_password() -> None:
    r = acd("check-config", "config/acd.toml")
    assert r.returncode == 0 and r.stdout.startswith("config/acd.toml: OK"), r.stderr
    r = acd(
        "check-config",
        "config/examples/large-dedicated-teams.toml",
        env={"ACD_WECHAT_SECRET": "a-wechat-secret-of-32-characters"},
    )
    assert r.returncode == 0, r.stderr
    r = acd("hash-password", stdin="s3cret\n")
    assert r.returncode == 0 and r.stdout.startswith("pbkdf2_sha256$")
    r = acd("hash-password", "--token", stdin="a-long-random-admin-token\n")
    assert r.returncode == 0 and r.stdout.startswith("hmac_sha256$")
    r = acd("hash-password", "--token", stdin="short\n")
    assert r.returncode == 1


def test_check_config_refuses_values_that_would_break_the_server(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'skills = ["s"]\n'
        "[server]\nheartbeat_s = nan\nposition_interval_s = 1e-300\n"
        'admin_token_hash = "pbkdf2_sha256$1000000000000$AAAAAAAAAAAAAAAAAAAAAA==$AAAA"\n'
        "[queues.q]\nskills = { s = 1 }\noffer_timeout_s = inf\nwrapup_s = -1\n"
    )
    r = acd("check-config", str(bad))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    for key in ("heartbeat_s", "position_interval_s", "admin_token_hash", "offer_timeout_s", "wrapup_s"):
        assert key in r.stderr, key
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 3000 + "]" * 3000 + "\n")
    r = acd("check-config", str(deep))
    assert r.returncode == 1 and "nested too deeply" in r.stderr and "Traceback" not in r.stderr


def test_check_config_warns_about_a_centre_that_cannot_work(tmp_path: Path) -> None:
    f = tmp_path / "w.toml"
    f.write_text(
        'skills = ["s", "t"]\n'
        "[queues.lonely]\nskills = { s = 1 }\n"
        '[queues.calls]\nchannels = ["voice"]\nskills = { t = 3 }\n'
        '[agents.a]\nprofile = "chat"\nskills = { t = 1 }\nqueues = { calls = 1 }\n'
    )
    r = acd("check-config", str(f))
    assert r.returncode == 0, r.stderr
    assert "warning: queue lonely: no agent serves it" in r.stdout
    assert "warning: queue calls: no member has its skills" in r.stdout
    assert "warning: queue calls: no member's capacity profile takes voice" in r.stdout
    assert "queue calls: voice, needs t>=3, longest-idle, 0 agents (1 lack its skills)" in r.stdout


async def test_a_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = tmp_path / "c.toml"
        cfg.write_text(
            f'skills = ["s"]\n[server]\nlisten = "127.0.0.1:{port}"\n[asterisk]\nfastagi_listen = ""\n'
        )
        proc = await asyncio.create_subprocess_exec(
            *ACD, "run", "--config", str(cfg), cwd=tmp_path, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "cannot listen" in lines[0], lines


async def test_without_a_config_it_says_what_the_embedded_defaults_mean(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *ACD, "run", "--listen", "127.0.0.1:0", cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    seen = b""
    while b"embedded defaults" not in seen:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, seen
        seen += line
    assert b"config embedded default" in seen and b"nobody can log in" in seen
    proc.terminate()
    await asyncio.wait_for(proc.wait(), 30)


def test_the_container_listens_for_asterisk_beyond_loopback_and_can_write_its_data() -> None:
    """No Docker engine here: the image's own command line and layout, read."""
    from acd.adapters.daemon.cli import settings_for, with_agi_listen  # noqa: PLC0415

    docker = (ROOT / "Dockerfile").read_text()
    assert '"--agi-listen", "0.0.0.0:4573"' in docker and "EXPOSE 8080 4573" in docker
    assert "chown acd /app/data" in docker and "VOLUME /app/data" in docker
    s = with_agi_listen(settings_for(str(ROOT / "config/acd.toml")), "0.0.0.0:4573")
    assert (s.asterisk.fastagi_host, s.asterisk.fastagi_port) == ("0.0.0.0", 4573)
    assert with_agi_listen(s, "").asterisk.fastagi_port is None
