"""What a benchmark module provides beyond its spec: the hooks the runner calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inferlab.core.dataset import Dataset
from inferlab.core.spec import Variant


@dataclass(frozen=True)
class ModelFacts:
    """Where the weights came from. random_weights=True means no checkpoint was loaded."""

    random_weights: bool
    path: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricValue:
    metric: str  # checker key ("acc")
    value: float
    unit: str = "%"


@dataclass(frozen=True)
class Evaluation:
    """What the benchmark's official accuracy script would compute and print."""

    values: tuple[MetricValue, ...]
    accuracy_txt: str  # the lines the official script prints
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchPlan:
    """How the SUT forms batches: a dispatch policy (``inferlab.loadgen.dispatch``), an optional
    per-issue reordering of samples, and facts for result.json."""

    policy: Any
    order: Any = None  # Callable[[indices], permutation] | None
    facts: dict[str, Any] = field(default_factory=dict)
    # Samples differ in cost (sequence length): calibrate on the batches this plan cuts from a
    # sample of the QSL, not on one batch repeated.
    variable_cost: bool = False


class BenchmarkTask(Protocol):
    def resolve_dataset_path(self, data_dir: Path | None, dataset_path: Path | None) -> Path | None:
        """The dataset directory to use, or None for the synthetic default."""

    def make_dataset(
        self,
        path: Path | None,
        *,
        count: int | None,
        seed: int,
        cache_dir: Path | None,
        variant: Variant,
        decoder: str,
        synthetic_count: int | None = None,
    ) -> Dataset: ...

    def resolve_model_path(
        self, data_dir: Path | None, model_path: Path | None, variant: Variant | None = None
    ) -> Path | None:
        """The model file to load (``variant``: whose checkpoint to look for), or None."""

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        """Build the network (imports torch lazily) and load weights when given."""

    def null_output_shape(self, variant: Variant) -> tuple[int, ...]: ...

    def postprocess(
        self, outputs: np.ndarray, variant: Variant, indices: np.ndarray, dataset: Dataset
    ) -> np.ndarray:
        """Model outputs for a batch of samples ``indices`` -> accuracy-log payload rows."""

    def batch_plan(self, dataset: Dataset, config: Any, batch_size: int) -> BatchPlan:
        """The batching for a run (``config`` is the RunConfig)."""

    def evaluate(
        self, accuracy_log: Path, dataset: Dataset, variant: Variant, run_dir: Path
    ) -> Evaluation: ...
