"""scripts/demo.py against the daemon running config/acd.toml, as a newcomer
would run it: agents log in, customers arrive on every channel, routing works."""

from __future__ import annotations

import importlib.util
import io
import sys
from dataclasses import replace
from pathlib import Path

from acd.adapters.daemon.config_file import load
from acd.adapters.daemon.server import Server

ROOT = Path(__file__).resolve().parents[2]


async def test_demo_script_drives_the_shipped_config() -> None:
    spec = importlib.util.spec_from_file_location("acd_demo_script", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = demo  # dataclasses look their module up while building
    spec.loader.exec_module(demo)
    settings = load(ROOT / "config" / "acd.toml")
    server = Server(
        replace(settings, server=replace(settings.server, position_interval_s=0.2)), port=0, agi_port=0
    )
    await server.start()
    try:
        out = io.StringIO()
        tally = await demo.Demo(f"http://127.0.0.1:{server.bound_port}", 6.0, seed=3, out=out).run()
        engine = server.runner.engine
        # The shift ended cleanly: everyone logged out, holding nothing.
        assert all(a.status == "logged-out" and not a.assignments for a in engine.agents.values())
    finally:
        await server.stop()
    text = out.getvalue()
    assert tally.customers >= 2 and tally.offers >= 1 and tally.answered >= 1, text
    assert "error:" not in text, text
    assert "summary" in text and " transfers " in text, text
