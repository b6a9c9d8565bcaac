"""A short measurement before the LoadGen test, to set LoadGen's expected QPS/latency hints."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from inferlab.core.spec import is_server_like

# Margins, stated in result.json and docs/quick-mode.md.
OFFLINE_QPS_MARGIN = 1.1  # expected_qps = 1.1 x measured: stays valid if the real run is faster
LATENCY_HINT_FRACTION = 0.5  # SS/MS expected latency = 0.5 x measured: LoadGen pre-generates more
# A calibration whose slowest timed batch took more than SPREAD_REMEASURE x its fastest was
# disturbed (a busy machine, lazy initialisation): it is measured once more and the two pooled.
SPREAD_REMEASURE = 3.0
# SS/MS with known run minimums (quick mode): the latency hint is at most min_duration /
# (QUERY_MARGIN x min_query_count), so LoadGen generates at least QUERY_MARGIN x 1.1 x
# min_query_count queries. Too few queries end the run before min_duration (INVALID) when the
# run is faster than the calibration was (a busy machine that became idle); more cost LoadGen
# only a few bytes each, and it stops issuing once both minimums are met.
QUERY_MARGIN = 8
SLOW_RUN_FACTOR = 2  # no query-count cap when min_query_count queries take 2 x min_duration
MIN_ITERATIONS = 5  # timed batches, when each is short enough for the budget
# Server: batches whose latency stays within this share of the bound count as sustainable
# (the rest of the bound is left to queueing and the batching wait).
SERVER_BOUND_SHARE = 0.5
# Server: the harness (LoadGen + dispatch + completion) is probed only when the backend alone
# is this fast; below it the harness costs a few percent of a sample's time at most.
HARNESS_PROBE_MIN_SPS = 20_000.0
# The probe drives the harness flat out, in full batches; within a 15 ms bound it keeps up with
# about half of that (null backend, 2 vCPU, 2026-12-07: probe 620-710k samples/s; VALID at
# 150k QPS, INVALID at 200k with p99 22-31 ms, load average 2), so half of it counts.
HARNESS_SHARE = 0.5


def _timed(
    run_batch: Callable[[np.ndarray], Any],
    batches: list[np.ndarray],
    budget_s: float,
    clock: Callable[[], float],
) -> list[float]:
    """Time the batches in turn, cycling, for about ``budget_s`` (whole cycles only)."""
    times: list[float] = []
    start = clock()
    while True:
        idx = batches[len(times) % len(batches)]
        t0 = clock()
        run_batch(idx)
        times.append(clock() - t0)
        elapsed = clock() - start
        whole = len(times) % len(batches) == 0  # variable cost: stop after whole cycles only
        if whole and len(times) >= MIN_ITERATIONS and elapsed >= budget_s:
            break
        if whole and len(times) >= 2 and elapsed >= 2 * budget_s:  # slow batches: two suffice
            break
        if len(times) >= 200 or elapsed >= 4 * budget_s:
            break
    return times


def _best_cycle(times: list[float], n_batches: int) -> float:
    """The time of one cycle of the batches, each at its fastest: what the SUT does when the
    machine does not get in its way (noise only ever adds time)."""
    best = [min(times[k::n_batches]) for k in range(min(n_batches, len(times)))]
    return sum(best) * n_batches / len(best)


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
    latency_bound_s: float | None = None,
) -> dict[str, Any]:
    """Time the same path the SUT uses (gather, predict, postprocess) on resident samples.

    Without ``batches`` one batch of the scenario's size is timed repeatedly (fixed-cost
    samples). With ``batches`` (variable-cost samples: the batches the SUT's policy cuts from a
    sample of the QSL) they are timed in turn, cycling, and throughput is samples / time.

    Noise only ever adds time, so the hints that fail a run when they are too slow use the
    fastest figures (``latency_min_s``, ``throughput_best_sps``: the SS/MS latency hint, the
    Offline QPS), and the one that fails it when too fast uses the median (``throughput_sps``:
    Server's offered load). The first batch is a warm-up, not timed; a calibration whose spread
    is large is measured again. Server with fixed-cost samples and ``latency_bound_s`` also
    times smaller batches (1, 2, 4, ...): ``server_sps`` is the best rate of a batch that runs
    within SERVER_BOUND_SHARE of the bound."""
    if scenario == "SingleStream":
        b = 1
    elif scenario == "MultiStream":
        b = samples_per_query
    else:
        b = batch_size
    fixed = not batches
    if not batches:
        batches = [np.arange(b, dtype=np.int64) % max(available, 1)]
    run_batch(batches[0])  # warm-up, not timed
    times = _timed(run_batch, batches, budget_s, clock)
    first = (min(times), max(times))
    remeasured = max(times) > SPREAD_REMEASURE * min(times) and sum(times) < 4 * budget_s
    if remeasured:
        times += _timed(run_batch, batches, budget_s, clock)
    n = len(batches)
    samples = sum(len(batches[k % n]) for k in range(len(times)))
    per_batch = samples / len(times)
    median = statistics.median(times)
    best_cycle = _best_cycle(times, n)
    cycle_samples = sum(len(x) for x in batches)
    cycles = [sum(times[k : k + n]) for k in range(0, len(times) - n + 1, n)]
    median_cycle = statistics.median(cycles) if cycles else sum(times) * n / len(times)
    out: dict[str, Any] = {
        "variable_cost": not fixed,
        "batch_size": b if n == 1 else round(per_batch, 2),
        "iterations": len(times),
        "duration_s": round(sum(times), 6),
        # median: a busy moment does not move it
        "throughput_sps": cycle_samples / median_cycle if median_cycle > 0 else None,
        "throughput_best_sps": cycle_samples / best_cycle if best_cycle > 0 else None,
        "latency_p50_s": median,
        "latency_min_s": min(times),
        "latency_max_s": max(times),
        "spread": round(max(times) / min(times), 3) if min(times) > 0 else None,
        "remeasured": remeasured,
        "diagnostic": True,
    }
    if remeasured:
        out["first_pass_min_max_s"] = [round(first[0], 6), round(first[1], 6)]
    if is_server_like(scenario) and fixed and latency_bound_s:
        out.update(_server_ladder(run_batch, b, available, latency_bound_s, clock))
    return out


def _server_ladder(
    run_batch: Callable[[np.ndarray], Any],
    max_batch: int,
    available: int,
    bound_s: float,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """Batches of 1, 2, 4, ... max_batch, each timed a few times (median), until one takes
    longer than SERVER_BOUND_SHARE of the bound: the best rate of those within it. A Server run
    offered more than a batch within the bound serves cannot meet the bound, however fast the
    largest batch is per sample."""
    within = SERVER_BOUND_SHARE * bound_s
    ladder: list[list[float]] = []
    size = 1
    best: tuple[float, int] | None = None
    while True:
        idx = np.arange(size, dtype=np.int64) % max(available, 1)
        run_batch(idx)  # warm-up of this size
        reps = []
        for _ in range(3):
            t0 = clock()
            run_batch(idx)
            reps.append(clock() - t0)
        lat = statistics.median(reps)
        ladder.append([size, round(lat, 6)])
        if lat <= within and lat > 0 and (best is None or size / lat > best[0]):
            best = (size / lat, size)
        if lat > within or size >= max_batch:
            break
        size = min(2 * size, max_batch)
    out: dict[str, Any] = {"server_ladder": ladder, "server_bound_s": bound_s}
    if best is not None:
        out["server_sps"], out["server_batch"] = best
    else:  # even one sample takes longer than the bound allows: the run cannot be VALID
        out["server_sps"], out["server_batch"] = 1.0 / ladder[0][1], 1
    return out


def add_harness_rate(calib: dict[str, Any], probe: Callable[[], dict[str, Any]]) -> None:
    """Server: when the backend alone is fast, measure what the whole harness sustains
    (``probe``: a LoadGen Server test in a child process, :mod:`inferlab.loadgen.capacity`)
    and combine the two per-sample costs: ``sustainable_sps`` = 1 / (1/backend + 1/(HARNESS_SHARE
    x harness))."""
    backend = calib.get("server_sps") or calib.get("throughput_sps")
    if not backend:
        return
    if backend < HARNESS_PROBE_MIN_SPS:
        calib["sustainable_sps"] = backend
        calib["harness"] = {"skipped": f"backend below {HARNESS_PROBE_MIN_SPS:,.0f} samples/s"}
        return
    harness = probe()
    calib["harness"] = harness
    rate = harness.get("harness_sps")
    if rate:
        calib["sustainable_sps"] = 1.0 / (1.0 / backend + 1.0 / (HARNESS_SHARE * rate))
    else:
        calib["sustainable_sps"] = backend


def loadgen_hints(
    calib: dict[str, Any], scenario: str, server_fraction: float
) -> tuple[dict[str, float], dict[str, str]]:
    """Calibration -> LoadGen keys (lowest layer of user.conf) with a note on each.

    Each hint leans the way that keeps the run VALID: Offline's expected QPS and SS/MS's
    expected latency from the fastest timings (LoadGen then generates more samples than it
    needs, not fewer: a run that runs out of samples before min_duration is INVALID), Server's
    offered load from the median and from what the whole harness sustains (an offered load the
    SUT cannot serve is INVALID, or runs away)."""
    values: dict[str, float] = {}
    notes: dict[str, str] = {}
    tput = calib.get("throughput_sps")
    best = calib.get("throughput_best_sps") or tput
    lat = calib.get("latency_min_s") or calib.get("latency_p50_s")
    if scenario == "Offline" and best:
        values["target_qps"] = round(best * OFFLINE_QPS_MARGIN, 3)
        notes["target_qps"] = f"calibrated {best:.3f} samples/s (fastest) x {OFFLINE_QPS_MARGIN}"
    elif is_server_like(scenario) and (calib.get("sustainable_sps") or tput):
        rate: float = calib.get("sustainable_sps") or calib.get("server_sps") or tput or 0.0
        what = "sustainable rate" if calib.get("sustainable_sps") else "calibrated throughput"
        values["target_qps"] = round(rate * server_fraction, 3)
        notes["target_qps"] = (
            f"offered load = {server_fraction} x {what} {rate:.3f} samples/s "
            "(not a peak search; set loadgen.target_qps to choose it)"
        )
    elif scenario in ("SingleStream", "MultiStream") and lat:
        ms = max(lat * 1e3 * LATENCY_HINT_FRACTION, 0.001)
        note = f"expected-latency hint = {LATENCY_HINT_FRACTION} x calibrated {lat * 1e3:.3f} ms"
        note += " (fastest)"
        mins = calib.get("run_minimums")
        if mins and mins.get("min_duration_ms") and mins.get("min_query_count"):
            cap = mins["min_duration_ms"] / (QUERY_MARGIN * mins["min_query_count"])
            # Variable-cost samples (an LLM's generations) whose min_query_count queries at the
            # fastest calibrated latency outlast min_duration twice over: slow by nature, so
            # LoadGen's min_query_count suffices, and the cap would only make it generate
            # QUERY_MARGIN times as many (minutes). Fixed-cost samples keep the cap: a slow
            # calibration there is more likely a busy machine than the network.
            slow = bool(calib.get("variable_cost")) and (
                lat * 1e3 * mins["min_query_count"] >= SLOW_RUN_FACTOR * mins["min_duration_ms"]
            )
            if ms > cap and not slow:
                ms = cap
                note += (
                    f", at most min_duration / ({QUERY_MARGIN} x min_query_count) so that "
                    "LoadGen generates enough queries if the run is faster"
                )
        values["target_latency"] = round(max(ms, 0.001), 4)
        notes["target_latency"] = note
    return values, notes
