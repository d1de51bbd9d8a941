"""The compiled core (mypyc, built by setup.py) is used only while it matches
its sources; otherwise, or with ACD_PURE_PYTHON=1, every core module loads
from its .py file. Each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import acd
import acd.compiled

PACKAGE = Path(acd.__file__).parent
CORE = (
    "capacity",
    "commands",
    "engine",
    "events",
    "records",
    "routing",
    "settings",
    "skills",
    "states",
    "stats",
    "timers",
)
PROBE = """
import importlib, json, sys
import acd, acd.compiled
from acd import commands as c
from acd.engine import Engine
from acd.settings import default_config
files = {m: importlib.import_module("acd." + m).__file__ for m in sys.argv[1:]}
e = Engine(default_config())
agent = next(iter(e.agents))
kinds = [type(x).__name__ for x in e.handle(c.Login(1.0, agent))]
print(json.dumps({"build": acd.CORE_BUILD, "stale": acd.compiled.STALE, "files": files, "events": kinds}))
"""


def probe(path: Path, pure: bool = False) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "ACD_PURE_PYTHON"}
    if pure:
        env["ACD_PURE_PYTHON"] = "1"
    env["PYTHONPATH"] = str(path)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *CORE], env=env, cwd=path, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def copy_package(tmp_path: Path) -> Path:
    """The acd package as installed here (sources, and any compiled build),
    without the adapters link."""
    shutil.copytree(PACKAGE, tmp_path / "acd", ignore=shutil.ignore_patterns("adapters", "__pycache__"))
    return tmp_path


def from_source(result: dict[str, object]) -> bool:
    files = result["files"]
    assert isinstance(files, dict)
    return all(str(f).endswith(".py") for f in files.values())


def test_pure_python_on_request(tmp_path: Path) -> None:
    result = probe(copy_package(tmp_path), pure=True)
    assert result["build"] == "python"
    assert from_source(result)
    assert result["events"] == ["AgentPresenceChanged"]


def test_an_edited_source_bypasses_the_whole_compiled_build(tmp_path: Path) -> None:
    root = copy_package(tmp_path)
    engine = root / "acd" / "engine.py"
    engine.write_text(engine.read_text() + "\n# edited after the build\n")
    result = probe(root)
    assert result["build"] == "python"
    assert from_source(result)  # routing.py was not edited, and loads from source too
    assert result["stale"] is (root / "acd" / "_compiled.json").exists()
    assert result["events"] == ["AgentPresenceChanged"]


def test_the_compiled_build_runs_while_it_matches(tmp_path: Path) -> None:
    if not (PACKAGE / "_compiled.json").exists():
        pytest.skip("no compiled core here (no C compiler at install, or ACD_PURE_PYTHON set)")
    if acd.compiled.STALE:
        pytest.skip("the compiled core is older than its sources (./scripts/test rebuilds it)")
    stamp = json.loads((PACKAGE / "_compiled.json").read_text())
    assert sorted(stamp["modules"]) == sorted(CORE)
    result = probe(copy_package(tmp_path))
    assert result["build"] == "mypyc"
    assert result["stale"] is False
    files = result["files"]
    assert isinstance(files, dict)
    assert not any(str(f).endswith(".py") for f in files.values())
    assert result["events"] == ["AgentPresenceChanged"]
