"""What the reports' two outlets share (the web routes, ``acd report``): an
instant as people write it, and the rows as CSV."""

from __future__ import annotations

import csv
import zoneinfo
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

LEAD = ("from", "to", "queue", "channel", "agent")  # the CSV's first columns, in this order


def instant(text: str | None, zone: str, default: float) -> float:
    """Unix seconds, or ISO 8601 (without an offset: local time in ``zone``);
    ``default`` when absent. ValueError when neither. Reads 40 characters at most."""
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        pass
    t = datetime.fromisoformat(text[:40])
    if t.tzinfo is None:
        t = t.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    return t.timestamp()


def write_csv(rows: Sequence[dict[str, Any]], zone: str, out: TextIO) -> None:
    """The rows as CSV: the lead columns first, the range's ends in local
    time, a nested value (time per presence) as ``key=value;...``, and
    text a spreadsheet would run as a formula quoted out (CSV injection)."""
    tz = zoneinfo.ZoneInfo(zone)
    flat = [{k: _cell(k, v, tz) for k, v in r.items()} for r in rows]
    fields = sorted(
        {k for r in flat for k in r}, key=lambda k: (LEAD.index(k) if k in LEAD else len(LEAD), k)
    )
    w = csv.DictWriter(out, fields, lineterminator="\r\n")
    w.writeheader()
    w.writerows(flat)


def _cell(key: str, v: Any, zone: zoneinfo.ZoneInfo) -> Any:
    if key in ("from", "to") and isinstance(v, (int, float)):
        return datetime.fromtimestamp(v, zone).isoformat(timespec="seconds")
    if isinstance(v, dict):
        v = ";".join(f"{k}={x}" for k, x in v.items())
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):
        return "'" + v
    return v
