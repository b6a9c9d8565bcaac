"""A short measurement before the LoadGen test, to set LoadGen's expected QPS/latency hints."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# Margins, stated in result.json and docs/quick-mode.md.
OFFLINE_QPS_MARGIN = 1.1  # expected_qps = 1.1 x measured: stays valid if the real run is faster
LATENCY_HINT_FRACTION = 0.5  # SS/MS expected latency = 0.5 x measured: LoadGen pre-generates more


def measure(
    run_batch: Callable[[np.ndarray], Any],
    *,
    scenario: str,
    available: int,
    batch_size: int,
    samples_per_query: int = 8,
    budget_s: float = 3.0,
    clock: Callable[[], float] = time.perf_counter,
    batches: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Time the same path the SUT uses (gather, predict, postprocess) on resident samples.

    Without ``batches`` one batch of the scenario's size is timed repeatedly (fixed-cost
    samples). With ``batches`` (variable-cost samples: the batches the SUT's policy cuts from a
    sample of the QSL) they are timed in turn, cycling, and throughput is samples / time."""
    if scenario == "SingleStream":
        b = 1
    elif scenario == "MultiStream":
        b = samples_per_query
    else:
        b = batch_size
    if not batches:
        batches = [np.arange(b, dtype=np.int64) % max(available, 1)]
    run_batch(batches[0])  # warm-up, not timed
    times: list[float] = []
    samples = 0
    start = clock()
    while True:
        idx = batches[len(times) % len(batches)]
        t0 = clock()
        run_batch(idx)
        times.append(clock() - t0)
        samples += len(idx)
        elapsed = clock() - start
        whole = len(times) % len(batches) == 0  # variable cost: stop after whole cycles only
        if whole and len(times) >= 3 and elapsed >= budget_s:
            break
        if whole and len(times) >= 2 and elapsed >= 2 * budget_s:  # slow batches: two suffice
            break
        if len(times) >= 200 or elapsed >= 4 * budget_s:
            break
    total = sum(times)
    return {
        "batch_size": b if len(batches) == 1 else round(samples / len(times), 2),
        "iterations": len(times),
        "duration_s": round(total, 6),
        "throughput_sps": (samples / total) if total > 0 else None,
        "latency_p50_s": statistics.median(times),
        "latency_max_s": max(times),
        "diagnostic": True,
    }


def loadgen_hints(
    calib: dict[str, Any], scenario: str, server_fraction: float
) -> tuple[dict[str, float], dict[str, str]]:
    """Calibration -> LoadGen keys (lowest layer of user.conf) with a note on each."""
    values: dict[str, float] = {}
    notes: dict[str, str] = {}
    tput = calib.get("throughput_sps")
    lat = calib.get("latency_p50_s")
    if scenario == "Offline" and tput:
        values["target_qps"] = round(tput * OFFLINE_QPS_MARGIN, 3)
        notes["target_qps"] = f"calibrated {tput:.3f} samples/s x {OFFLINE_QPS_MARGIN}"
    elif scenario == "Server" and tput:
        values["target_qps"] = round(tput * server_fraction, 3)
        notes["target_qps"] = (
            f"offered load = {server_fraction} x calibrated throughput {tput:.3f} samples/s "
            "(not a peak search; set loadgen.target_qps to choose it)"
        )
    elif scenario in ("SingleStream", "MultiStream") and lat:
        ms = max(lat * 1e3 * LATENCY_HINT_FRACTION, 0.001)
        values["target_latency"] = round(ms, 4)
        notes["target_latency"] = (
            f"expected-latency hint = {LATENCY_HINT_FRACTION} x calibrated {lat * 1e3:.3f} ms"
        )
    return values, notes
