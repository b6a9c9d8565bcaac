"""The SUT side of a backend that schedules its own batches (``capabilities.generates``).

Where :class:`~inferlab.loadgen.adapter.BatchLoop` cuts batches and runs each one, this loop
hands every issued sample to the backend at once (``Generator.submit``: an LLM engine whose
requests join the running batch at its next decode step) and completes each one when the
backend's event says it is done: LoadGen then sees per-sample latencies and, with token
streaming, the first token of each sample as soon as it exists (``FirstTokenComplete``: TTFT).
The final response carries **all** tokens, the first included, with their count (TEST06).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from inferlab.core.backend import Generator
from inferlab.core.errors import RunFailed
from inferlab.loadgen.dispatch import Dispatcher
from inferlab.loadgen.policies import FixedBatch

log = logging.getLogger(__name__)

#: the dispatcher settings of this path: every pending sample is cut at once, none waits
TAKE_ALL = FixedBatch(1 << 20)
UNBOUNDED_INFLIGHT = 1 << 30


class GenerationLoop:
    """One feeder thread (dispatcher -> ``backend.submit``) and the backend's own event thread
    (events -> dispatcher). ``stream_first``: send each first token ahead (Server). The
    payload is the generated token ids as ``dtype`` (the accuracy log's, e.g. int32)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        backend: Generator,
        prompt_of: Callable[[int], np.ndarray],
        *,
        stream_first: bool,
        dtype: str = "int32",
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._backend = backend
        self._prompt_of = prompt_of
        self._stream_first = stream_first
        self._dtype = np.dtype(dtype)
        self._on_error = on_error
        self._feeder = threading.Thread(target=self._feed, name="inferlab-generate", daemon=True)
        self._lock = threading.Lock()
        self._completed = 0
        self._tokens = 0
        self._cuts = 0
        self._t0 = 0.0
        self._busy_until = 0.0
        self.error: BaseException | None = None

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._backend.start(self._on_event, self._fail)
        self._feeder.start()

    def _feed(self) -> None:
        while True:
            batch = self._dispatcher.next_batch()
            if batch is None:
                return
            try:
                self._cuts += 1
                for qid, index in zip(batch.ids.tolist(), batch.indices.tolist(), strict=True):
                    self._backend.submit(int(qid), self._prompt_of(int(index)))
            except BaseException as exc:  # noqa: BLE001 - the first error stops the test
                self._fail(exc)
                return

    def _on_event(self, event: Any) -> None:
        rid = int(event.request_id)
        tokens = getattr(event, "tokens", None)
        if tokens is None:  # the first token, ahead of the rest
            if self._stream_first:
                first = np.asarray([event.token], dtype=self._dtype)
                self._dispatcher.first_token(rid, first.tobytes())
            return
        arr = np.asarray(tokens, dtype=self._dtype)
        self._dispatcher.complete([rid], [arr.tobytes()], n_tokens=[int(arr.size)])
        with self._lock:
            self._completed += 1
            self._tokens += int(arr.size)
            self._busy_until = time.perf_counter()

    def _fail(self, exc: BaseException) -> None:
        log.error("generation failed: %s", exc)
        if self.error is None:
            self.error = exc
        if self._on_error is not None:
            self._on_error(exc)
        self._dispatcher.close()

    def stats(self) -> list[dict[str, float]]:
        """One replica: samples completed, dispatcher cuts, seconds from start to the last
        completion, and tokens generated."""
        busy = max(0.0, self._busy_until - self._t0) if self._completed else 0.0
        return [
            {
                "samples": self._completed,
                "batches": self._cuts,
                "busy_s": round(busy, 6),
                "tokens": self._tokens,
            }
        ]

    def stop(self) -> None:
        self._dispatcher.close()
        self._feeder.join(timeout=30)
        try:
            self._backend.stop()
        except BaseException as exc:  # noqa: BLE001 - reported below with the first error
            if self.error is None:
                self.error = exc
        if self.error is not None:
            raise RunFailed(f"the SUT failed: {self.error}", "see worker.log in the run directory")
