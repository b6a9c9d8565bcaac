"""Each round's ``mlperf.conf`` as versioned data, for LoadGen builds that carry none.

Every PyPI ``mlcommons-loadgen`` release since 4.1.12 compiles the round's mlperf.conf into the
binary and applies it on the first ``FromConfig`` call (rules file §1.1). The first PyPI 4.1
build (4.1.7) looks for the file at a path of the machine that built the wheel instead, so it
runs with zero seeds and no per-model limits unless the harness passes the file itself
(docs/rounds.md). This module holds those values in a typed table and renders them as text
LoadGen parses. Seeds come from :data:`inferlab.core.rounds.SEEDS`, not from here.

Values follow the rules file §1.2-§1.5 and §7; every key/value was checked against the
official file of the round (tests/unit/test_mlperf_conf.py does it again where a
mlcommons/inference checkout is at hand). Times are milliseconds, as in the official file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Final

from inferlab.core.errors import ConfigError
from inferlab.core.rounds import SEEDS

Number = int | float

SCENARIOS: Final = ("SingleStream", "MultiStream", "Server", "Offline")


@dataclass(frozen=True)
class ModelLimits:
    """The lines one config model key has in a round's mlperf.conf (None: no line).

    Field names are the LoadGen keys; ``scope`` says which scenario the line is written for
    ("*" = every scenario)."""

    performance_sample_count_override: int | None = field(default=None, metadata={"scope": "*"})
    sample_concatenate_permutation: int | None = field(default=None, metadata={"scope": "*"})
    use_token_latencies: int | None = field(default=None, metadata={"scope": "*"})
    infer_token_latencies: int | None = field(default=None, metadata={"scope": "*"})
    token_latency_scaling_factor: int | None = field(default=None, metadata={"scope": "*"})
    multistream_target_latency: int | None = field(
        default=None, metadata={"scope": "MultiStream", "key": "target_latency"}
    )
    server_target_latency: int | None = field(
        default=None, metadata={"scope": "Server", "key": "target_latency"}
    )
    ttft_latency: int | None = field(default=None, metadata={"scope": "Server"})
    tpot_latency: int | None = field(default=None, metadata={"scope": "Server"})
    offline_min_query_count: int | None = field(
        default=None, metadata={"scope": "Offline", "key": "min_query_count"}
    )

    def lines(self) -> list[tuple[str, str, Number]]:
        """(scenario, key, value) for each line this model has."""
        out: list[tuple[str, str, Number]] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out.append((f.metadata["scope"], f.metadata.get("key", f.name), value))
        return out


@dataclass(frozen=True)
class RoundConf:
    round: str
    checked_against: str  # the official file these values were compared with
    scenario_defaults: MappingProxyType[str, MappingProxyType[str, Number]]
    models: MappingProxyType[str, ModelLimits]
    test05_seeds: tuple[int, int, int] | None = None


def _frozen(
    d: dict[str, dict[str, Number]],
) -> MappingProxyType[str, MappingProxyType[str, Number]]:
    return MappingProxyType({k: MappingProxyType(v) for k, v in d.items()})


# Scenario-wide lines ("*" model). target_latency of SingleStream/MultiStream and target_qps
# are hints a user.conf is expected to override; Server.target_duration and
# Offline.target_latency_percentile are present in the file but never read by LoadGen.
_DEFAULTS_V41: dict[str, dict[str, Number]] = {
    "SingleStream": {
        "target_latency_percentile": 90,
        "min_duration": 600_000,
        "target_latency": 10,
    },
    "MultiStream": {
        "target_latency_percentile": 99,
        "samples_per_query": 8,
        "min_duration": 600_000,
        "min_query_count": 662,
        "target_latency": 80,
    },
    "Server": {
        "target_latency": 10,
        "target_latency_percentile": 99,
        "target_duration": 0,
        "min_duration": 600_000,
        "target_qps": 1.0,
    },
    "Offline": {"target_latency_percentile": 90, "min_duration": 600_000, "target_qps": 1.0},
}

_EQUAL_ISSUE = 1
_TOKENS = 1

# v4.1 per-model lines. Retired models (ssd-mobilenet, dlrm, rnnt) stay because the v4.1
# file still lists them. mixtral-8x7b has no performance_sample_count line in v4.1 (the
# checker nevertheless wanted 15000; the line arrived in v5.0). 3d-unet's PSC 0 means "the
# whole QSL" (43 cases).
_MODELS_V41: dict[str, ModelLimits] = {
    "resnet50": ModelLimits(
        performance_sample_count_override=1024,
        server_target_latency=15,
        offline_min_query_count=24576,
    ),
    "ssd-mobilenet": ModelLimits(performance_sample_count_override=256),
    "retinanet": ModelLimits(
        performance_sample_count_override=64,
        multistream_target_latency=528,
        server_target_latency=100,
        offline_min_query_count=24576,
    ),
    "bert": ModelLimits(
        performance_sample_count_override=10833,
        server_target_latency=130,
        offline_min_query_count=10833,
    ),
    "dlrm": ModelLimits(performance_sample_count_override=204800, server_target_latency=60),
    "dlrm-v2": ModelLimits(
        performance_sample_count_override=204800,
        server_target_latency=60,
        offline_min_query_count=24576,
    ),
    "rnnt": ModelLimits(
        performance_sample_count_override=2513,
        server_target_latency=1000,
        offline_min_query_count=2513,
    ),
    "3d-unet": ModelLimits(
        performance_sample_count_override=0,
        sample_concatenate_permutation=_EQUAL_ISSUE,
        offline_min_query_count=43,
    ),
    "gptj": ModelLimits(
        performance_sample_count_override=13368,
        sample_concatenate_permutation=_EQUAL_ISSUE,
        infer_token_latencies=1,
        token_latency_scaling_factor=69,
        server_target_latency=20000,
        offline_min_query_count=13368,
    ),
    "llama2-70b": ModelLimits(
        performance_sample_count_override=24576,
        sample_concatenate_permutation=_EQUAL_ISSUE,
        use_token_latencies=_TOKENS,
        server_target_latency=0,  # judged on TTFT/TPOT only
        ttft_latency=2000,
        tpot_latency=200,
        offline_min_query_count=24576,
    ),
    "mixtral-8x7b": ModelLimits(
        sample_concatenate_permutation=_EQUAL_ISSUE,
        use_token_latencies=_TOKENS,
        server_target_latency=0,
        ttft_latency=2000,
        tpot_latency=200,
        offline_min_query_count=15000,
    ),
    "stable-diffusion-xl": ModelLimits(
        performance_sample_count_override=5000,
        server_target_latency=20000,
        offline_min_query_count=5000,
    ),
}

ROUNDS: Final[MappingProxyType[str, RoundConf]] = MappingProxyType(
    {
        "v4.1": RoundConf(
            round="v4.1",
            checked_against="mlcommons/inference tag v4.1 (379ee534): mlperf.conf",
            scenario_defaults=_frozen(_DEFAULTS_V41),
            models=MappingProxyType(_MODELS_V41),
            test05_seeds=(16799458546791641818, 5453809927556429288, 5435552105434836064),
        ),
    }
)

_SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
_TEST05_KEYS = tuple(f"test05_{k}" for k in _SEED_KEYS)


def rounds() -> list[str]:
    """Rounds inferlab has an mlperf.conf for."""
    return sorted(ROUNDS)


def lines(round_name: str) -> list[tuple[str, str, str, Number]]:
    """Every (model, scenario, key, value) line of the round's file, in render order."""
    conf = ROUNDS.get(round_name)
    if conf is None:
        raise KeyError(f"no mlperf.conf for round {round_name!r} (have {', '.join(rounds())})")
    out: list[tuple[str, str, str, Number]] = []
    out += [("*", "*", k, v) for k, v in zip(_SEED_KEYS, SEEDS[round_name], strict=True)]
    if conf.test05_seeds is not None:
        out += [("*", "*", k, v) for k, v in zip(_TEST05_KEYS, conf.test05_seeds, strict=True)]
    for scenario in SCENARIOS:
        out += [("*", scenario, k, v) for k, v in conf.scenario_defaults.get(scenario, {}).items()]
    for model, limits in conf.models.items():
        out += [(model, scenario, k, v) for scenario, k, v in limits.lines()]
    return out


def _fmt(value: Number) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render(round_name: str) -> str:
    """The round's mlperf.conf as LoadGen-parseable text (``model.scenario.key = value``)."""
    conf = ROUNDS.get(round_name)
    if conf is None:
        raise KeyError(f"no mlperf.conf for round {round_name!r} (have {', '.join(rounds())})")
    out = [
        f"# mlperf.conf for MLPerf Inference {round_name}, supplied by inferlab",
        "# (src/inferlab/loadgen/mlperf_conf.py) because the installed LoadGen has no built-in",
        f"# one. Values as in {conf.checked_against}. Times in ms.",
    ]
    previous = None
    for model, scenario, key, value in lines(round_name):
        group = model if model != "*" else ("seeds" if scenario == "*" else scenario)
        if group != previous:
            out.append("")
            out.append(f"# {group}")
            previous = group
        out.append(f"{model}.{scenario}.{key} = {_fmt(value)}")
    return "\n".join(out) + "\n"


def for_round(round_name: str | None) -> str | None:
    """The rendered file for a round, or None where inferlab has none."""
    if round_name is None or round_name not in ROUNDS:
        return None
    return render(round_name)


def effective(round_name: str, model: str, scenario: str) -> dict[str, Number]:
    """The values LoadGen would take from this file for (model, scenario), with its lookup
    precedence: model.scenario, then *.scenario, then model.*, then *.*."""
    table: dict[tuple[str, str, str], Number] = {(m, s, k): v for m, s, k, v in lines(round_name)}
    keys = {k for _, _, k in table}
    out: dict[str, Number] = {}
    for key in sorted(keys):
        for m, s in ((model, scenario), ("*", scenario), (model, "*"), ("*", "*")):
            if (m, s, key) in table:
                out[key] = table[(m, s, key)]
                break
    return out


# --- what adapter.configure() did ----------------------------------------------------------


@dataclass(frozen=True)
class ConfigLoad:
    """How ``adapter.configure()`` loaded LoadGen's settings in this process."""

    loadgen_version: str
    from_config: str  # FromConfig flavor (probe.from_config_flavor)
    embedded_conf: bool  # the build applies its own built-in mlperf.conf
    mlperf_conf: Path | None  # the file inferlab supplied instead (None: built-in one used)
    round: str | None  # the supplied file's round (None: built-in one used)
    calls: tuple[str, ...]  # the files passed to FromConfig, in order

    def describe(self) -> str:
        if self.mlperf_conf is None:
            return f"built-in mlperf.conf of LoadGen {self.loadgen_version}, then user.conf"
        return (
            f"inferlab's {self.round} mlperf.conf ({self.mlperf_conf}), then user.conf; "
            f"LoadGen {self.loadgen_version} has no built-in mlperf.conf"
        )


def place(directory: Path, rnd: str) -> Path:
    """Write round ``rnd``'s mlperf.conf into ``directory`` unless the same text is there
    already; return its path. Which round a LoadGen without a built-in file serves is
    ``inferlab.loadgen.probe``'s decision (``probe.supply_mlperf_conf``).

    ConfigError when a different ``mlperf.conf`` is in the way."""
    text = render(rnd)
    path = directory / "mlperf.conf"
    if not path.exists():
        path.write_text(text)
    elif path.read_text() != text:
        raise ConfigError(
            f"{path} exists and is not inferlab's {rnd} mlperf.conf",
            "remove it: for this LoadGen inferlab writes the round's mlperf.conf itself",
        )
    return path
