"""Test-wide settings. ``HYPOTHESIS_PROFILE=deep`` searches ten times longer."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("default", _BASE, max_examples=300, stateful_step_count=60)
settings.register_profile("deep", _BASE, max_examples=3000, stateful_step_count=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
