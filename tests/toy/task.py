"""The toy benchmark's hooks: a dataset of int32 sequences, per-sample outputs of their own
length (with a token count and a first token), and an evaluation that decodes them from
LoadGen's accuracy log."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.core.dataset import Dataset
from inferlab.core.errors import DataError, UnsupportedError
from inferlab.core.spec import Variant
from inferlab.core.task import BenchmarkTask, Evaluation, MetricValue, ModelFacts, SampleOutput
from inferlab.loadgen.accuracy_log import first_payloads
from tests.toy.spec import SPEC

MAX_LEN = 7


class ToySequences:
    """``count`` sequences of 2..MAX_LEN int32 tokens, seeded; always synthetic."""

    dataset_id = SPEC.dataset_id
    synthetic = True

    def __init__(self, count: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.total_count = count
        # at least 2 tokens: LoadGen times the tokens after the first (TPOT) per sample
        self.lengths = rng.integers(2, MAX_LEN + 1, size=count)
        self.tokens = [rng.integers(0, 1000, size=n).astype(np.int32) for n in self.lengths]
        self.seed = seed
        self.resident: set[int] = set()

    def load(self, indices: Sequence[int]) -> None:
        self.resident.update(int(i) for i in indices)

    def unload(self, indices: Sequence[int]) -> None:
        self.resident.difference_update(int(i) for i in indices)

    def get_batch(self, indices: np.ndarray) -> np.ndarray:
        out = np.full((len(indices), MAX_LEN), -1, dtype=np.int32)
        for row, i in enumerate(np.asarray(indices).tolist()):
            if i not in self.resident:
                raise DataError(f"toy sample {i} was not loaded", "a harness bug: report it")
            out[row, : self.lengths[i]] = self.tokens[i]
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "path": None,
            "total_count": self.total_count,
            "full_count": self.total_count,
            "subset": False,
            "seed": self.seed,
            "synthetic": True,
        }


class ToyTask(BenchmarkTask):
    """Only the hooks without a default, and postprocess returning SampleOutputs."""

    def resolve_dataset_path(self, data_dir: Path | None, dataset_path: Path | None) -> Path | None:
        if dataset_path is not None:
            raise UnsupportedError("toy-seq has only synthetic data", "drop --dataset-path")
        return None

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
        return ToySequences(count or synthetic_count or SPEC.synthetic_count, seed)

    def build_model(
        self, variant: Variant, model_path: Path | None, *, seed: int
    ) -> tuple[Any, ModelFacts]:
        raise UnsupportedError("toy-seq runs on the null backend only", "use --backend null")

    def null_output_shape(self, variant: Variant) -> tuple[int, ...]:
        return (1,)

    def postprocess(
        self, outputs: np.ndarray, variant: Variant, indices: np.ndarray, dataset: Dataset
    ) -> list[SampleOutput]:
        ds: Any = dataset
        outs = []
        for i in np.asarray(indices).tolist():
            answer = ds.tokens[i][::-1]
            outs.append(SampleOutput.of(answer, n_tokens=len(answer), first=answer[:1]))
        return outs

    def evaluate(
        self, accuracy_log: Path, dataset: Dataset, variant: Variant, run_dir: Path
    ) -> Evaluation:
        ds: Any = dataset
        payloads, stats = first_payloads(accuracy_log, variant.output_dtype)
        right = sum(1 for i, got in payloads.items() if np.array_equal(got, ds.tokens[i][::-1]))
        total = len(payloads)
        value = 100.0 * right / total if total else 0.0
        lengths = sorted({len(p) for p in payloads.values()})
        return Evaluation(
            values=(MetricValue(metric="exact_match", value=value, unit="%"),),
            accuracy_txt=f"exact_match={value:.3f}%, good={right}, total={total}\n",
            details={
                "total": stats.unique,
                "duplicates": stats.duplicates,
                "good": right,
                "payload_lengths": lengths,
            },
        )


TASK = ToyTask()
