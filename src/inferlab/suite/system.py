"""The per-system settings file of a suite, and the RunConfig of each planned run.

One YAML file per machine, as vendors' harnesses keep one config per system::

    backend: torch            # any RunConfig field: for every run
    device: cuda
    dtype: fp16
    benchmarks:
      <benchmark id>:         # for this benchmark's runs
        batch_size: 64
        scenarios:
          Server:             # for this scenario's runs
            loadgen: {target_qps: 12000}

Layers, lowest first: defaults < environment < the file's top level < its benchmark < its
scenario < the suite's flags < ``--set``. Paths in the file are relative to the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferlab.config.loader import build_config, load_yaml
from inferlab.config.run_config import RunConfig
from inferlab.core import registry
from inferlab.core.errors import ConfigError
from inferlab.core.spec import Scenario
from inferlab.suite.plan import PlannedRun

BENCHMARKS_KEY = "benchmarks"
SCENARIOS_KEY = "scenarios"
# decided by the suite for each run: a system file may not set them
SUITE_OWNED = ("benchmark", "scenario", "mode", "audit", "out")


@dataclass(frozen=True)
class SystemFile:
    path: Path | None
    common: dict[str, Any] = field(default_factory=dict)
    per_benchmark: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_scenario: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def layers(self, benchmark: str, scenario: str) -> list[dict[str, Any]]:
        return [
            self.common,
            self.per_benchmark.get(benchmark, {}),
            self.per_scenario.get((benchmark, scenario), {}),
        ]

    def loadgen_value(self, benchmark: str, scenario: str, key: str) -> Any:
        """The LoadGen key the file sets for (benchmark, scenario), the most specific level's."""
        value = None
        for layer in self.layers(benchmark, scenario):
            lg = layer.get("loadgen")
            if isinstance(lg, Mapping) and lg.get(key) is not None:
                value = lg[key]
        return value

    def target_qps(self, benchmark: str, scenario: str) -> float | None:
        """The Server rate the file sets for (benchmark, scenario), at whichever level."""
        value = self.loadgen_value(benchmark, scenario, "target_qps")
        return None if value is None else float(value)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must hold a mapping", "write key: value lines under it")
    return dict(value)


def _no_owned_keys(layer: Mapping[str, Any], where: str) -> None:
    if "backend" in layer and layer["backend"] is None:  # YAML reads a bare null as no value
        raise ConfigError(
            f"{where}: backend: null is YAML's empty value, not the null backend",
            'write backend: "null" (quoted) for the null backend, or drop the key',
        )
    bad = sorted(k for k in layer if k in SUITE_OWNED)
    if bad:
        raise ConfigError(
            f"{where} sets {', '.join(bad)}, which the suite decides for each run",
            "drop it: choose benchmarks, category and --out on the command line",
        )


def load_system_file(path: Path | None) -> SystemFile:
    """Read and check the file's shape (benchmark and scenario names); the values are checked
    as RunConfig fields when each run's config is built (:func:`check_system_file`)."""
    if path is None:
        return SystemFile(None)
    data = load_yaml(path)
    where = f"system file {path}"
    per_bench_raw = _mapping(data.pop(BENCHMARKS_KEY, None), f"{where}: {BENCHMARKS_KEY}")
    _no_owned_keys(data, where)
    per_benchmark: dict[str, dict[str, Any]] = {}
    per_scenario: dict[tuple[str, str], dict[str, Any]] = {}
    for name, raw in per_bench_raw.items():
        try:
            bid = registry.canonical_id(str(name))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc.message}", exc.fix) from None
        layer = _mapping(raw, f"{where}: {BENCHMARKS_KEY}.{name}")
        scen_raw = _mapping(layer.pop(SCENARIOS_KEY, None), f"{where}: {name}.{SCENARIOS_KEY}")
        _no_owned_keys(layer, f"{where}: {BENCHMARKS_KEY}.{name}")
        per_benchmark[bid] = _resolve(layer, path)
        for sname, sraw in scen_raw.items():
            try:
                scenario = Scenario.parse(str(sname)).value
            except ConfigError as exc:
                msg = f"{where}: {name}.{SCENARIOS_KEY}: {exc.message}"
                raise ConfigError(msg, exc.fix) from None
            slayer = _mapping(sraw, f"{where}: {name}.{SCENARIOS_KEY}.{sname}")
            _no_owned_keys(slayer, f"{where}: {name}.{SCENARIOS_KEY}.{sname}")
            per_scenario[(bid, scenario)] = _resolve(slayer, path)
    return SystemFile(path, _resolve(data, path), per_benchmark, per_scenario)


def _resolve(layer: dict[str, Any], path: Path) -> dict[str, Any]:
    """Relative paths in a layer of the file: against the file's directory."""
    from inferlab.config.paths import path_fields, resolve_paths
    from inferlab.config.sections import nest_flat_keys

    return dict(resolve_paths(nest_flat_keys(layer), path.parent, path_fields(RunConfig)))


def merged(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        for k, v in layer.items():
            if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
                out[k] = {**out[k], **v}
            else:
                out[k] = v
    return out


def run_config(
    run: PlannedRun,
    system: SystemFile,
    *,
    flags: Mapping[str, Any],
    sets: Sequence[str],
    out: Path,
    extra: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RunConfig:
    """The RunConfig of one planned run: the system file's layers, the suite's flags, the
    run's own fields (benchmark, scenario, mode, audit, out) and ``extra`` (e.g. the Server
    rate the suite found), then ``--set``."""
    own: dict[str, Any] = {
        "benchmark": run.benchmark,
        "scenario": run.scenario,
        "mode": run.mode,
        "audit": run.audit,
        "out": out,
    }
    layer = merged([*system.layers(run.benchmark, run.scenario), dict(flags), dict(extra or {})])
    layer.update(own)
    try:
        return build_config(flags=layer, sets=sets, environ=environ)
    except ConfigError as exc:
        where = f" (system file {system.path})" if system.path else ""
        raise ConfigError(f"{run.key}{where}: {exc.message}", exc.fix) from None
