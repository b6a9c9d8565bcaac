"""The worker side of a LoadGen test: QSL and SUT adapters around the dispatch library.

This package is the only importer of ``mlperf_loadgen`` (architecture convention 11).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import mlperf_loadgen as lg
import numpy as np

from inferlab.core.errors import ConfigError, RunFailed, UnsupportedError
from inferlab.core.task import SampleOutput
from inferlab.loadgen import mlperf_conf, probe
from inferlab.loadgen.dispatch import Batch, Dispatcher, LatencyBudget

if TYPE_CHECKING:
    from inferlab.loadgen.native import NativeIssueQueue

log = logging.getLogger(__name__)

_SCENARIO = {
    "SingleStream": lg.TestScenario.SingleStream,
    "MultiStream": lg.TestScenario.MultiStream,
    "Offline": lg.TestScenario.Offline,
    "Server": lg.TestScenario.Server,
}
_MODE = {"performance": lg.TestMode.PerformanceOnly, "accuracy": lg.TestMode.AccuracyOnly}


class _ResponsePool:
    """Reusable ``QuerySampleResponse`` objects over a staging buffer, for one thread.

    Constructing a pybind ``QuerySampleResponse`` costs about 3x as much as setting the ``id``
    of an existing one (docs/performance.md). The pool keeps ``capacity`` responses whose
    ``data``/``size`` point at fixed rows of its own buffer; a completion copies the payload
    rows into that buffer (one memcpy) and only sets ids. Safe because
    ``QuerySamplesComplete`` copies the response structs (and LoadGen the payload bytes, for
    the accuracy log) before it returns.
    """

    __slots__ = ("buf", "responses", "row")

    def __init__(self, row: int, capacity: int) -> None:
        self.row = row
        self.buf = np.zeros(max(1, row * capacity), dtype=np.uint8)
        base = self.buf.ctypes.data
        self.responses = [lg.QuerySampleResponse(0, base + k * row, row) for k in range(capacity)]

    def complete(self, ids: np.ndarray, rows: np.ndarray, n_tokens: Sequence[int] | None) -> None:
        n = len(ids)
        if self.row:
            self.buf[: n * self.row] = rows.reshape(-1).view(np.uint8)
        responses = self.responses[:n]
        list(map(setattr, responses, repeat("id"), np.asarray(ids).tolist()))
        if n_tokens is not None:
            toks = np.asarray(n_tokens, dtype=np.int64).tolist()
            list(map(setattr, responses, repeat("n_tokens"), toks))
        lg.QuerySamplesComplete(responses)


_POOLS = threading.local()
_POOL_MIN = 256


def _pool_for(row: int, n: int) -> _ResponsePool:
    pool: _ResponsePool | None = getattr(_POOLS, "pool", None)
    if pool is None or pool.row != row or len(pool.responses) < n:
        capacity = max(n, _POOL_MIN, len(pool.responses) if pool is not None else 0)
        pool = _ResponsePool(row, capacity)
        _POOLS.pool = pool
    return pool


def complete_to_loadgen(
    ids: np.ndarray, payloads: Any, n_tokens: Sequence[int] | None = None
) -> None:
    """Turn payload rows into QuerySampleResponses and complete them in one call.

    A numpy array (one row per id) goes through this thread's response pool; a sequence of
    per-sample buffers (rows of different sizes) gets fresh responses that stay alive until
    LoadGen returns."""
    if isinstance(payloads, np.ndarray):
        n = len(ids)
        if n == 0:
            return
        arr = np.ascontiguousarray(payloads)
        row = arr.nbytes // n
        _pool_for(row, n).complete(ids, arr, n_tokens)
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


def first_token_to_loadgen(query_id: int, payload: Any) -> None:
    """Tell LoadGen a sample's first token (token streaming: its time is the TTFT); LoadGen
    copies the bytes before it returns."""
    buf = np.ascontiguousarray(np.frombuffer(payload, dtype=np.uint8))
    addr = buf.ctypes.data if buf.size else 0
    lg.FirstTokenComplete([lg.QuerySampleResponse(int(query_id), addr, buf.nbytes)])


def complete_samples(dispatcher: Dispatcher, batch: Batch, outs: Sequence[SampleOutput]) -> None:
    """Complete a batch whose samples answered with payloads of their own size: first tokens
    first (each before its sample's completion), then every payload with its token count."""
    if len(outs) != len(batch):
        raise RunFailed(
            f"postprocess returned {len(outs)} outputs for a batch of {len(batch)} samples",
            "the task's postprocess must return one SampleOutput per sample",
        )
    for qid, out in zip(batch.ids.tolist(), outs, strict=True):
        if out.first_token is not None:
            dispatcher.first_token(qid, out.first_token)
    counts = [out.n_tokens for out in outs]
    n_tokens = None if all(c is None for c in counts) else [c or 0 for c in counts]
    dispatcher.complete_batch(batch, [out.data for out in outs], n_tokens=n_tokens)


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
    # issue path: "off" = LoadGen calls Python per query (ConstructFastSUT); "on" = the native
    # issue queue (inferlab.loadgen.native), an error when it cannot be built; "auto" = native
    # when available, else Python
    native_issue: Literal["off", "on", "auto"] = "off"


def configure(spec: TestSpec) -> tuple[Any, mlperf_conf.ConfigLoad]:
    """TestSettings for the spec, and how they were loaded (also logged).

    A LoadGen with a built-in mlperf.conf gets exactly one ``FromConfig(user.conf)`` call: it
    applies its own file first, and a second user.conf call would log an ERROR that fails a
    submission (rules file §1.1). A build without one (PyPI 4.1.7; LoadGen 4.0 and older) gets
    the round's mlperf.conf from inferlab, written next to user.conf and read first with the
    seed keys, then user.conf; in the 4.1.7 build both are read as ``is_mlperf_conf=True``, so
    LoadGen does not look for its own missing file (that logs "can't open file" as an ERROR).
    """
    import tempfile

    version = probe.installed_version()
    flavor = probe.from_config_flavor(lg)
    with tempfile.TemporaryDirectory(prefix="inferlab-conf-") as tmp:
        empty = Path(tmp) / "empty.conf"  # must exist: the 4.1.7 build reads the given path
        empty.write_text("")
        embedded = any(probe.builtin_seeds(lg, spec.model, spec.scenario, str(empty)))
    settings = lg.TestSettings()
    supplied: Path | None = None
    rnd: str | None = None
    calls: list[str] = []
    if embedded:
        rc = probe.load_user_conf(lg, settings, str(spec.user_conf), spec.model, spec.scenario)
        calls.append(spec.user_conf.name)
    else:
        supplied, rnd = probe.supply_mlperf_conf(spec.user_conf.parent, version, flavor)
        rc = probe.load_as_mlperf_conf(lg, settings, str(supplied), spec.model, spec.scenario)
        calls.append(f"{supplied.name} (as mlperf.conf)")
        if rc != 0:
            raise ConfigError(
                f"LoadGen rejected {supplied} (FromConfig returned {rc})",
                "report it: the file is inferlab's own (src/inferlab/loadgen/mlperf_conf.py)",
            )
        # the same way: no user.conf count, so no lookup of the build's missing file
        rc = probe.load_as_mlperf_conf(lg, settings, str(spec.user_conf), spec.model, spec.scenario)
        calls.append(f"{spec.user_conf.name} (as mlperf.conf)")
    if rc != 0:
        raise ConfigError(
            f"LoadGen rejected {spec.user_conf} (FromConfig returned {rc})",
            "check the generated user.conf in the run directory",
        )
    settings.scenario = _SCENARIO[spec.scenario]
    settings.mode = _MODE[spec.mode]
    load = mlperf_conf.ConfigLoad(
        loadgen_version=version,
        from_config=flavor,
        embedded_conf=embedded,
        mlperf_conf=supplied,
        round=rnd,
        calls=tuple(calls),
    )
    log.info("LoadGen config: %s; FromConfig calls: %s", load.describe(), ", ".join(calls))
    return settings, load


def run_test(
    spec: TestSpec,
    *,
    load: Callable[[Sequence[int]], None],
    unload: Callable[[Sequence[int]], None],
    dispatcher: Dispatcher,
    on_start: Callable[[], None] | None = None,
    on_issue_path: Callable[[str, str], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> mlperf_conf.ConfigLoad:
    """Run one LoadGen test in this process (at most once per process); returns how its
    settings were loaded.

    ``on_issue_path(path, detail)`` is told which issue path runs, before the test: "native"
    (detail: the library) or "python" (detail: why). ``on_error`` gets an exception raised
    while feeding the dispatcher on the native path (the test cannot go on: samples would
    be lost); without it the error is logged and raised once StartTest returns."""
    settings, config_load = configure(spec)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(spec.out_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = spec.trace

    def flush() -> None:
        dispatcher.flush()

    def load_cb(indices: list[int]) -> None:
        load(indices)

    def unload_cb(indices: list[int]) -> None:
        unload(indices)

    queue, detail = _native_queue(spec.native_issue)
    if queue is not None:
        _run_native(
            spec,
            queue,
            dispatcher,
            settings,
            log_settings,
            load_cb,
            unload_cb,
            on_start=on_start,
            on_error=on_error,
            on_issue_path=on_issue_path,
        )
        return config_load
    if on_issue_path is not None:
        on_issue_path("python", detail)
    sut = lg.ConstructFastSUT(dispatcher.issue_lists, flush)
    qsl = lg.ConstructQSL(spec.total_count, spec.performance_count, load_cb, unload_cb)
    try:
        if on_start is not None:
            on_start()
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings, _audit_path(spec))
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    return config_load


def _audit_path(spec: TestSpec) -> str:
    # An explicit audit path: a file that cannot exist when no audit was asked for.
    return str(spec.audit_config) if spec.audit_config else str(spec.out_dir / ".no-audit-config")


def _native_queue(mode: str) -> tuple[NativeIssueQueue | None, str]:
    """The native issue queue when ``mode`` asks for it and it can be built, with the
    library's path; else None and why. ``on`` raises UnsupportedError instead."""
    if mode == "off":
        return None, "native_issue=off"
    try:
        from inferlab.loadgen.native import NativeIssueQueue

        queue = NativeIssueQueue("inferlab-native")
    except UnsupportedError as exc:
        if mode == "on":
            raise
        log.warning("native issue path unavailable, using the Python one: %s", exc.message)
        return None, exc.message
    return queue, str(queue.library)


#: most samples one take hands to the dispatcher (a multi-sample query always goes whole)
_PUMP_MAX = 4096
#: with a latency budget, the pump lingers up to this share of its max_wait (at most
#: _PUMP_LINGER_MAX_S) for a batch's worth of samples before it hands them over
_PUMP_LINGER_SHARE = 0.25
_PUMP_LINGER_MAX_S = 0.0005


def _pump(
    queue: NativeIssueQueue,
    dispatcher: Dispatcher,
    on_error: Callable[[BaseException], None] | None,
    errors: list[BaseException],
) -> None:
    """Native queue -> dispatcher, until the queue is closed and drained.

    The calls the dispatcher sees match the Python path: a multi-sample query is one
    ``issue``; one-sample queries are handed over together (one ``issue`` of all that have
    accumulated) unless the dispatcher reorders samples within an issue call, in which case
    each goes alone (``issue_one``), so arrival order is kept.

    With a latency budget (the Server plan) the pump lingers a little (a quarter of the
    budget's wait, at most 0.5 ms) for a batch's worth of one-sample queries before it hands
    them over: fewer, bigger handovers, fewer wake-ups of the batch thread."""
    reorders = dispatcher.reorders
    max_n = 1 if reorders else _PUMP_MAX
    min_n, linger_s = 1, 0.0
    policy = dispatcher.policy
    if isinstance(policy, LatencyBudget) and not reorders:
        min_n = policy.max_batch
        linger_s = min(policy.max_wait_s * _PUMP_LINGER_SHARE, _PUMP_LINGER_MAX_S)
    try:
        while True:
            ids, indices, flushed = queue.take(max_n, None, min_n=min_n, linger_s=linger_s)
            n = len(ids)
            if n == 1:
                dispatcher.issue_one(int(ids[0]), int(indices[0]))
            elif n:
                dispatcher.issue(ids, indices)
            if flushed:
                dispatcher.flush()
            if not n and not flushed and queue.exhausted:
                return
    except BaseException as exc:
        if queue.closed:  # released under us after StartTest returned: nothing to feed
            return
        log.exception("native issue pump failed")
        errors.append(exc)
        if on_error is not None:
            on_error(exc)


def _run_native(
    spec: TestSpec,
    queue: NativeIssueQueue,
    dispatcher: Dispatcher,
    settings: Any,
    log_settings: Any,
    load_cb: Callable[[list[int]], None],
    unload_cb: Callable[[list[int]], None],
    *,
    on_start: Callable[[], None] | None,
    on_error: Callable[[BaseException], None] | None,
    on_issue_path: Callable[[str, str], None] | None,
) -> None:
    """StartTest with the native SUT and a pump thread. The queue is released here, in every
    case, and only after StartTest has returned (LoadGen waits for every completion before it
    returns, so nothing is left in the queue then)."""
    errors: list[BaseException] = []
    pump = threading.Thread(
        target=_pump,
        args=(queue, dispatcher, on_error, errors),
        name="inferlab-issue-pump",
        daemon=True,
    )
    qsl: int | None = None
    stats: dict[str, int] = {}
    try:
        if on_issue_path is not None:
            on_issue_path("native", str(queue.library))
        qsl = lg.ConstructQSL(spec.total_count, spec.performance_count, load_cb, unload_cb)
        pump.start()
        if on_start is not None:
            on_start()
        lg.StartTestWithLogSettings(queue.handle, qsl, settings, log_settings, _audit_path(spec))
    finally:
        queue.close()  # the pump drains what is left (nothing, after a normal test) and ends
        if pump.is_alive():
            pump.join(timeout=30)
            if pump.is_alive():
                log.warning("the native issue pump did not stop within 30 s")
        stats = queue.stats()
        queue.release()
        if qsl is not None:
            lg.DestroyQSL(qsl)
    log.info("native issue queue: %s", stats)
    if stats["buffered"]:
        log.warning("native issue queue: %d samples never taken", stats["buffered"])
    if errors:
        raise RunFailed(f"feeding the dispatcher failed: {errors[0]!r}", "see worker.log")


class BatchLoop:
    """Consumer threads: take batches from the dispatcher, run them, complete them.

    ``run_batch`` is one callable, or one per model replica (several devices): each gets
    ``threads`` threads, all pulling from the one dispatcher, so a faster replica simply takes
    more batches. ``stats()`` gives samples, batches and busy seconds per replica."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        run_batch: Callable[[np.ndarray], np.ndarray] | Sequence[Callable[[np.ndarray], Any]],
        *,
        threads: int = 1,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        runners = list(run_batch) if isinstance(run_batch, Sequence) else [run_batch]
        if not runners:
            raise ValueError("BatchLoop needs at least one run_batch")
        self._on_error = on_error
        self._counts = [[0, 0, 0.0] for _ in range(len(runners) * threads)]  # per thread
        self._replica_of = [r for r in range(len(runners)) for _ in range(threads)]
        self._replicas = len(runners)
        self._threads = [
            threading.Thread(
                target=self._loop,
                args=(runners[r], k),
                name=f"inferlab-batch-{r}.{k % threads}",
                daemon=True,
            )
            for k, r in enumerate(self._replica_of)
        ]
        self.error: BaseException | None = None

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def _loop(self, run_batch: Callable[[np.ndarray], Any], slot: int) -> None:
        counts = self._counts[slot]
        clock = time.perf_counter
        while True:
            batch = self._dispatcher.next_batch()
            if batch is None:
                return
            try:
                t0 = clock()
                payloads = run_batch(batch.indices)
                counts[2] += clock() - t0
                if isinstance(payloads, np.ndarray):
                    self._dispatcher.complete_batch(batch, payloads)
                else:
                    complete_samples(self._dispatcher, batch, payloads)
                counts[0] += len(batch)
                counts[1] += 1
            except BaseException as exc:  # keep the first error, stop the test
                log.exception("batch %d failed", batch.seq)
                if self.error is None:
                    self.error = exc
                if self._on_error is not None:
                    self._on_error(exc)
                self._dispatcher.close()
                return

    def stats(self) -> list[dict[str, float]]:
        """Per replica: samples and batches completed, seconds spent in run_batch."""
        out = [{"samples": 0, "batches": 0, "busy_s": 0.0} for _ in range(self._replicas)]
        for r, (samples, batches, busy) in zip(self._replica_of, self._counts, strict=True):
            out[r]["samples"] += samples
            out[r]["batches"] += batches
            out[r]["busy_s"] = round(out[r]["busy_s"] + busy, 6)
        return out

    def stop(self) -> None:
        self._dispatcher.close()
        for t in self._threads:
            t.join(timeout=30)
        if self.error is not None:
            raise RunFailed(f"the SUT failed: {self.error}", "see worker.log in the run directory")
