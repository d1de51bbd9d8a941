"""Build hook: compile the routing core with mypyc (pyproject.toml holds the rest).

The engine's hot modules are plain typed Python; mypyc compiles them to C
extensions that run the same source 1.6x faster (docs/performance.md). The
extensions are optional: without a C compiler, or with ACD_PURE_PYTHON=1 at
install time, the package installs as pure Python and behaves the same.

Beside the extensions the build writes ``acd/_compiled.json``, the SHA-256 of
each compiled source. ``acd.compiled`` uses the extensions only while every
source still matches (an edited checkout falls back to its sources).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The sans-I/O modules on the decision path. Settings compile too: read on
# every decision, built once per reload (compiled, their float fields hold
# floats even when given ints). Commands compile like events: the engine
# reads their fields natively.
CORE = (
    "acd/capacity.py",
    "acd/commands.py",
    "acd/engine.py",
    "acd/events.py",
    "acd/records.py",
    "acd/routing.py",
    "acd/settings.py",
    "acd/skills.py",
    "acd/states.py",
    "acd/stats.py",
    "acd/timers.py",
)
STAMP = "_compiled.json"
ROOT = Path(__file__).resolve().parent


def extensions() -> list[Extension]:
    if os.environ.get("ACD_PURE_PYTHON"):
        return []
    try:
        from mypyc.build import mypycify  # noqa: PLC0415 (only when compiling)
    except ImportError:  # mypy is a build requirement; a bare `setup.py` call may lack it
        return []
    exts = mypycify(list(CORE), opt_level="3", group_name="acd._core")
    for ext in exts:
        ext.optional = True  # no compiler: install pure Python
    return exts


class BuildCore(build_ext):
    """Build the extensions, then stamp the sources they were built from,
    only if every one of them was built."""

    def run(self) -> None:
        super().run()
        if not self.extensions:
            return
        paths = [Path(self.get_ext_fullpath(ext.name)) for ext in self.extensions]
        if not all(p.exists() for p in paths):
            return
        sources = {Path(src).stem: hashlib.sha256((ROOT / src).read_bytes()).hexdigest() for src in CORE}
        stamp = Path(self.get_ext_fullpath("acd.engine")).parent / STAMP
        stamp.write_text(json.dumps({"compiler": "mypyc", "modules": sources}, indent=1) + "\n")


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildCore})
