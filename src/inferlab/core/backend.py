"""Backend ABC and capabilities. Other code reads capabilities, never a backend's name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Capabilities:
    device: str  # "cpu", "cuda:0"
    max_batch: int
    preferred_batch: int
    needs_inputs: bool = True  # False: the backend ignores inputs (null backend)
    is_async: bool = False
    streaming: bool = False
    random_weights: bool = False  # weights were random-initialised, not a checkpoint
    # the backend schedules its own batches (an LLM engine: requests join and leave between
    # decode steps): the SUT submits each sample as it is issued (``Generator``) instead of
    # cutting batches, and completes it when the backend says it is done
    generates: bool = False


class Backend(ABC):
    """Runs a model on batches of preprocessed inputs."""

    capabilities: Capabilities

    @abstractmethod
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Run one batch; returns the raw model output for the benchmark's postprocess."""

    def warmup(self, inputs: np.ndarray) -> None:
        self.predict(inputs)

    def describe(self) -> dict[str, Any]:
        """Facts for result.json (model file, dtype, device, threads...)."""
        return {}

    def close(self) -> None:
        """Release resources."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def in_chunks(run: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, step: int) -> np.ndarray:
    """``run`` on ``inputs`` in slices of at most ``step`` rows, outputs concatenated (a batch
    larger than a backend's max_batch)."""
    n = int(inputs.shape[0])
    if n <= step:
        return run(inputs)
    return np.concatenate([run(inputs[i : i + step]) for i in range(0, n, step)], axis=0)


class Generator(Protocol):
    """What a backend with ``capabilities.generates`` offers besides ``predict`` (which runs
    a static batch synchronously: warm-up, calibration). Events are the backend's own objects
    with ``request_id`` and either ``token`` (the first generated token, streamed ahead) or
    ``tokens`` (every generated token, the first included: the request is done)."""

    def start(
        self, on_event: Callable[[Any], None], on_error: Callable[[BaseException], None]
    ) -> None:
        """Start scheduling (a thread of the backend's); events go to ``on_event``."""

    def submit(self, request_id: int, prompt: np.ndarray) -> None:
        """Queue one request (thread-safe); ``prompt`` holds its token ids."""

    def stop(self) -> None:
        """Finish the current step and stop; re-raise the loop's error, if any."""
