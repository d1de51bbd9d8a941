#!/usr/bin/env python3
"""Same-process A/B of two checkouts' engines on the dispatch benchmark.

    .venv/bin/python scripts/bench_ab.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 20]

On a VM whose speed drifts by more than the change being measured, two
separate runs cannot be compared. This builds both engines (each checkout's
own ``acd`` and ``bench_dispatch.py``, compiled or not as that checkout is)
in one interpreter, at 10,000 agents and 100,000 waiting, then interleaves
their firehoses in slices of ``--slice`` decisions, alternating which goes
first, so both see the same machine. The last line is JSON: each side's
decisions/s and all-in engine time per offer, and the ratio new/old.

It drives each side only through ``build_world``, ``Driver`` and ``Engine``,
which every checkout's benchmark has had, so it can measure old commits too
(hence its own warm-up instead of a newer helper).
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
from types import ModuleType
from typing import Any


def load(checkout: str) -> ModuleType:
    """That checkout's bench_dispatch, importing that checkout's acd."""
    for name in [n for n in sys.modules if n == "acd" or n.startswith("acd.") or n == "bench_dispatch"]:
        del sys.modules[name]
    sys.path[:0] = [f"{checkout}/scripts", checkout]
    try:
        return importlib.import_module("bench_dispatch")
    finally:
        del sys.path[:2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--slice", type=int, default=1000, help="decisions per side per round")
    args = ap.parse_args()

    drivers: list[Any] = []
    cores = []
    for checkout in (args.old, args.new):
        bench = load(checkout)
        cores.append(str(getattr(sys.modules["acd"], "CORE_BUILD", "python")))
        world = bench.build_world(10_000, 1)
        d = bench.Driver(world, bench.Engine(world.config))
        d.fill(100_000 + 40_000)
        d.login_all()
        d.firehose(2000)
        drivers.append((bench, d))
    drivers[-1][0].tune_gc()  # as the daemon does, once everything is built

    totals = [[0.0, 0, 0.0], [0.0, 0, 0.0]]  # deciding time, decisions, engine time
    ratios = []
    for r in range(args.rounds):
        per_round = [0.0, 0.0]
        for i in (0, 1) if r % 2 == 0 else (1, 0):
            d = drivers[i][1]
            d.engine_time = d.deciding_time = 0.0
            d.decisions = 0
            d.firehose(args.slice)
            totals[i][0] += d.deciding_time
            totals[i][1] += d.decisions
            totals[i][2] += d.engine_time
            per_round[i] = d.deciding_time / d.decisions
        ratios.append(per_round[0] / per_round[1])
    sides = {}
    for name, core, (t, n, e), (_, d) in zip(("old", "new"), cores, totals, drivers, strict=True):
        sides[name] = {
            "checkout": getattr(args, name),
            "core": core,
            "decisions_per_s": round(n / t),
            "engine_us_per_offer": round(e / n * 1e6, 2),
            "violations": sum(d.violations.values()),
        }
    result = {
        "benchmark": "dispatch-ab",
        **sides,
        "ratio_new_over_old": round((totals[0][0] / totals[0][1]) / (totals[1][0] / totals[1][1]), 3),
        "median_round_ratio": round(statistics.median(ratios), 3),
    }
    print(json.dumps(result))
    return 0 if sides["old"]["violations"] == sides["new"]["violations"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
