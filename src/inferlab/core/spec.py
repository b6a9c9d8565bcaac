"""Frozen, typed descriptions of benchmarks: scenarios, variants, accuracy targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Scenario(StrEnum):
    SINGLE_STREAM = "SingleStream"
    MULTI_STREAM = "MultiStream"
    OFFLINE = "Offline"
    SERVER = "Server"
    # Not a LoadGen scenario: a Server run under the config key ``<model>-interactive``, whose
    # tighter TTFT/TPOT bounds mlperf.conf holds (rules §1.3); submitted as ``Interactive``.
    INTERACTIVE = "Interactive"

    @property
    def loadgen(self) -> str:
        """The LoadGen scenario this one runs as (Interactive: Server)."""
        return SERVER_LIKE.get(self.value, self.value)

    @property
    def server_like(self) -> bool:
        """Scheduled by LoadGen's Server arrival process (Server, Interactive)."""
        return self.loadgen == "Server"

    @classmethod
    def parse(cls, text: str) -> Scenario:
        for s in cls:
            if s.value.lower() == text.strip().lower():
                return s
        names = ", ".join(s.value for s in cls)
        from inferlab.core.errors import ConfigError

        raise ConfigError(f"unknown scenario {text!r}", f"use one of {names}")


# scenario name -> the LoadGen scenario it runs as, for those that are not LoadGen's own
SERVER_LIKE: dict[str, str] = {"Server": "Server", "Interactive": "Server"}


def loadgen_scenario(name: str) -> str:
    """``name``'s LoadGen scenario (Interactive runs as Server); other names unchanged."""
    return SERVER_LIKE.get(name, name)


def is_server_like(name: str) -> bool:
    """Whether scenario ``name`` is scheduled by LoadGen's Server arrival process."""
    return name in SERVER_LIKE


class Mode(StrEnum):
    PERFORMANCE = "performance"
    ACCURACY = "accuracy"


# The field the submission checker reads for each scenario (rules file §2.3) and its unit.
OFFICIAL_FIELD: dict[Scenario, tuple[str, str, float]] = {
    # scenario: (detail-log key, unit, divisor applied for display)
    Scenario.OFFLINE: ("result_samples_per_second", "samples/s", 1.0),
    Scenario.SERVER: ("result_completed_samples_per_sec", "samples/s", 1.0),
    # v6.1's RESULT_FIELD_NEW: no LLM overwrite for Interactive (rules 2.3)
    Scenario.INTERACTIVE: ("result_completed_samples_per_sec", "samples/s", 1.0),
    Scenario.SINGLE_STREAM: ("early_stopping_latency_ss", "ms", 1e6),
    Scenario.MULTI_STREAM: ("early_stopping_latency_ms", "ms", 1e6),
}


@dataclass(frozen=True)
class AccuracyTarget:
    """One accuracy requirement: value >= reference*lower (and <= reference*upper if set)."""

    metric: str  # checker key, e.g. "acc", "F1", "ROUGE1"
    reference: float
    lower: float | None = 0.99
    upper: float | None = None
    upper_reference: float | None = None  # if the upper bound uses another reference value

    @property
    def threshold(self) -> float | None:
        return None if self.lower is None else self.reference * self.lower

    @property
    def upper_limit(self) -> float | None:
        if self.upper is None:
            return None
        ref = self.upper_reference if self.upper_reference is not None else self.reference
        return ref * self.upper

    def check(self, value: float) -> bool:
        lo = self.threshold
        hi = self.upper_limit
        return (lo is None or value >= lo) and (hi is None or value <= hi)


@dataclass(frozen=True)
class Variant:
    """One model format of a benchmark, with what it needs around it."""

    name: str  # e.g. "pytorch"
    fmt: str  # "torch-state-dict", "onnx", "hf-checkpoint"
    preprocessing: str  # preprocessing id (the transform's name)
    num_classes: int | None = None
    label_offset: int = 0
    output_dtype: str = "float32"  # dtype of the accuracy-log payload
    output_layout: str = ""  # human description of the payload layout
    checkpoint_name: str | None = None  # the official file name
    expected_accuracy: float | None = None  # what this checkpoint scores in fp32 (for context)
    backends: tuple[str, ...] = ("torch", "null")

    def supports(self, backend_name: str) -> bool:
        """Whether this format runs on the named backend (its entry in ``backends``)."""
        return backend_name in self.backends


@dataclass(frozen=True)
class QuickSettings:
    """Explicit short-run LoadGen values for one scenario (documented in docs/quick-mode.md)."""

    min_query_count: int
    min_duration_ms: int


@dataclass(frozen=True)
class BenchmarkSpec:
    id: str  # inferlab id, as MLPerf's docs spell it (e.g. "gptj-99")
    loadgen_name: str  # LoadGen config model key (e.g. "gptj")
    checker_name: str  # submission checker name (e.g. "gptj-99")
    description: str
    task: str  # "module:attr" of the object implementing the benchmark's hooks (torch-free)
    dataset_id: str  # directory name under the data root, e.g. "cnn-dailymail"
    dataset_size: int  # full dataset size (accuracy run must cover it)
    performance_sample_count: int
    scenarios: tuple[Scenario, ...]
    variants: tuple[Variant, ...]
    metrics: tuple[str, ...]
    targets: dict[str, tuple[AccuracyTarget, ...]]  # round -> targets
    server_latency_ms: float | None = None
    default_batch: int = 32  # the largest batch when --batch-size is not given (CPU)
    # The largest batch per scenario on a CUDA device (torch backend) when --batch-size is not
    # given; a scenario missing here uses default_batch. See resolve_batch_size.
    gpu_batch: dict[Scenario, int] = field(default_factory=dict)
    synthetic_count: int = 1024
    quick: dict[Scenario, QuickSettings] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    # The variant a run uses when it names none and finds neither dataset nor checkpoint
    # (e.g. a small random network on synthetic data); None: the default variant as usual.
    synthetic_variant: str | None = None
    # Scenarios that run as measurements but cannot be submitted, with the reason.
    unsubmittable: dict[Scenario, str] = field(default_factory=dict)
    # The detail-log field of the official figure where the checker reads another one than
    # OFFICIAL_FIELD's (LLMs: tokens per second; rules 2.3 RESULT_FIELD_BENCHMARK_OVERWRITE).
    result_fields: dict[Scenario, tuple[str, str, float]] = field(default_factory=dict)
    # LoadGen's built-in mlperf.conf has this benchmark's keys (every MLPerf benchmark). A
    # benchmark it does not know (a plugin's) gets its Server bound from ``server_latency_ms``
    # in user.conf; LoadGen's default would apply otherwise.
    in_mlperf_conf: bool = True

    def config_key(self, scenario: Scenario) -> str:
        """The LoadGen config model key of a run in ``scenario``: ``loadgen_name``, or
        ``<loadgen_name>-interactive`` for Interactive (rules §1.3 notes)."""
        if scenario == Scenario.INTERACTIVE:
            return f"{self.loadgen_name}-interactive"
        return self.loadgen_name

    def result_field(self, scenario: Scenario) -> tuple[str, str, float]:
        """(detail-log key, unit, display divisor) of the official figure in ``scenario``."""
        return self.result_fields.get(scenario) or OFFICIAL_FIELD[scenario]

    def variant(self, name: str | None = None, backend: str | None = None) -> Variant:
        if name is None:
            for v in self.variants:
                if backend is None or v.supports(backend):
                    return v
            from inferlab.core.errors import UnsupportedError

            raise UnsupportedError(
                f"{self.id} has no model variant for backend {backend!r}",
                f"use one of: {sorted({b for v in self.variants for b in v.backends})}",
            )
        for v in self.variants:
            if v.name == name:
                return v
        from inferlab.core.errors import ConfigError

        raise ConfigError(
            f"{self.id} has no variant {name!r}",
            f"use one of {[v.name for v in self.variants]}",
        )

    def targets_for(self, round_: str) -> tuple[AccuracyTarget, ...]:
        if round_ in self.targets:
            return self.targets[round_]
        # newest round that has targets
        return self.targets[sorted(self.targets)[-1]]


@dataclass(frozen=True)
class BatchRule:
    """How a backend picks the largest batch when ``--batch-size`` is not given (each backend's
    config section declares one: ``inferlab.backends``)."""

    # Take the benchmark's per-scenario CUDA defaults (``BenchmarkSpec.gpu_batch``) on CUDA.
    gpu_defaults: bool = False
    # One size whatever the benchmark (a backend that runs no model), and its source's wording.
    fixed: int | None = None
    fixed_source: str = ""


def resolve_batch_size(
    spec: BenchmarkSpec,
    scenario: Scenario,
    *,
    requested: int | None,
    device: str,
    rule: BatchRule = BatchRule(),
) -> tuple[int, str]:
    """The largest batch a run cuts, and where the number comes from (for result.json).

    An explicit --batch-size wins. Otherwise a backend whose rule has a fixed size takes it; a
    backend whose rule takes the GPU defaults, on CUDA, takes the benchmark's per-scenario GPU
    default (large for Offline, where throughput is all; smaller for Server, where a batch's
    compute time counts against the latency bound; the query size for SingleStream and
    MultiStream, so no CUDA graph is captured for batches that never form); everything else
    takes ``default_batch``."""
    if requested is not None:
        return requested, "--batch-size"
    if rule.fixed is not None:
        return rule.fixed, rule.fixed_source
    if rule.gpu_defaults and device.startswith("cuda") and scenario in spec.gpu_batch:
        return spec.gpu_batch[scenario], f"{spec.id}'s default for {scenario.value} on CUDA"
    return spec.default_batch, f"{spec.id}'s default"
