"""Build a RunConfig from YAML, flags and dotted overrides. The only place env vars are read."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from inferlab.backends.base import CONFIG_ERROR
from inferlab.backends.registry import BACKENDS, section_class
from inferlab.config.paths import absolute, here, path_fields, resolve_paths
from inferlab.config.run_config import RunConfig
from inferlab.config.sections import SECTION, flat_keys, nest_flat_keys
from inferlab.config.text import read_utf8
from inferlab.core.errors import ConfigError

ENV_DATA_DIR = "INFERLAB_DATA_DIR"
ENV_CACHE_DIR = "INFERLAB_CACHE_DIR"


def _parse_scalar(text: str) -> Any:
    value = yaml.safe_load(text)
    return value


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``key=value`` pairs (dotted keys) into a nested dict."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} has no '='", "write --set key=value")
        key, _, raw = item.partition("=")
        key = key.strip()
        if not key:
            raise ConfigError(f"--set {item!r} has an empty key", "write --set key=value")
        parts = key.split(".")
        if parts[0] == "loadgen":
            if len(parts) != 2:
                raise ConfigError(
                    f"--set {key!r}: LoadGen keys are flat", "write --set loadgen.min_duration=1000"
                )
            value = _parse_scalar(raw)
            if isinstance(value, str):  # YAML reads 1e30 and inf as text; LoadGen's numbers
                try:
                    value = float(value)
                except ValueError:
                    pass
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(
                    f"--set {key}={raw!r}: LoadGen values must be numbers",
                    "give an integer or a decimal number",
                )
            out.setdefault("loadgen", {})[parts[1]] = value
            continue
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = _parse_scalar(raw)
    return out


def load_yaml(path: Path) -> dict[str, Any]:
    text = read_utf8(path, what="config file", missing_fix="check the --config path", bom=True)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}", "fix the YAML") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping", "write key: value lines")
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def build_config(
    *,
    yaml_path: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    sets: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> RunConfig:
    """defaults < environment < YAML < flags (those not None) < --set.

    Paths in the YAML file are relative to its directory; the others (environment, flags,
    --set) to the working directory (:mod:`inferlab.config.paths`)."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if env.get(ENV_DATA_DIR):
        data["data_dir"] = env[ENV_DATA_DIR]
    if env.get(ENV_CACHE_DIR):
        data["cache_dir"] = env[ENV_CACHE_DIR]
    # each layer's flat legacy keys (torch_mode, fold_bn, ...) go into its backend_options
    # first, so that a later layer overrides an earlier one whichever way each spells a key
    if yaml_path is not None:
        yaml_path = absolute(yaml_path, here())
        layer = nest_flat_keys(load_yaml(yaml_path))
        data = _merge(data, resolve_paths(layer, yaml_path.parent, path_fields(RunConfig)))
    if flags:
        data = _merge(data, nest_flat_keys({k: v for k, v in flags.items() if v is not None}))
    data = _merge(data, nest_flat_keys(parse_set(sets)))
    return validate(data)


def validate(data: Mapping[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        parts = [str(p) for p in err["loc"]]
        if parts[:1] == [SECTION] and len(parts) > 1 and parts[1] in BACKENDS:
            tag = parts.pop(1)  # the union member: the backend's name
        else:
            tag = None
        loc = ".".join(parts) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == CONFIG_ERROR:
            ctx = err.get("ctx") or {}
            raise ConfigError(str(ctx.get("message", msg)), str(ctx.get("fix", ""))) from None
        if err["type"] == "extra_forbidden":
            if tag is not None:
                keys = ", ".join(_section_keys(tag)) or "none"
                fix = f"the {tag} backend's settings ({SECTION}) are: {keys}"
                raise ConfigError(f"unknown config key {loc!r}", fix) from exc
            fields = ", ".join(sorted([*RunConfig.model_fields, *flat_keys()]))
            raise ConfigError(f"unknown config key {loc!r}", f"use one of: {fields}") from exc
        if err["type"] == "literal_error":
            raise ConfigError(f"invalid {loc}: {err.get('input')!r}", msg) from exc
        raise ConfigError(f"invalid {loc}: {msg}", f"fix {loc}") from exc


def _section_keys(backend: str) -> list[str]:
    return sorted(k for k in section_class(backend).model_fields if k != "name")


def default_cache_dir(cfg: RunConfig) -> Path:
    if cfg.cache_dir is not None:
        return cfg.cache_dir
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "inferlab"
