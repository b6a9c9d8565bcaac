"""Typed, frozen configuration: RunConfig, YAML files and dotted overrides."""

from inferlab.config.loader import build_config, parse_set, validate
from inferlab.config.run_config import RunConfig

__all__ = ["RunConfig", "build_config", "parse_set", "validate"]
