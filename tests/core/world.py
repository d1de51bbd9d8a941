"""Small configurations for core tests, built from the real settings types."""

from __future__ import annotations

from acd.commands import Command
from acd.engine import Engine
from acd.events import ContactOffered, Event
from acd.settings import (
    DEFAULT_CHANNELS,
    DEFAULT_PROFILES,
    AgentSpec,
    CapacityProfile,
    ChannelSpec,
    QueueSpec,
    RoutingConfig,
)

SKILLS = ("sales", "support", "french", "rare")


def config(
    queues: list[QueueSpec],
    agents: list[AgentSpec],
    profiles: tuple[CapacityProfile, ...] = DEFAULT_PROFILES,
    channels: tuple[ChannelSpec, ...] = DEFAULT_CHANNELS,
) -> RoutingConfig:
    return RoutingConfig(
        channels=channels,
        profiles=profiles,
        skills=SKILLS,
        queues=tuple(queues),
        agents=tuple(agents),
    ).validate()


class Run:
    """An engine plus the events it produced, for assertions."""

    def __init__(self, cfg: RoutingConfig) -> None:
        self.engine = Engine(cfg)
        self.events: list[Event] = []

    def __call__(self, cmd: Command) -> list[Event]:
        out = self.engine.handle(cmd)
        self.events += out
        return out

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def offers(self) -> list[tuple[str, str]]:
        return [(e.contact_id, e.agent_id) for e in self.events if isinstance(e, ContactOffered)]
