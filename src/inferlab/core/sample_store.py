"""Where a run's samples live between LoadGen's load_query_samples and a batch (architecture
convention 5): a ``SampleStore`` chosen by the backend's capabilities.

* :class:`HostStore`: the dataset's own resident samples, gathered and preprocessed on the host
  for every batch (any backend).
* ``inferlab.backends.torch.store.DeviceStore``: samples uploaded once, at load time, as uint8
  crops to the backend's device; a batch is gathered and normalised there (torch backend,
  datasets that offer ``raw_batch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from inferlab.core.dataset import Dataset, RawSamples


class SampleStore(Protocol):
    kind: str  # "host", "device"

    def load(self, indices: Sequence[int]) -> None:
        """Make samples resident (called from LoadGen's load_query_samples)."""

    def unload(self, indices: Sequence[int]) -> None: ...

    def gather(self, indices: np.ndarray) -> Any:
        """One batch, in the form the backend's ``predict`` (host) or ``predict_tensor``
        (device) takes."""

    def describe(self) -> dict[str, Any]: ...


class HostStore:
    """The dataset itself: ``gather`` is ``dataset.get_batch`` (numpy, on the host)."""

    kind = "host"

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def load(self, indices: Sequence[int]) -> None:
        self.dataset.load(indices)

    def unload(self, indices: Sequence[int]) -> None:
        self.dataset.unload(indices)

    def gather(self, indices: np.ndarray) -> np.ndarray:
        return self.dataset.get_batch(indices)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": "host memory, preprocessed per batch"}


def supports_device_store(dataset: Any) -> bool:
    """The dataset can hand out raw uint8 samples and says how to normalise them."""
    return isinstance(dataset, RawSamples)
