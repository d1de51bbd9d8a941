"""The core stays sans-I/O: no sockets, clocks, files, randomness or async."""

from __future__ import annotations

import ast
from pathlib import Path

import acd

FORBIDDEN = {
    "asyncio",
    "socket",
    "time",
    "os",
    "pathlib",
    "random",
    "threading",
    "subprocess",
    "io",
    "redis",
    "aiohttp",
    "panoramisk",
    "uvloop",
    "msgpack_numpy",
}


# Import machinery, not routing: it picks the compiled build or the sources.
IMPORT_MACHINERY = {"compiled.py"}


def core_modules() -> list[Path]:
    root = Path(acd.__file__).parent
    return sorted(p for p in root.glob("*.py") if p.name not in IMPORT_MACHINERY)


def test_core_has_modules() -> None:
    names = {p.name for p in core_modules()}
    assert {"engine.py", "routing.py", "capacity.py", "states.py"} <= names


def test_core_imports_no_io() -> None:
    bad = []
    for path in core_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert bad == []


def test_core_reads_no_clock() -> None:
    """datetime is allowed for calendar arithmetic (opening hours) on times
    the caller gives, never to ask what time it is."""
    calls = []
    for path in core_modules():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            f = node.func if isinstance(node, ast.Call) else None
            if isinstance(f, ast.Attribute) and f.attr in CLOCK_READS:
                calls.append(f"{path.name}:{f.lineno}: {f.attr}()")
    assert calls == []


CLOCK_READS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter"}
