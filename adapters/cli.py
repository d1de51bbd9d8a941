"""The ``acd`` command line (the composition root grows here with the daemon)."""

from __future__ import annotations

import argparse
import sys

from acd import __version__
from acd.adapters.demo import run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acd", description="Omnichannel ACD server")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the version")
    demo = sub.add_parser("demo", help="route a simulated centre through the engine, printed live")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--minutes", type=float, default=10.0, help="simulated minutes")
    demo.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="simulated seconds per real second (0: as fast as possible)",
    )
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    return run_demo(seed=args.seed, minutes=args.minutes, speed=args.speed, out=sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
