"""Null backend: returns zeros instantly, so a run measures LoadGen and harness overhead."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import time
from typing import Any

import numpy as np

from inferlab.backends.null.config import FailMode, NullBackendConfig
from inferlab.core.backend import Backend, Capabilities

log = logging.getLogger(__name__)


class NullBackend(Backend):
    """Answers every batch with zeros of shape ``(n, *output_shape)``.

    Inputs are ignored except for their length (``needs_inputs=False``: an array of sample
    indices will do). Outputs are read-only views of one preallocated zero buffer; the buffer
    only grows (doubling) when a batch is larger than any before it.

    Fault injection, for tests of the failure paths (docs/reliability.md): with ``fail_at=N``
    the N-th call of :meth:`predict` (1-based, calibration's batches included: run with
    ``--no-calibrate`` to count the test's batches only) raises (``fail_mode="raise"``), never
    returns (``"stall"``), or kills the process with SIGSEGV (``"crash"``) or SIGABRT
    (``"abort"``), as a crash in native code would. With ``slow_first=K`` the first K calls
    each take ``slow_s`` longer: a machine busy while the worker calibrates, then idle.
    """

    def __init__(
        self,
        output_shape: tuple[int, ...],
        output_dtype: str = "float32",
        max_batch: int = 1024,
        service_time_s: float = 0.0,
        fail_at: int | None = None,
        fail_mode: FailMode = "raise",
        slow_first: int = 0,
        slow_s: float = 0.0,
    ) -> None:
        self.config = NullBackendConfig(
            tuple(output_shape),
            output_dtype,
            max_batch,
            service_time_s,
            fail_at,
            fail_mode,
            slow_first,
            slow_s,
        )
        self._calls = itertools.count(1)  # next() is atomic under the GIL
        self.output_shape: tuple[int, ...] = self.config.output_shape
        self.output_dtype = np.dtype(self.config.output_dtype)
        self._buffer = self._allocate(self.config.max_batch)
        self.capabilities = Capabilities(
            device="cpu",
            max_batch=self.config.max_batch,
            preferred_batch=self.config.max_batch,
            needs_inputs=False,
        )

    @classmethod
    def from_config(cls, config: NullBackendConfig) -> NullBackend:
        return cls(
            config.output_shape,
            config.output_dtype,
            config.max_batch,
            config.service_time_s,
            config.fail_at,
            config.fail_mode,
            config.slow_first,
            config.slow_s,
        )

    def _allocate(self, rows: int) -> np.ndarray:
        buffer = np.zeros((rows, *self.output_shape), dtype=self.output_dtype)
        buffer.setflags(write=False)  # callers share it: a write would corrupt every answer
        return buffer

    @property
    def capacity(self) -> int:
        """Rows in the preallocated buffer."""
        return int(self._buffer.shape[0])

    def _inject(self, call: int) -> None:
        mode = self.config.fail_mode
        log.warning("null backend: injected %s at batch %d (fail_at)", mode, call)
        if mode == "raise":
            raise RuntimeError(f"null backend: injected failure at batch {call} (null_fail_at)")
        if mode == "stall":
            while True:
                time.sleep(3600)
        for handler in logging.getLogger().handlers:  # the warning reaches worker.log first
            handler.flush()
        if mode == "abort":
            os.abort()
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(60)  # the signal is delivered before this returns

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        if self.config.fail_at is not None or self.config.slow_first:
            call = next(self._calls)
            if call == self.config.fail_at:
                self._inject(call)
            if call <= self.config.slow_first:
                time.sleep(self.config.slow_s)
        n = len(inputs)
        if n > self.capacity:
            rows = max(n, 2 * self.capacity)
            log.debug("null backend: growing output buffer %d -> %d rows", self.capacity, rows)
            self._buffer = self._allocate(rows)
        if self.config.service_time_s:
            time.sleep(self.config.service_time_s)
        return self._buffer[:n]

    def warmup(self, inputs: np.ndarray) -> None:
        """Nothing to warm up."""

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "null",
            "device": "cpu",
            "output_shape": list(self.output_shape),
            "output_dtype": self.output_dtype.name,
            "max_batch": self.config.max_batch,
            "service_time_s": self.config.service_time_s,
            **(
                {"fail_at": self.config.fail_at, "fail_mode": self.config.fail_mode}
                if self.config.fail_at is not None
                else {}
            ),
            **(
                {"slow_first": self.config.slow_first, "slow_s": self.config.slow_s}
                if self.config.slow_first
                else {}
            ),
        }
