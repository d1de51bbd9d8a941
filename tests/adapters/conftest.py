"""Each daemon test runs in its own working directory, so the embedded
customer store (``data/customers.sqlite3``, relative) starts empty and
nothing lands in the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def own_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
