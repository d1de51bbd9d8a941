#!/usr/bin/env python3
"""Instructions the engine executes per firehose step, for two checkouts.

    .venv/bin/python scripts/count_instructions.py OLD_CHECKOUT NEW_CHECKOUT [--steps 3000]

Wall time on the 2-core VM swings by up to 1.6x between hours, more than
most changes being measured. Instruction counts do not: ``valgrind
--tool=callgrind`` counts what runs inside ``Engine.handle`` (compiled
core: the C function ``CPyDef_engine___Engine___handle``), the same number
on every run. Each checkout's own ``acd`` and ``bench_dispatch.py`` build a
world of 2,000 agents and 28,000 waiting contacts, warm up, then run the
firehose (accepts, endings, arrivals, abandons, presence churn, escalation
timers) for ``--steps`` steps with the cycle collector off. The count is
taken twice, with the firehose and without it, so set-up cancels out.

Needs valgrind, and both checkouts built (``python setup.py build_ext
--inplace``); it runs under valgrind ~50x slower, both counts in parallel.
The last line is JSON: instructions per step for each side and new/old.
Instructions are not seconds (cache misses and the collector do not show),
so a change is confirmed by ``bench_ab.py`` too.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HANDLE = "CPyDef_engine___Engine___handle"


def drive(checkout: str, steps: int) -> None:
    """Run inside valgrind: the world and the firehose, as bench_dispatch does.
    Only build_world, Driver and Engine, which every checkout's benchmark has
    had (as in bench_ab.py), so old commits can be counted too."""
    sys.path[:0] = [checkout, f"{checkout}/scripts"]
    import bench_dispatch as b  # noqa: PLC0415 (that checkout's)

    try:  # the layout since adapters were grouped by the world they talk to
        from acd.adapters.daemon.runtime import tune_gc  # noqa: PLC0415
    except ImportError:  # an older checkout
        from acd.adapters.runtime import tune_gc  # type: ignore[no-redef,import-not-found]  # noqa: PLC0415
    from acd.engine import Engine  # noqa: PLC0415

    world = b.build_world(2_000, 1)
    d = b.Driver(world, Engine(world.config))
    tune_gc()
    d.fill(28_000)
    d.login_all()
    d.firehose(2_000)
    gc.disable()  # its passes land wherever allocation crosses a threshold
    if steps:
        d.firehose(steps)


def count(checkout: str, steps: int, out_dir: str) -> int:
    """Instructions inside Engine.handle for one run."""
    out = Path(out_dir) / f"cg.{abs(hash((checkout, steps)))}.out"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        f"--toggle-collect={HANDLE}",
        sys.executable,
        __file__,
        "--drive",
        checkout,
        str(steps),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for line in out.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def per_step(checkout: str, steps: int, out_dir: str) -> float:
    with ThreadPoolExecutor(2) as pool:
        base, run = pool.map(lambda n: count(checkout, n, out_dir), (0, steps))
    if base == 0:
        raise RuntimeError(f"{checkout}: nothing counted in {HANDLE}; is its core compiled?")
    return (run - base) / steps


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--drive":
        drive(sys.argv[2], int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--steps", type=int, default=3_000)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        old = per_step(str(Path(args.old).resolve()), args.steps, tmp)
        new = per_step(str(Path(args.new).resolve()), args.steps, tmp)
    print(
        json.dumps(
            {
                "benchmark": "instructions-per-step",
                "steps": args.steps,
                "old": {"checkout": args.old, "instructions_per_step": round(old)},
                "new": {"checkout": args.new, "instructions_per_step": round(new)},
                "ratio_new_over_old": round(new / old, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
