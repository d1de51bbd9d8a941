"""Which build of the routing core runs: mypyc-compiled, or its Python source.

Import machinery, not routing: the one module of ``acd`` that reads files.
``pip install`` compiles the hot modules when it can (``setup.py``) and
writes ``_compiled.json`` beside them: each compiled module's source digest.
Python would import a compiled module even after its source was edited, and
run old code; so unless every digest still matches, a finder placed first on
``sys.meta_path`` loads all of them from source (compiled modules reach into
each other's classes, so it is all or nothing). ``ACD_PURE_PYTHON=1`` forces
the source. Both builds run the same code; only the speed differs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).resolve().parent
STAMP = _HERE / "_compiled.json"


class _SourceFirst(MetaPathFinder):
    """Load the named ``acd`` modules from their ``.py`` files."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != "acd" or name not in self.names:
            return None
        return importlib.util.spec_from_file_location(fullname, _HERE / f"{name}.py")


def _digest(name: str) -> str | None:
    try:
        return hashlib.sha256((_HERE / f"{name}.py").read_bytes()).hexdigest()
    except OSError:
        return None


def _choose() -> tuple[str, bool]:
    """('mypyc', False) when the compiled modules match their sources, else
    ('python', stale) with the finder in place; stale: a build exists but its
    sources were edited since. O(size of the core's sources), once."""
    try:
        stamp = json.loads(STAMP.read_text())
        modules: dict[str, str] = stamp["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        modules = {}
    # Compiled files without a readable stamp are bypassed too: we cannot
    # tell what they were built from.
    built = {p.name.split(".")[0] for p in _HERE.iterdir() if p.name.endswith(tuple(EXTENSION_SUFFIXES))}
    names = {n for n in built | set(modules) if (_HERE / f"{n}.py").exists()}
    fresh = bool(modules) and all(_digest(n) == d for n, d in modules.items())
    if fresh and not os.environ.get("ACD_PURE_PYTHON"):
        return str(stamp.get("compiler", "mypyc")), False
    if not any(isinstance(f, _SourceFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst(frozenset(names)))
    return "python", bool(modules) and not fresh


# How the routing core runs in this process ("mypyc" or "python"), and
# whether a compiled build is there but older than the sources (scripts/_env.sh
# rebuilds it then).
CORE_BUILD, STALE = _choose()
