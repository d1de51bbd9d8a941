"""acd: an omnichannel ACD. ``acd`` itself is the sans-I/O routing core;
``acd.adapters`` (the top-level ``adapters/`` folder) owns all I/O."""

from acd.compiled import CORE_BUILD  # first: it decides how the core modules load
from acd.engine import Engine
from acd.settings import RoutingConfig, default_config

__version__ = "0.1.0"

__all__ = ["CORE_BUILD", "Engine", "RoutingConfig", "__version__", "default_config"]
