"""The worker side of a LoadGen test: QSL and SUT adapters around the dispatch library.

This package is the only importer of ``mlperf_loadgen`` (architecture convention 11).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlperf_loadgen as lg
import numpy as np

from inferlab.core.errors import ConfigError, RunFailed
from inferlab.loadgen.dispatch import Dispatcher

log = logging.getLogger(__name__)

_SCENARIO = {
    "SingleStream": lg.TestScenario.SingleStream,
    "MultiStream": lg.TestScenario.MultiStream,
    "Offline": lg.TestScenario.Offline,
    "Server": lg.TestScenario.Server,
}
_MODE = {"performance": lg.TestMode.PerformanceOnly, "accuracy": lg.TestMode.AccuracyOnly}


def complete_to_loadgen(
    ids: np.ndarray, payloads: Any, n_tokens: Sequence[int] | None = None
) -> None:
    """Turn payload rows into QuerySampleResponses; payloads stay alive until LoadGen returns."""
    if isinstance(payloads, np.ndarray):
        arr = np.ascontiguousarray(payloads)
        n = len(ids)
        if n == 0:
            return
        row = arr.nbytes // n
        base = arr.ctypes.data
        addrs = range(base, base + n * row, row)
        qids = np.asarray(ids).tolist()  # Python ints in one call, not one int() per sample
        if n_tokens is None:
            responses = [
                lg.QuerySampleResponse(qid, addr, row)
                for qid, addr in zip(qids, addrs, strict=True)
            ]
        else:
            toks = np.asarray(n_tokens, dtype=np.int64).tolist()
            responses = [
                lg.QuerySampleResponse(qid, addr, row, t)
                for qid, addr, t in zip(qids, addrs, toks, strict=True)
            ]
        lg.QuerySamplesComplete(responses)
        return
    keep = [np.ascontiguousarray(np.frombuffer(p, dtype=np.uint8)) for p in payloads]
    responses = []
    for k, (qid, buf) in enumerate(zip(ids, keep, strict=True)):
        addr = buf.ctypes.data if buf.size else 0
        if n_tokens is None:
            responses.append(lg.QuerySampleResponse(int(qid), addr, buf.nbytes))
        else:
            responses.append(lg.QuerySampleResponse(int(qid), addr, buf.nbytes, int(n_tokens[k])))
    lg.QuerySamplesComplete(responses)


@dataclass(frozen=True)
class TestSpec:
    user_conf: Path
    model: str  # LoadGen config model key
    scenario: str
    mode: str
    out_dir: Path
    total_count: int
    performance_count: int
    audit_config: Path | None
    trace: bool


def configure(spec: TestSpec) -> Any:
    settings = lg.TestSettings()
    rc = settings.FromConfig(str(spec.user_conf), spec.model, spec.scenario)
    if rc != 0:
        raise ConfigError(
            f"LoadGen rejected {spec.user_conf} (FromConfig returned {rc})",
            "check the generated user.conf in the run directory",
        )
    settings.scenario = _SCENARIO[spec.scenario]
    settings.mode = _MODE[spec.mode]
    return settings


def run_test(
    spec: TestSpec,
    *,
    load: Callable[[Sequence[int]], None],
    unload: Callable[[Sequence[int]], None],
    dispatcher: Dispatcher,
    on_start: Callable[[], None] | None = None,
) -> None:
    """Run one LoadGen test in this process. Call at most once per process."""
    settings = configure(spec)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(spec.out_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = spec.trace

    def issue(ids: list[int], indices: list[int]) -> None:
        if len(ids) == 1:  # Server and the stream scenarios: one sample per call
            dispatcher.issue_one(ids[0], indices[0])
        else:
            dispatcher.issue(ids, indices)

    def flush() -> None:
        dispatcher.flush()

    def load_cb(indices: list[int]) -> None:
        load(indices)

    def unload_cb(indices: list[int]) -> None:
        unload(indices)

    sut = lg.ConstructFastSUT(issue, flush)
    qsl = lg.ConstructQSL(spec.total_count, spec.performance_count, load_cb, unload_cb)
    # An explicit audit path: a file that cannot exist when no audit was asked for.
    audit = str(spec.audit_config) if spec.audit_config else str(spec.out_dir / ".no-audit-config")
    try:
        if on_start is not None:
            on_start()
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings, audit)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)


class BatchLoop:
    """Consumer threads: take batches from the dispatcher, run them, complete them."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        run_batch: Callable[[np.ndarray], np.ndarray],
        *,
        threads: int = 1,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._run_batch = run_batch
        self._on_error = on_error
        self._threads = [
            threading.Thread(target=self._loop, name=f"inferlab-batch-{i}", daemon=True)
            for i in range(threads)
        ]
        self.error: BaseException | None = None

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def _loop(self) -> None:
        while True:
            batch = self._dispatcher.next_batch()
            if batch is None:
                return
            try:
                payloads = self._run_batch(batch.indices)
                self._dispatcher.complete_batch(batch, payloads)
            except BaseException as exc:  # keep the first error, stop the test
                log.exception("batch %d failed", batch.seq)
                if self.error is None:
                    self.error = exc
                if self._on_error is not None:
                    self._on_error(exc)
                self._dispatcher.close()
                return

    def stop(self) -> None:
        self._dispatcher.close()
        for t in self._threads:
            t.join(timeout=30)
        if self.error is not None:
            raise RunFailed(f"the SUT failed: {self.error}", "see worker.log in the run directory")
