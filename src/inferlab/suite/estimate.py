"""How long each planned run takes, before anything starts (``inferlab suite --dry-run``).

From LoadGen's minimum duration and query counts (the rules' values: 600 s; quick mode's own),
and, where the system file (or the flags) gives a rate or latency, the time the query count and
the accuracy run's dataset need at that rate. Where no rate is known the figure is a lower bound
(``>=``), and an accuracy run's time is unknown. Every run also takes its start-up (the worker,
the model, calibration): :data:`STARTUP_S` each, a rough figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inferlab.core import registry
from inferlab.core.rounds import MIN_DURATION_MS, rules_for
from inferlab.core.spec import Scenario
from inferlab.suite.plan import Plan, PlannedRun
from inferlab.suite.system import SystemFile

STARTUP_S = 15.0
MS_QUERIES = 662  # mlperf.conf *.MultiStream.min_query_count (rules 1.2)
SS_QUERIES = 100  # LoadGen's TestSettings default (SingleStream has no mlperf.conf value)
FIND_PEAK_S = 12 * (3.0 + STARTUP_S) + 600.0  # --find-peak: up to 12 probes, a confirming run


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: unknown
    lower_bound: bool  # the figure is a minimum (no rate known)
    basis: str  # how it was found, one phrase

    def text(self) -> str:
        if self.seconds is None:
            return "unknown"
        return f"{'>=' if self.lower_bound else '~'}{human(self.seconds)}"


def human(seconds: float) -> str:
    s = int(round(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _setting(system: SystemFile, flags: dict[str, Any], run: PlannedRun, key: str) -> Any:
    """A LoadGen key as the run gets it: the flags over the system file."""
    lg = flags.get("loadgen")
    if isinstance(lg, dict) and lg.get(key) is not None:
        return lg[key]
    return system.loadgen_value(run.benchmark, run.scenario, key)


def estimate_run(
    run: PlannedRun, plan: Plan, system: SystemFile, flags: dict[str, Any], quick: bool
) -> Estimate:
    spec = registry.get(run.benchmark)
    scenario = Scenario.parse(run.scenario)
    br = rules_for(plan.round).benchmark(spec.checker_name)
    qps = _setting(system, flags, run, "target_qps")
    latency_ms = _setting(system, flags, run, "target_latency")
    min_ms = _setting(system, flags, run, "min_duration")
    queries = _setting(system, flags, run, "min_query_count")
    q = spec.quick.get(scenario) if quick else None
    if q is not None:
        min_ms = min_ms if min_ms is not None else q.min_duration_ms
        queries = queries if queries is not None else q.min_query_count
    min_s = float(min_ms if min_ms is not None else MIN_DURATION_MS) / 1000.0
    if run.mode == "accuracy":
        n = spec.synthetic_count if quick else spec.dataset_size
        rate = _throughput(scenario, qps, latency_ms)
        if rate is None:
            return Estimate(None, False, f"{n:,} samples at a rate not known before the run")
        return Estimate(n / rate, False, f"{n:,} samples at {rate:,.1f}/s")
    if scenario == Scenario.OFFLINE:
        samples = queries if queries is not None else (br.offline_min_samples if br else 1)
        if qps:
            return Estimate(max(min_s, float(samples) / float(qps)), False, "min duration, samples")
        return Estimate(min_s, True, "min duration (no target_qps)")
    if scenario.server_like:
        count = float(queries if queries is not None else SS_QUERIES)
        if qps:
            return Estimate(max(min_s, count / float(qps)), False, "min duration at target_qps")
        return Estimate(min_s, True, "min duration (rate from find-peak or calibration)")
    count = float(
        queries
        if queries is not None
        else (MS_QUERIES if scenario == Scenario.MULTI_STREAM else SS_QUERIES)
    )
    if latency_ms:
        return Estimate(max(min_s, count * float(latency_ms) / 1000.0), False, "queries x latency")
    return Estimate(min_s, True, "min duration (no target_latency)")


def _throughput(scenario: Scenario, qps: Any, latency_ms: Any) -> float | None:
    if (scenario == Scenario.OFFLINE or scenario.server_like) and qps:
        return float(qps)
    if latency_ms:
        per_query = 8 if scenario == Scenario.MULTI_STREAM else 1
        return per_query * 1000.0 / float(latency_ms)
    return None


def plan_rows(
    plan: Plan,
    system: SystemFile,
    flags: dict[str, Any],
    quick: bool,
    server_search: set[tuple[str, str]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per planned run (and per (benchmark, Server-like scenario) rate search), and
    the total."""
    rows: list[dict[str, Any]] = []
    total, lower, unknown = 0.0, False, 0
    for bid, scn in sorted(server_search):
        rows.append(
            {
                "key": f"{bid}/{scn}/find-peak",
                "benchmark": bid,
                "scenario": scn,
                "test": "find-peak",
                "required": True,
                "expected": f"<={human(FIND_PEAK_S)}",
            }
        )
        total += FIND_PEAK_S
    for run in plan.runs:
        est = estimate_run(run, plan, system, flags, quick)
        rows.append(
            {
                "key": run.key,
                "benchmark": run.benchmark,
                "scenario": run.scenario,
                "test": run.test,
                "required": run.required,
                "expected": est.text(),
                "basis": est.basis,
                "seconds": est.seconds,
            }
        )
        total += STARTUP_S
        if est.seconds is None:
            unknown += 1
        else:
            total += est.seconds
            lower = lower or est.lower_bound
    summary = {
        "runs": len(plan.runs),
        "seconds": total,
        "text": f"{'>=' if lower or unknown else '~'}{human(total)}"
        + (f" (+ {unknown} accuracy run(s) of unknown length)" if unknown else "")
        + f"; start-up counted as {STARTUP_S:.0f} s per run",
    }
    return rows, summary
