"""The QSL-side protocol every dataset implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

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
