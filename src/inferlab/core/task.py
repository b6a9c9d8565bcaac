"""The task protocol: every hook the runner calls for a benchmark, with its default, and the
types that pass between them (model facts, evaluations, batch plans, per-sample outputs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inferlab.core.dataset import Dataset
from inferlab.core.errors import DataError, ModelError, UnsupportedError
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
    """How the SUT forms batches: a dispatch policy (``inferlab.loadgen.dispatch``; None: fixed
    batches of the run's batch size), an optional per-issue reordering of samples, and facts for
    result.json."""

    policy: Any = None
    order: Any = None  # Callable[[indices], permutation] | None
    facts: dict[str, Any] = field(default_factory=dict)
    # Samples differ in cost (sequence length): calibrate on the batches this plan cuts from a
    # sample of the QSL, not on one batch repeated.
    variable_cost: bool = False


@dataclass(frozen=True, slots=True)
class SampleOutput:
    """One sample's response when a benchmark's outputs differ in size from sample to sample
    (a detector's box list, an LLM's token list): the accuracy-log bytes, the numpy dtype they
    decode as (the variant's ``output_dtype``), and, for generation, the token count LoadGen
    records and the first token, sent ahead of the rest when streaming."""

    data: bytes
    dtype: str
    n_tokens: int | None = None
    first_token: bytes | None = None

    @classmethod
    def of(
        cls, values: np.ndarray, *, n_tokens: int | None = None, first: np.ndarray | None = None
    ) -> SampleOutput:
        arr = np.ascontiguousarray(values)
        return cls(
            data=arr.tobytes(),
            dtype=arr.dtype.name,
            n_tokens=n_tokens,
            first_token=None if first is None else np.ascontiguousarray(first).tobytes(),
        )


# What ``postprocess`` returns for a batch: one row per sample (every payload the same size,
# the fast path: one copy into LoadGen's responses), or one SampleOutput per sample.
Payloads = np.ndarray | Sequence[SampleOutput]


@dataclass(frozen=True)
class GenerationSettings:
    """How a generative benchmark's reference decodes (an LLM): new-token limits, greedy
    (``num_beams=1``) or beam search, the EOS ids (None: the model's generation config), and
    the longest prompt + output a request may need (sizes the KV cache)."""

    max_new_tokens: int
    min_new_tokens: int = 0
    num_beams: int = 1
    early_stopping: bool = False
    eos_token_ids: tuple[int, ...] | None = None
    max_seq_len: int = 2048
    output_dtype: str = "int32"  # the accuracy log's token-id dtype
    # scenarios whose responses stream the first token ahead (FirstTokenComplete: TTFT).
    # LoadGen 6.0.17 with token latencies crashes in SingleStream without one.
    stream_scenarios: tuple[str, ...] = ("Server", "Interactive", "SingleStream")


class OnnxIO(Protocol):
    """The adapter between inferlab's one-array batch and an ONNX graph's named inputs and
    outputs (each benchmark's official ONNX file names and splits them its own way)."""

    def feeds(self, inputs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]: ...

    def output(self, outputs: list[np.ndarray], names: list[str]) -> np.ndarray: ...


class BenchmarkTask:
    """Every hook the runner may call for a benchmark, declared once.

    A benchmark's ``task.py`` subclasses this. The hooks without a default (they raise
    NotImplementedError) are the ones every benchmark must give; the others have the default
    stated in their docstring. Nothing here is found by probing attributes: a hook that a
    benchmark lacks is its default."""

    #: The inputs are NCHW images: channels-last pays off on a GPU (torch backend default).
    image_inputs: bool = False
    #: ``<data-dir>/models/<model_id>/`` holds the official checkpoints (resolve_model_path).
    model_id: str = ""

    # ---- data ---------------------------------------------------------------------------
    def resolve_dataset_path(self, data_dir: Path | None, dataset_path: Path | None) -> Path | None:
        """The dataset directory to use, or None for the synthetic default."""
        raise NotImplementedError

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
        preprocess_threads: int | None = None,
    ) -> Dataset:
        """The QSL over ``path``, or the benchmark's synthetic data when it is None.
        ``preprocess_threads``: threads that may prepare the samples LoadGen asks to load
        (None: the benchmark's default)."""
        raise NotImplementedError

    def scoring_files(self, dataset: Dataset, run_dir: Path) -> dict[str, str]:
        """Synthetic runs: write what the official accuracy script needs to score this run's
        log (e.g. a seeded val_map.txt) into ``run_dir``; returns {role: file name}.
        Default: nothing."""
        return {}

    def calibration_set(
        self, dataset: Dataset, data_dir: Path | None, batch_size: int
    ) -> tuple[list[np.ndarray], dict[str, Any]]:
        """Input batches to calibrate 8-bit activation ranges on, and facts about them
        (``closed_division``: MLPerf's own list). Default: none (8-bit is refused)."""
        raise UnsupportedError(
            f"{type(self).__name__} has no calibration set for 8-bit inference",
            "use --dtype fp32, bf16 or fp16 for this benchmark",
        )

    # ---- model --------------------------------------------------------------------------
    def resolve_model_path(
        self, data_dir: Path | None, model_path: Path | None, variant: Variant | None = None
    ) -> Path | None:
        """The model file to load, or None. Default: ``--model-path``, else the variant's
        official file under ``<data_dir>/models/<model_id>/`` when it is there."""
        name = variant.checkpoint_name if variant is not None else None
        return find_model_file(data_dir, model_path, self.model_id, name or "")

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        """Build the network (imports torch lazily) and load weights when given."""
        raise NotImplementedError

    def onnx_io(self, variant: Variant) -> OnnxIO:
        """The adapter to the variant's ONNX graph. Default: the benchmark has no ONNX
        variant."""
        raise UnsupportedError(
            f"{type(self).__name__} has no ONNX variant", "use --backend torch (or null)"
        )

    def null_output_shape(self, variant: Variant) -> tuple[int, ...]:
        """The shape of one sample's model output, which the null backend returns as zeros."""
        raise NotImplementedError

    # ---- outputs ------------------------------------------------------------------------
    def postprocess(
        self, outputs: np.ndarray, variant: Variant, indices: np.ndarray, dataset: Dataset
    ) -> Payloads:
        """Model outputs for the samples ``indices`` -> their accuracy-log payloads: an array
        with one row per sample, or one :class:`SampleOutput` per sample."""
        raise NotImplementedError

    def generation_settings(self, variant: Variant) -> GenerationSettings | None:
        """A generative benchmark's decoding settings (the torch backend then runs its
        generation engine, and the SUT submits each sample as LoadGen issues it). Default:
        None, not generative."""
        return None

    def batch_plan(self, dataset: Dataset, config: Any, batch_size: int) -> BatchPlan:
        """The batching for a run (``config`` is the RunConfig). Default: fixed batches of
        ``batch_size`` (a Server run cuts them on a latency budget as well)."""
        return BatchPlan(facts={"policy": "fixed", "max_batch": batch_size})

    def evaluate(
        self, accuracy_log: Path, dataset: Dataset, variant: Variant, run_dir: Path
    ) -> Evaluation:
        """What the official accuracy script computes and prints for this log."""
        raise NotImplementedError


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
