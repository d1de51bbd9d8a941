"""Weighted capacity: can this agent be offered one more contact of channel X?

A profile (see :class:`acd.settings.CapacityProfile`) is compiled once against
the configured channels: ``like`` fallbacks and exclusive-channel defaults are
resolved here so the hot check is a few dict lookups.

Every assignment an agent holds (offered, connected or in wrap-up) counts
against its capacity, so an offer reserves the capacity it would use.
"""

from __future__ import annotations

from collections.abc import Iterable

from acd.settings import CapacityProfile, ChannelRule, ChannelSpec


class CompiledProfile:
    __slots__ = ("_open", "blocks", "capacity", "channels", "cost", "maximum", "name", "unit")

    def __init__(self, profile: CapacityProfile, channels: Iterable[ChannelSpec]) -> None:
        chans = list(channels)
        names = [c.name for c in chans]
        self.name = profile.name
        self.capacity = profile.capacity
        self.cost: dict[str, int] = {}
        self.maximum: dict[str, int] = {}
        for c in chans:
            rule: ChannelRule | None = profile.rules.get(c.name)
            if rule is None and c.like is not None:
                rule = profile.rules.get(c.like)
            if rule is not None:
                self.cost[c.name] = rule.cost
                self.maximum[c.name] = rule.max
        # Channels this profile can take at all, in configuration order.
        self.channels: tuple[str, ...] = tuple(n for n in names if n in self.cost)
        # A load's shape is its per-channel counts as digits of one int
        # (base 2**20 per channel: far above any per-channel maximum), so
        # adding or removing a contact updates it in O(1).
        self.unit: dict[str, int] = {n: 1 << (20 * i) for i, n in enumerate(names)}
        self.blocks: dict[str, frozenset[str]] = {}
        for c in chans:
            explicit = profile.blocks.get(c.name)
            if explicit is None and c.like is not None:
                explicit = profile.blocks.get(c.like)
            if explicit is not None:
                self.blocks[c.name] = frozenset(explicit)
            elif c.exclusive:
                self.blocks[c.name] = frozenset(n for n in names if n != c.name)
            else:
                self.blocks[c.name] = frozenset()
        self._open: dict[int, tuple[str, ...]] = {}

    def open_channels(self, load: Load) -> tuple[str, ...]:
        """Channels that may be offered on top of ``load``. O(1) after the
        first time a load shape is seen (a profile has few shapes)."""
        hit = self._open.get(load.shape)
        if hit is None:
            hit = self._open[load.shape] = tuple(ch for ch in self.channels if can_take(self, load, ch))
        return hit


class Load:
    """What an agent currently holds: capacity used and a count per channel.

    ``shape`` encodes the counts (see ``CompiledProfile.unit``): agents of a
    profile go through few distinct shapes, so the channels open to each
    shape are cached.
    """

    __slots__ = ("counts", "shape", "used")

    def __init__(self) -> None:
        self.used = 0
        self.counts: dict[str, int] = {}
        self.shape = 0

    def add(self, profile: CompiledProfile, channel: str) -> None:
        self.used += profile.cost[channel]
        self.counts[channel] = self.counts.get(channel, 0) + 1
        self.shape += profile.unit[channel]

    def remove(self, profile: CompiledProfile, channel: str) -> None:
        self.used -= profile.cost[channel]
        n = self.counts[channel] - 1
        if n:
            self.counts[channel] = n
        else:
            del self.counts[channel]
        self.shape -= profile.unit[channel]


def can_take(profile: CompiledProfile, load: Load, channel: str) -> bool:
    """O(active channels): cost fits, per-channel max not reached, not blocked."""
    cost = profile.cost.get(channel)
    if cost is None or load.used + cost > profile.capacity:
        return False
    counts = load.counts
    if counts.get(channel, 0) >= profile.maximum[channel]:
        return False
    blocks = profile.blocks
    for active in counts:  # noqa: SIM110 (a plain loop beats all() on this path)
        if channel in blocks[active]:
            return False
    return True
