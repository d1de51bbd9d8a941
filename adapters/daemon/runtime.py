"""Process-level runtime policy for the daemon (and the benchmark that
measures what the daemon would do).

Garbage collection: the engine holds millions of long-lived, GC-tracked
objects (records, heap entries) and makes almost no reference cycles: its
garbage is freed by reference counting. CPython's automatic full collection
walks every tracked object (~0.7 s for a 10k-agent, 140k-contact heap on a
2-core VM) and finds nothing, stalling routing. So: freeze what start-up
built (config, agents, indexes), collect the young generations often, and
make automatic full collections rare. The daemon does not schedule a full
collection of its own yet: cycles that reach the old generation (asyncio's
and aiohttp's, not the engine's) wait for CPython's rare automatic one. Its
cost on the benchmark's final heap is ``gc_full_collection_ms``.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations before a generation-0 pass
MIDDLE_THRESHOLD = 50  # generation-0 passes before a generation-1 pass
OLD_THRESHOLD = 1_000  # generation-1 passes before a full pass (rare)


def tune_gc() -> None:
    """Call once start-up objects exist, before serving traffic. No
    collection first: after a recovery of 100,000 contacts it takes a
    second and finds next to nothing (start-up makes few cycles)."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
