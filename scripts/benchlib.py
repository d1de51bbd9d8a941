"""What the benchmarks share: ports, percentiles, /proc readings, and
starting a server process and waiting until it says it is ready."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def summary_ms(xs: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in xs]
    return {
        "n": len(ms),
        "p50": round(pct(ms, 50), 3),
        "p99": round(pct(ms, 99), 3),
        "max": round(max(ms), 3) if ms else float("nan"),
        "mean": round(statistics.fmean(ms), 3) if ms else float("nan"),
    }


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def start_process(*args: str, ready: bytes, cwd: Path = ROOT) -> asyncio.subprocess.Process:
    """Start a server process logging to a file (a pipe nobody reads would
    block it); return once the file shows ``ready``. A daemon gets its own
    ``cwd``, so its customer store (``data/``) starts empty every run."""
    log = tempfile.NamedTemporaryFile(prefix="acd-bench-", suffix=".log", delete=False)  # noqa: SIM115
    proc = await asyncio.create_subprocess_exec(*args, stdout=log, stderr=asyncio.subprocess.STDOUT, cwd=cwd)
    log.close()
    async with asyncio.timeout(60):
        while ready not in Path(log.name).read_bytes():
            if proc.returncode is not None:
                raise SystemExit(f"{args[0]} exited before it was ready: {Path(log.name).read_text()}")
            await asyncio.sleep(0.05)  # polling a log file: there is no event to await
    return proc


async def start_daemon(config: Path, cwd: Path | None = None) -> asyncio.subprocess.Process:
    """``acd run`` with ``config``, in ``cwd`` or a fresh working directory
    (an empty customer store and journal), once it logs that it serves."""
    args = ("-m", "acd.adapters.daemon.cli", "run", "--config", str(config))
    where = cwd or Path(tempfile.mkdtemp(prefix="acd-bench-data-"))
    return await start_process(sys.executable, *args, ready=b"serving on", cwd=where)


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
