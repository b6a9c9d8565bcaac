"""Device-resident sample store for the torch backend (architecture convention 5).

At LoadGen's load_query_samples the dataset's uint8 crops (``raw_batch``, NHWC) are uploaded
once to the backend's device; a batch is then gathered there (``index_select``), converted to the
compute dtype and normalised there: float32 ((x / divisor) - mean) / std, in the order the host
path computes it, so the values equal the host path's ``get_batch`` (exactly on CPU; within
float32 rounding of the device's division on a GPU). The NHWC storage seen as NCHW is already
the channels-last memory format, so nothing is transposed.

Per-thread CUDA streams (``stream()``) let one batch thread copy a result to the host while
another runs the model.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from inferlab.core.dataset import RawSamples
from inferlab.core.errors import DataError, UnsupportedError

log = logging.getLogger(__name__)

_UPLOAD_CHUNK = 256  # samples per host->device copy while loading


class DeviceStore:
    """uint8 samples on ``device``; ``gather(indices)`` -> normalised NCHW tensor there."""

    kind = "device"

    def __init__(
        self,
        dataset: Any,
        device: torch.device | str,
        dtype: torch.dtype = torch.float32,
        *,
        channels_last: bool = True,
        capacity: int = 1024,
    ) -> None:
        if not isinstance(dataset, RawSamples):
            raise UnsupportedError(
                f"{type(dataset).__name__} has no raw uint8 samples for a device store",
                "use the host store (--set sample_store=host)",
            )
        self.dataset = dataset
        self.device = torch.device(device)
        self.dtype = dtype
        self.channels_last = channels_last
        divisor, mean, std = dataset.raw_normalization
        shape = (1, len(mean), 1, 1)
        self._divisor = float(divisor)
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(shape)
        self._std = torch.tensor(std, dtype=torch.float32, device=self.device).view(shape)
        self._rows = np.full(int(dataset.total_count), -1, dtype=np.int64)  # index -> row
        self._free: list[int] = []
        self._data: torch.Tensor | None = None  # (capacity, H, W, C) uint8
        self._capacity = max(1, int(capacity))
        self._used = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self.bytes_resident = 0

    # ------------------------------------------------------------------ residency
    def _ensure(self, sample_shape: tuple[int, ...], need: int) -> torch.Tensor:
        data = self._data
        if data is not None and tuple(data.shape[1:]) != sample_shape:
            raise DataError(
                f"sample shape changed from {tuple(data.shape[1:])} to {sample_shape}",
                "all samples of a dataset must have one shape for the device store",
            )
        if data is None or data.shape[0] < need:
            cap = max(need, self._capacity, 2 * (data.shape[0] if data is not None else 0))
            grown = torch.empty((cap, *sample_shape), dtype=torch.uint8, device=self.device)
            if data is not None and self._used:
                grown[: self._used].copy_(data[: self._used])
            self._data = grown
            log.debug("device store: %d sample slots on %s", cap, self.device)
        assert self._data is not None
        return self._data

    def load(self, indices: Sequence[int]) -> None:
        """Load into the dataset (host), then upload the crops not yet resident."""
        self.dataset.load(indices)
        with self._lock:
            todo = [i for i in dict.fromkeys(int(i) for i in indices) if self._rows[i] < 0]
            for start in range(0, len(todo), _UPLOAD_CHUNK):
                part = todo[start : start + _UPLOAD_CHUNK]
                raw = np.ascontiguousarray(self.dataset.raw_batch(np.asarray(part)))
                rows = [self._free.pop() if self._free else -1 for _ in part]
                fresh = rows.count(-1)
                data = self._ensure(tuple(raw.shape[1:]), self._used + fresh)
                for k, r in enumerate(rows):
                    if r < 0:
                        rows[k] = self._used
                        self._used += 1
                src = torch.from_numpy(raw)
                if self.device.type == "cuda":
                    src = src.pin_memory()
                dst = torch.as_tensor(rows, dtype=torch.int64, device=self.device)
                data.index_copy_(0, dst, src.to(self.device, non_blocking=True))
                self._rows[np.asarray(part)] = rows
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.bytes_resident = int(
                (self._rows >= 0).sum() * (self._data[0].numel() if self._data is not None else 0)
            )

    def unload(self, indices: Sequence[int]) -> None:
        with self._lock:
            for i in dict.fromkeys(int(i) for i in indices):
                r = int(self._rows[i])
                if r >= 0:
                    self._rows[i] = -1
                    self._free.append(r)
        self.dataset.unload(indices)

    @property
    def resident_count(self) -> int:
        return int((self._rows >= 0).sum())

    # ------------------------------------------------------------------ batches
    def stream(self) -> torch.cuda.Stream | None:
        """This thread's own CUDA stream (None on CPU)."""
        if self.device.type != "cuda":
            return None
        s = getattr(self._local, "stream", None)
        if s is None:
            s = torch.cuda.Stream(device=self.device)
            self._local.stream = s
        return s

    def gather(self, indices: np.ndarray) -> torch.Tensor:
        """Normalised (n, C, H, W) batch in the compute dtype on the device (channels-last
        memory format when asked), computed on the current stream."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        rows = self._rows[idx]
        if rows.size and rows.min() < 0:
            missing = idx[rows < 0][:8].tolist()
            raise DataError(
                f"samples {missing} were requested before they were loaded on {self.device}",
                "LoadGen loads samples before issuing them; check the QSL load callback",
            )
        data = self._data
        assert data is not None
        sel = torch.from_numpy(rows)
        if self.device.type == "cuda":
            sel = sel.pin_memory().to(self.device, non_blocking=True)
        x = data.index_select(0, sel).permute(0, 3, 1, 2)  # NHWC storage = NCHW channels-last
        if not self.channels_last:
            x = x.contiguous()
        y = x.to(torch.float32)
        if self._divisor != 1.0:
            y = y / self._divisor
        y = (y - self._mean) / self._std
        return y if self.dtype == torch.float32 else y.to(self.dtype)

    def predict(self, backend: Any, indices: np.ndarray) -> np.ndarray:
        """gather -> ``backend.predict_tensor`` -> float32 host array, all on this thread's
        stream: the copy to the host waits for this batch only, not for other threads'."""
        stream = self.stream()
        with (
            torch.inference_mode(),
            torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext(),
        ):
            out = backend.predict_tensor(self.gather(indices))
            return out.to(torch.float32).cpu().numpy()  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "where": f"{self.device} memory, uint8, normalised on the device per batch",
            "device": str(self.device),
            "resident_samples": self.resident_count,
            "bytes_resident": self.bytes_resident,
            "channels_last": self.channels_last,
        }
