"""The QSL-side protocol every dataset implements."""

from __future__ import annotations

from collections.abc import Sequence
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
