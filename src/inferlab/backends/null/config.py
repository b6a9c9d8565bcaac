"""Settings of the null backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from inferlab.core.errors import ConfigError

FailMode = Literal["raise", "stall", "crash", "abort"]
FAIL_MODES: tuple[str, ...] = ("raise", "stall", "crash", "abort")


@dataclass(frozen=True)
class NullBackendConfig:
    """Shape and dtype of one sample's output, and the preallocated batch size."""

    output_shape: tuple[int, ...]
    output_dtype: str = "float32"
    max_batch: int = 1024
    service_time_s: float = 0.0  # simulated time per batch (0 = answer at once)
    # test-only fault injection: at the fail_at-th call of predict (1-based, calibration's
    # batches included), raise / stall forever / crash with SIGSEGV / abort (SIGABRT)
    fail_at: int | None = None
    fail_mode: FailMode = "raise"
    # test-only: the first slow_first calls of predict each take slow_s more (a machine that is
    # busy while the worker calibrates, then idle)
    slow_first: int = 0
    slow_s: float = 0.0

    def __post_init__(self) -> None:
        shape = tuple(self.output_shape)
        if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise ConfigError(
                f"null backend output_shape must be positive integers, got {self.output_shape!r}",
                "use e.g. output_shape: [1000]",
            )
        object.__setattr__(self, "output_shape", shape)
        try:
            np.dtype(self.output_dtype)
        except TypeError as exc:
            raise ConfigError(
                f"null backend output_dtype {self.output_dtype!r} is not a numpy dtype",
                "use e.g. output_dtype: float32",
            ) from exc
        if isinstance(self.max_batch, bool) or not isinstance(self.max_batch, int):
            raise ConfigError(
                f"max_batch must be an integer, got {self.max_batch!r}", "use e.g. max_batch: 1024"
            )
        if self.service_time_s < 0:
            raise ConfigError(
                f"null service time must be >= 0, got {self.service_time_s}",
                "use a service time in seconds, e.g. 0.001",
            )
        if self.fail_at is not None and (isinstance(self.fail_at, bool) or self.fail_at < 1):
            raise ConfigError(
                f"null fail_at must be a batch number >= 1, got {self.fail_at!r}",
                "use e.g. --set null_fail_at=3",
            )
        if self.fail_mode not in FAIL_MODES:
            raise ConfigError(
                f"null fail_mode {self.fail_mode!r} is not one of {', '.join(FAIL_MODES)}",
                "use e.g. --set null_fail_mode=crash",
            )
        if self.slow_first < 0 or self.slow_s < 0:
            raise ConfigError(
                f"null slow_first and slow_ms must be >= 0, got {self.slow_first}, {self.slow_s}",
                "use e.g. --set null_slow_first=5 --set null_slow_ms=500",
            )
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {self.max_batch}", "use max_batch >= 1")
