"""Test-wide settings (``HYPOTHESIS_PROFILE=deep`` searches ten times longer),
the real redis-server the Redis tests talk to, and the real PostgreSQL the
report store's tests talk to."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

_BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("default", _BASE, max_examples=300, stateful_step_count=60)
settings.register_profile("deep", _BASE, max_examples=3000, stateful_step_count=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port for the whole run, keeping
    nothing on disk; ready once it says so on its log."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (./scripts/test installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*args, "--dir", str(workdir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "Ready to accept connections" in line:
            break
    else:
        proc.wait()
        pytest.fail("redis-server did not start:\n" + "".join(seen[-20:]))
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def _postgres_bin() -> str | None:
    """Debian's PostgreSQL server binaries (the newest version installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of the run's own: a fresh cluster (initdb, trust
    on loopback only), on a free port, no fsync; ready once ``pg_ctl -w``
    says it accepts connections.
    PostgreSQL refuses to run as root: then it runs as the postgres user."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed (./scripts/test installs Debian's postgresql)")
    data = tempfile.mkdtemp(prefix="acd-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(data, pg.pw_uid, pg.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    init = [*as_user, f"{bindir}/initdb", "-D", data, "-U", "acd", "-A", "trust", "--no-sync", "-E", "UTF8"]
    subprocess.run(init, check=True, capture_output=True, timeout=120)
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [*as_user, f"{bindir}/pg_ctl", "-D", data, "-l", f"{data}/log"]
    start = [*ctl, "-w", "-o", opts, "start"]
    started = subprocess.run(start, check=False, capture_output=True, text=True, timeout=120)
    if started.returncode != 0:  # pg_ctl -w waited until it accepts connections, or said why not
        pytest.fail("postgres did not start:\n" + started.stdout + started.stderr)
    try:
        yield f"postgresql://acd@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "fast", "-w", "stop"], check=False, capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)
