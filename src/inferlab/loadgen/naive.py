"""A naive Python SUT: the baseline of the harness-overhead benchmark.

It is what a first SUT written against LoadGen's Python bindings looks like (and what the
reference ``python/main.py``-style SUTs do per sample): ``ConstructSUT`` with a callback that
receives a list of ``QuerySample`` objects and completes each sample inline, one
``QuerySamplesComplete`` call per sample, with a fixed 4-byte payload. No model, no batching,
no threads. ``benchmarks/harness_overhead.py`` runs it beside inferlab's own SUT path (fast SUT
callback, dispatch library, batch thread, null backend) under the same settings.
"""

from __future__ import annotations

import mlperf_loadgen as lg
import numpy as np

from inferlab.loadgen.adapter import TestSpec, configure


def run_naive_test(spec: TestSpec) -> None:
    """Run one LoadGen test with the naive SUT in this process (once per process)."""
    settings, _ = configure(spec)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(spec.out_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = spec.trace
    payload = np.zeros(1, dtype=np.float32)  # one float32 per sample, a class index's payload
    addr, size = payload.ctypes.data, payload.nbytes

    def issue(query_samples: list[lg.QuerySample]) -> None:
        for q in query_samples:
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, addr, size)])

    def flush() -> None:
        pass

    sut = lg.ConstructSUT(issue, flush)
    qsl = lg.ConstructQSL(spec.total_count, spec.performance_count, lambda s: None, lambda s: None)
    audit = str(spec.audit_config) if spec.audit_config else str(spec.out_dir / ".no-audit-config")
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings, audit)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
