"""What a benchmark module provides beyond its spec: the hooks the runner calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inferlab.core.dataset import Dataset
from inferlab.core.errors import DataError, ModelError
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


def find_dataset(
    data_dir: Path | None,
    dataset_path: Path | None,
    dir_name: str,
    contents: str,
    *,
    allow_file: bool = False,
) -> Path | None:
    """The dataset location every benchmark resolves the same way: ``--dataset-path`` (a
    directory, or with ``allow_file`` also a file), else ``<data_dir>/<dir_name>``, else None
    (the synthetic default). ``contents`` names what the directory holds, for the fixes."""
    if dataset_path is not None:
        ok = dataset_path.exists() if allow_file else dataset_path.is_dir()
        if not ok:
            raise DataError(
                f"dataset path {dataset_path} does not exist",
                f"point --dataset-path at the directory holding {contents}",
            )
        return dataset_path
    if data_dir is None:
        return None
    if not data_dir.is_dir():
        raise DataError(
            f"data root {data_dir} does not exist",
            "create it or fix --data-dir / INFERLAB_DATA_DIR",
        )
    path = data_dir / dir_name
    if not path.is_dir():
        raise DataError(
            f"no {dir_name}/ under data root {data_dir}",
            f"put {contents} in {path}, or pass --dataset-path DIR",
        )
    return path


def find_model_file(
    data_dir: Path | None, model_path: Path | None, model_id: str, file_name: str
) -> Path | None:
    """``--model-path`` (must exist), else ``<data_dir>/models/<model_id>/<file_name>`` when
    present, else None (random weights, or an error for formats that need a file)."""
    if model_path is not None:
        if not model_path.is_file():
            raise ModelError(
                f"model file {model_path} does not exist",
                f"pass --model-path to the model file {file_name}",
            )
        return model_path
    if data_dir is not None:
        candidate = data_dir / "models" / model_id / file_name
        if candidate.is_file():
            return candidate
    return None
