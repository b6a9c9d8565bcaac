"""How many samples/s the whole harness sustains on this machine, now: LoadGen's Server
scheduling and issue callbacks, inferlab's issue path and dispatcher, batch cutting and the
completion path back into LoadGen, with an SUT that answers at once. It is the ceiling of the
load a Server run can be offered, whatever the backend: a null backend's batch path alone
measures millions of samples/s, the harness around it a few hundred thousand (issue 15).

LoadGen runs one test per process (convention 10), so the probe runs in a child process:
a Server test offered far more than it can serve (``OFFERED_QPS``), capped at ``samples``
queries, through the same issue path (``native_issue``) and the same latency-budget batching as
the run. The rate is completions per second between the first and the last completion.
Diagnostic (our own clock), like every calibration figure.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

OFFERED_QPS = 10_000_000.0  # far above what any Python harness serves
DEFAULT_SAMPLES = 100_000
_QSL = 1024


def measure_harness(
    *,
    native_issue: str,
    max_batch: int,
    max_wait_s: float,
    row_bytes: int,
    samples: int = DEFAULT_SAMPLES,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Run the probe in a child process; its figures, or ``{"error": why}``."""
    args = {
        "native_issue": native_issue,
        "max_batch": max_batch,
        "max_wait_s": max_wait_s,
        "row_bytes": row_bytes,
        "samples": samples,
    }
    with tempfile.TemporaryDirectory(prefix="inferlab-capacity-") as tmp:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "inferlab.loadgen.capacity", json.dumps(args)],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"the harness probe took more than {timeout_s:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": f"the harness probe failed (exit {proc.returncode}): {' | '.join(tail)}"}
    out: dict[str, Any] = json.loads(lines[-1])
    return out


def _probe(args: dict[str, Any]) -> dict[str, Any]:
    """In the child: one LoadGen Server test against a dispatcher whose batches answer at once."""
    import mlperf_loadgen as lg
    import numpy as np

    from inferlab.loadgen.adapter import (
        BatchLoop,
        TestSpec,
        _native_queue,
        _run_native,
        complete_to_loadgen,
    )
    from inferlab.loadgen.dispatch import Dispatcher, LatencyBudget

    samples = int(args["samples"])
    row = np.zeros((int(args["max_batch"]), max(int(args["row_bytes"]), 1)), dtype=np.uint8)
    stamps: list[tuple[float, int]] = []  # (time, samples) of each completion

    def complete(ids: Any, payloads: Any, n_tokens: Any = None) -> None:
        complete_to_loadgen(ids, payloads, n_tokens)
        stamps.append((time.perf_counter(), len(ids)))

    dispatcher = Dispatcher(
        LatencyBudget(int(args["max_batch"]), float(args["max_wait_s"])),
        complete,
        max_inflight_batches=2,
    )
    loop = BatchLoop(dispatcher, lambda idx: row[: len(idx)])
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.Server
    settings.mode = lg.TestMode.PerformanceOnly
    settings.server_target_qps = OFFERED_QPS
    settings.server_target_latency_ns = 10**9
    settings.min_query_count = samples
    settings.max_query_count = samples
    settings.min_duration_ms = 0
    settings.performance_sample_count_override = _QSL
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = "."
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False

    def noop(_: Any) -> None:
        return None

    queue, detail = _native_queue(str(args["native_issue"]))
    loop.start()
    if queue is not None:
        spec = TestSpec(
            user_conf=Path("user.conf"),
            model="probe",
            scenario="Server",
            mode="performance",
            out_dir=Path("."),
            total_count=_QSL,
            performance_count=_QSL,
            audit_config=None,
            trace=False,
        )
        _run_native(
            spec,
            queue,
            dispatcher,
            settings,
            log_settings,
            noop,
            noop,
            on_start=None,
            on_error=None,
            on_issue_path=None,
        )
        path = "native"
    else:
        sut = lg.ConstructFastSUT(dispatcher.issue_lists, dispatcher.flush)
        qsl = lg.ConstructQSL(_QSL, _QSL, noop, noop)
        try:
            lg.StartTestWithLogSettings(sut, qsl, settings, log_settings, "./.no-audit-config")
        finally:
            lg.DestroyQSL(qsl)
            lg.DestroySUT(sut)
        path = "python"
    loop.stop()
    total = sum(n for _, n in stamps)
    span = stamps[-1][0] - stamps[0][0] if len(stamps) > 1 else 0.0
    rate = (total - stamps[0][1]) / span if span > 0 else None
    return {
        "harness_sps": rate,
        "samples": total,
        "seconds": round(span, 4),
        "issue_path": path,
        "issue_path_detail": detail if queue is None else str(queue.library),
    }


if __name__ == "__main__":
    print(json.dumps(_probe(json.loads(sys.argv[1]))), flush=True)
