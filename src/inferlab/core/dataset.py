"""The QSL-side protocol every dataset implements."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


class Dataset(Protocol):
    dataset_id: str
    total_count: int
    synthetic: bool

    def load(self, indices: Sequence[int]) -> None:
        """Make the given samples resident (LoadGen's load_query_samples)."""

    def unload(self, indices: Sequence[int]) -> None:
        """Drop them again."""

    def get_batch(self, indices: np.ndarray) -> np.ndarray:
        """Stack the preprocessed inputs of resident samples into one batch."""

    def describe(self) -> dict[str, Any]:
        """Facts for result.json: path, count, synthetic, subset."""


@runtime_checkable
class RawSamples(Protocol):
    """A dataset that can hand out its samples before normalisation (uint8 image crops, NHWC)
    and says how to normalise them: the torch backend's device sample store keeps these on the
    GPU and normalises each batch there."""

    def raw_batch(self, indices: np.ndarray) -> np.ndarray:
        """uint8 samples, NHWC."""

    @property
    def raw_normalization(self) -> tuple[float, Any, Any]:
        """(divisor, mean, std): normalised = (raw / divisor - mean) / std, per channel."""


@runtime_checkable
class PromptSource(Protocol):
    """A dataset of prompts (an LLM benchmark's): the token ids of one sample's prompt."""

    def prompt(self, index: int) -> np.ndarray:
        """int32 token ids of sample ``index`` (resident samples only)."""


class ResidentPrompts:
    """An LLM benchmark's records with their prompts' token ids, all resident (ids are small):
    the QSL protocol, the engine's batches and the scoring file every LLM dataset shares. A
    subclass sets the prompts (:meth:`set_prompts`) the way its reference tokenizes them."""

    prompts: list[np.ndarray]
    lengths: np.ndarray

    def __init__(
        self,
        records: list[dict[str, Any]],
        *,
        dataset_id: str,
        source: dict[str, Any],
        synthetic: bool,
        full_count: int,
        count: int | None,
        empty_fix: str,
    ) -> None:
        from inferlab.core.errors import DataError

        if not records:
            raise DataError(f"{dataset_id}: no records", empty_fix)
        if count is not None and not 1 <= count <= len(records):
            raise DataError(
                f"--count {count} is outside the {len(records)} records of the dataset",
                f"pass --count between 1 and {len(records)}, or drop --count",
            )
        self.records = records[: count or len(records)]
        self.dataset_id = dataset_id
        self.source = source
        self.synthetic = synthetic
        self.full_count = full_count
        self.total_count = len(self.records)
        self.references = [str(r["output"]) for r in self.records]

    def set_prompts(self, prompts: list[np.ndarray]) -> None:
        self.prompts = prompts
        self.lengths = np.array([len(p) for p in prompts], dtype=np.int64)

    # the QSL protocol: everything is resident already
    def load(self, indices: Sequence[int]) -> None:
        return None

    def unload(self, indices: Sequence[int]) -> None:
        return None

    def prompt(self, index: int) -> np.ndarray:
        return self.prompts[int(index)]

    def get_batch(self, indices: np.ndarray) -> np.ndarray:
        """(n, 1 + longest) int32: each row its prompt length, then its ids, then zeros."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        longest = int(self.lengths[idx].max()) if idx.size else 0
        out = np.zeros((idx.size, 1 + longest), dtype=np.int32)
        for row, i in enumerate(idx.tolist()):
            p = self.prompts[i]
            out[row, 0] = p.size
            out[row, 1 : 1 + p.size] = p
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            **self.source,
            "total_count": self.total_count,
            "full_count": self.full_count,
            "subset": self.total_count < self.full_count and not self.synthetic,
            "synthetic": self.synthetic,
            "prompt_tokens_mean": round(float(self.lengths.mean()), 2),
            "prompt_tokens_max": int(self.lengths.max()),
        }

    def write_scoring_file(self, path: Path) -> None:
        """The records in the reference's processed-file format (what evaluation.py reads)."""
        import json

        from inferlab.core.files import atomic_write_text

        atomic_write_text(path, json.dumps(self.records, ensure_ascii=False, indent=1) + "\n")
