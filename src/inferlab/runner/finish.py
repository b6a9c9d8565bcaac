"""What a finished LoadGen test adds to a run's result: its logs parsed into the official
figure and validity, the seeds' round, and (accuracy mode) the accuracy section."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from inferlab.config.run_config import RunConfig
from inferlab.core.errors import InferlabError
from inferlab.core.rounds import interactive_latencies, round_for_seeds
from inferlab.core.spec import Mode, Scenario
from inferlab.results.models import (
    Accuracy,
    Counts,
    ErrorInfo,
    OfficialResult,
    Status,
    Validity,
)
from inferlab.results.schema import accuracy_section


def replica_figures(stats: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Per-replica (per-device) figures from the worker: samples, batches, busy seconds, and
    each one's share of the samples. Diagnostic: LoadGen's figure is the run's result."""
    if not stats:
        return None
    total = sum(int(r.get("samples", 0)) for r in stats) or 1
    return [{**r, "share": round(int(r.get("samples", 0)) / total, 4)} for r in stats]


@dataclass
class Finished:
    """What a finished test adds to its result, filled step by step by :func:`finish` (what
    it found before an error is kept)."""

    status: Status = "failed"
    error: ErrorInfo | None = None
    round: str | None = None  # the round of the seeds LoadGen applied (when none was asked)
    loadgen: dict[str, Any] = field(default_factory=dict)  # the detail log's sections
    audit_applied: bool = False
    result: OfficialResult | None = None
    accuracy: Accuracy | None = None
    accuracy_eval_s: float | None = None


def finish(
    fin: Finished,
    cfg: RunConfig,
    p: dict[str, Any],
    run_dir: Path,
    model: dict[str, Any] | None,
) -> None:
    from inferlab.loadgen.logs import outcome, parse_detail, parse_summary

    trace = run_dir / "mlperf_log_trace.json"
    if not cfg.trace and trace.is_file() and trace.stat().st_size == 0:
        trace.unlink()  # LoadGen creates the file even with the trace disabled
    detail_path = run_dir / "mlperf_log_detail.txt"
    summary_path = run_dir / "mlperf_log_summary.txt"
    if not detail_path.is_file():
        raise InferlabError("LoadGen wrote no mlperf_log_detail.txt", "see worker.log")
    detail = parse_detail(detail_path)
    summary = parse_summary(summary_path) if summary_path.is_file() else None
    field_, unit, div = p["spec"].result_field(p["scenario"])
    oc = outcome(detail, summary, result_field=field_)
    seeds = [
        oc.seeds.get(k) for k in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
    ]
    seed_round = round_for_seeds(*seeds) if None not in seeds else None  # type: ignore[arg-type]
    if seed_round and not cfg.round:
        fin.round = seed_round
    value = oc.result  # None when LoadGen has no estimate (early stopping not met)
    fin.audit_applied = any("Audit Config" in w for w in detail.warnings)
    fin.loadgen = {
        "effective": oc.effective,
        "results": {
            k: v
            for k, v in detail.values.items()
            if k.startswith(("result_", "early_stopping_latency"))
            and isinstance(v, int | float)
            and not isinstance(v, bool)
        },
        "seeds": {**oc.seeds, "round": seed_round},
        "errors": detail.errors,
        "warnings": detail.warnings,
    }
    fin.result = OfficialResult(
        official_field=field_,
        value=(value / div) if isinstance(value, int | float) else None,
        unit=unit,
        raw_value=value,
        validity=cast(Validity, oc.validity),  # checked by the model
        invalid_reasons=oc.invalid_reasons,
        loadgen_reason=oc.loadgen_reason,
        early_stopping=oc.early_stopping,
        constraints=oc.constraints,
        counts=Counts(queries=oc.query_count, samples=oc.sample_count, duration_s=oc.duration_s),
    )
    if cfg.mode == Mode.ACCURACY.value:
        t = time.perf_counter()
        fin.accuracy = accuracy_section(cfg, p, run_dir, model, fin.round or p["round"])
        fin.accuracy_eval_s = round(time.perf_counter() - t, 3)
        fin.status = "ok" if not detail.errors else "failed"
    else:
        fin.status = (
            "ok" if oc.validity == "VALID" else "invalid" if oc.validity == "INVALID" else "failed"
        )
    if detail.errors:
        fin.error = ErrorInfo(kind="loadgen", message="; ".join(detail.errors[:3]))
    if p["scenario"] == Scenario.INTERACTIVE and (why := _interactive_bounds(detail.values, p)):
        fin.status = "failed"
        fin.error = ErrorInfo(kind="interactive-bounds", message=why)
    if cfg.audit and not fin.audit_applied:
        fin.status = "failed"
        fin.error = ErrorInfo(
            kind="audit",
            message=f"LoadGen did not apply the {cfg.audit} audit.config (see worker.log); "
            "the run cannot serve as a compliance test",
        )


def _interactive_bounds(values: dict[str, Any], p: dict[str, Any]) -> str | None:
    """Why an Interactive run is not one (None: it is): LoadGen must have run it under the
    round's Interactive TTFT/TPOT (a LoadGen whose mlperf.conf lacks the ``-interactive`` keys,
    or a user.conf that changed them, leaves Server's or LoadGen's defaults)."""
    limits = interactive_latencies(p["spec"].checker_name, p["round"])
    if limits is None:
        return None  # refused before the run
    got = (values.get("requested_server_ttft_latency"), values.get("requested_server_tpot_latency"))
    want = (int(limits[0] * 1e6), int(limits[1] * 1e6))
    if got == want:
        return None
    shown = ["?" if not isinstance(g, int | float) else f"{g / 1e6:g}" for g in got]
    return (
        f"LoadGen ran this Interactive test with TTFT {shown[0]} / TPOT {shown[1]} ms, not "
        f"the round's {limits[0]:g} / {limits[1]:g} ms: its mlperf.conf has no "
        f"{p['spec'].config_key(Scenario.INTERACTIVE)} keys, or user.conf/--set changed "
        "ttft_latency/tpot_latency; drop those, or use a LoadGen release of the round"
    )
