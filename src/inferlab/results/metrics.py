"""Virtual-Client-style metrics of a run: pure functions of result.json, plus the file writers.

:func:`metrics_for` turns a :class:`RunResult` into a list of metrics in Virtual Client's schema
(``metricName``, ``metricValue``, ``metricUnit``, ``metricCategorization``,
``metricDescription``, ``metricRelativity``, ``metricVerbosity``, ``metadata``, scenario name
and times); :func:`write_metrics` stores them as ``metrics.json`` and ``metrics.csv`` (VC's CSV
columns). Names follow ``<system>_<config>-<Scenario>-<Suffix>`` with ``<config>`` =
``<backend>-<dtype>_k_<99|99_9>`` (ecosystem notes §1.3/§1.4; docs/metrics.md), keeping what VC's
MLPerf parser meant and dropping its bugs: the 99.9 suffix is produced, every accuracy metric
gets its value/threshold/ratio, names have no spaces, and runs without a verdict (synthetic
data, random weights) get no PASS/FAIL metric.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inferlab.core.clock import now_iso
from inferlab.core.files import atomic_write_json, atomic_write_text
from inferlab.results.models import RunResult
from inferlab.results.system import metric_system_name, sanitize_name

log = logging.getLogger(__name__)

METRICS_SCHEMA_VERSION = 1
TOOL_NAME = "MLPerf"
JSON_NAME = "metrics.json"
CSV_NAME = "metrics.csv"
#: The columns of Virtual Client's ``metrics.csv`` that apply to a run (its host/app columns
#: are VC's own and left out; the host lives in result.json's system section).
CSV_COLUMNS = (
    "Timestamp",
    "ExperimentId",
    "ClientId",
    "ToolName",
    "ToolVersion",
    "ScenarioName",
    "ScenarioStartTime",
    "ScenarioEndTime",
    "MetricName",
    "MetricValue",
    "MetricUnit",
    "MetricCategorization",
    "MetricDescription",
    "MetricRelativity",
    "MetricVerbosity",
    "Metadata",
)
HIGHER, LOWER, UNDEFINED = "HigherIsBetter", "LowerIsBetter", "Undefined"
CRITICAL, STANDARD, INFORMATIONAL = 0, 1, 2

# Extra LoadGen figures per scenario, after the official one (VC parsed the first of each):
# (detail-log key, verbosity).
_SCENARIO_KEYS: dict[str, tuple[tuple[str, int], ...]] = {
    "Offline": (),
    "Server": (
        ("result_scheduled_samples_per_sec", STANDARD),
        ("result_99.00_percentile_latency_ns", STANDARD),
    ),
    "Interactive": (
        ("result_completed_tokens_per_second", STANDARD),
        ("result_99.00_percentile_latency_ns", STANDARD),
    ),
    "SingleStream": (("result_90.00_percentile_latency_ns", STANDARD),),
    "MultiStream": (("result_99.00_percentile_per_query_latency_ns", STANDARD),),
}
# LLM runs with token latencies (TTFT, TPOT): the bounds Server and Interactive are judged on
TOKEN_LATENCY_KEYS = (
    "result_first_token_50.00_percentile_latency_ns",
    "result_first_token_99.00_percentile_latency_ns",
    "result_time_per_output_token_50.00_percentile_ns",
    "result_time_per_output_token_99.00_percentile_ns",
)
_LATENCY_KEYS = (
    "result_mean_latency_ns",
    "result_min_latency_ns",
    "result_max_latency_ns",
    "result_50.00_percentile_latency_ns",
    "result_90.00_percentile_latency_ns",
    "result_99.00_percentile_latency_ns",
)


def _num(value: Any) -> float | int | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return value if ok and math.isfinite(value) else None


def accuracy_level(result: RunResult) -> str | None:
    """``"99"`` or ``"99.9"``: from the benchmark id's suffix (``<id>-99.9``), else from its
    accuracy target's fraction (99% of FP32 gives ``"99"``); None when the targets are
    not one 99%/99.9% fraction (windows, several fractions, an unknown benchmark)."""
    bid = result.benchmark.id
    for suffix in ("99.9", "99"):
        if bid.endswith(f"-{suffix}"):
            return suffix
    fractions: set[float] = set()
    for m in result.accuracy.metrics if result.accuracy else []:
        if _num(m.threshold) and _num(m.reference):
            fractions.add(round(m.threshold / m.reference, 6))  # type: ignore[operator]
    if not fractions and bid:
        try:
            from inferlab.core import registry

            spec = registry.get(bid)
            round_ = result.round or sorted(spec.targets)[-1]
            targets = spec.targets_for(round_)
        except Exception:  # unknown benchmark / round in an old result
            return None
        if any(t.upper is not None for t in targets):
            return None
        fractions = {round(t.lower, 6) for t in targets if t.lower is not None}
    if len(fractions) == 1:
        return {0.99: "99", 0.999: "99.9"}.get(fractions.pop())
    return None


def config_name(result: RunResult) -> str:
    """``<backend>-<dtype>_k_<99|99_9>`` (VC's ``TRT-custom_k_99``); without ``_k_...`` when
    :func:`accuracy_level` is None."""
    cfg = result.config
    base = sanitize_name(f"{cfg.get('backend', 'unknown')}-{cfg.get('dtype', 'unknown')}")
    level = accuracy_level(result)
    return f"{base}_k_{level.replace('.', '_')}" if level else base


def system_name(result: RunResult) -> str:
    """The system part of metric names (results.system.metric_system_name)."""
    return metric_system_name({"system": result.system, "environment": result.environment})


def metric_prefix(result: RunResult) -> str:
    """``<system>_<config>-<Scenario>``, e.g. ``1xH100-SXM-80GB_torch-fp16_k_99_9-Offline``."""
    return f"{system_name(result)}_{config_name(result)}-{result.scenario}"


def _metadata(result: RunResult) -> dict[str, Any]:
    cfg = result.config
    flags = result.flags
    return {
        "benchmark": result.benchmark.id,
        "scenario": result.scenario,
        "mode": result.mode,
        "accuracy_target": accuracy_level(result),
        "system": system_name(result),
        "config": config_name(result),
        "dtype": cfg.get("dtype"),
        "backend": cfg.get("backend"),
        "device": cfg.get("device"),
        "round": result.round,
        "status": result.status,
        "synthetic": flags.synthetic if flags else None,
        "random_weights": flags.random_weights if flags else None,
        "quick": flags.quick if flags else None,
        "submittable": flags.submittable if flags else None,
        "run_dir": str(result.run_dir),
        "inferlab_version": result.inferlab_version,
        "loadgen_version": result.loadgen.version,
    }


def metric_key(name: str) -> str:
    """A metric/LoadGen name without spaces or separators: ``exact match`` -> ``exact_match``."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", name.strip()).strip("_") or "metric"


def _loadgen_unit(key: str) -> tuple[str, str]:
    if "token" in key and ("per_sec" in key or "per_second" in key):
        return "tokens/s", HIGHER
    if key.endswith(("per_sec", "per_second")) or "qps" in key:
        return "samples/s", HIGHER
    if key.endswith("_ns") or key.startswith("early_stopping_latency"):
        return "ns", LOWER
    return "", UNDEFINED


Row = tuple[str, Any, str, str, str, int, str]


def _performance(result: RunResult) -> list[Row]:
    """(suffix, value, unit, categorization, relativity, verbosity, description) rows."""
    res = result.result
    if res is None:
        return []
    rows: list[Row] = []
    validity = res.validity
    if validity in ("VALID", "INVALID"):
        rows.append(
            (
                "PerformanceMode",
                1 if validity == "VALID" else 0,
                "VALID/INVALID",
                "PerformanceMode",
                HIGHER,
                CRITICAL,
                "LoadGen result validity: 1 VALID, 0 INVALID",
            )
        )
    values: dict[str, Any] = dict(result.loadgen.results or {})
    official = res.official_field
    if official and _num(res.raw_value) is not None:
        values.setdefault(official, res.raw_value)
    keys: list[tuple[str, int]] = []
    if official:
        keys.append((official, CRITICAL))
    keys += _SCENARIO_KEYS.get(result.scenario, ())
    if result.scenario != "Offline":  # Offline is one query: every latency is its length
        keys += [(k, STANDARD) for k in TOKEN_LATENCY_KEYS]  # absent unless token latencies
        keys += [(k, INFORMATIONAL) for k in _LATENCY_KEYS]
    seen: set[str] = set()
    for key, verbosity in keys:
        value = _num(values.get(key))
        if key in seen or value is None:
            continue
        seen.add(key)
        unit, relativity = _loadgen_unit(key)
        what = "the official figure" if key == official else "LoadGen figure"
        suffix = key if key.startswith("result_") else f"result_{key}"
        rows.append(
            (
                metric_key(suffix),
                value,
                unit,
                "PerformanceMode",
                relativity,
                verbosity,
                f"{key} from mlperf_log_detail.txt ({what})",
            )
        )
    return rows


def _accuracy(result: RunResult) -> list[Row]:
    acc = result.accuracy
    if acc is None:
        return []
    status = acc.status
    verdict = status in ("pass", "fail")
    rows: list[Row] = []
    cat = "AccuracyMode"
    if verdict:
        rows.append(
            (
                "AccuracyMode",
                1 if status == "pass" else 0,
                "PASS/FAIL",
                cat,
                HIGHER,
                CRITICAL,
                "accuracy against the round's target: 1 PASS, 0 FAIL",
            )
        )
    for m in acc.metrics:
        name = metric_key(m.metric)
        value = _num(m.value)
        if value is None:
            continue
        unit = m.unit
        note = "" if verdict else f" ({status}: no target applies)"
        judged = verdict and (m.threshold is not None or m.upper_limit is not None)
        rows.append(
            (
                f"AccuracyValue-{name}",
                value,
                unit,
                cat,
                UNDEFINED,
                CRITICAL if judged else STANDARD if verdict else INFORMATIONAL,
                f"measured {m.metric}{note}",
            )
        )
        lo, hi = _num(m.threshold), _num(m.upper_limit)
        window = lo is not None and hi is not None
        if lo is not None:
            rows.append(
                (f"ThresholdValue-{name}", lo, unit, cat, UNDEFINED, STANDARD, "lower bound")
            )
        if hi is not None:
            rows.append(
                (f"UpperThresholdValue-{name}", hi, unit, cat, UNDEFINED, STANDARD, "upper bound")
            )
        if lo:
            rows.append(
                (
                    f"AccuracyThresholdRatio-{name}",
                    round(value / lo, 6),
                    "",
                    cat,
                    UNDEFINED if window else HIGHER,
                    STANDARD,
                    "value / lower bound (>= 1 meets it)",
                )
            )
        if hi and value:
            rows.append(
                (
                    f"UpperThresholdRatio-{name}",
                    round(hi / value, 6),
                    "",
                    cat,
                    UNDEFINED if window else HIGHER,
                    STANDARD,
                    "upper bound / value (>= 1 meets it)",
                )
            )
    return rows


def _telemetry(result: RunResult) -> list[Row]:
    tel = result.telemetry or {}
    rows: list[Row] = []
    cat = "Telemetry"
    gpus = [g for g in tel.get("gpu") or [] if g.get("index") in (tel.get("counted_gpus") or [])]
    if gpus:
        if (e := _num(tel.get("energy_j"))) is not None:
            rows.append(("GPUEnergy", e, "J", cat, LOWER, INFORMATIONAL, "GPU energy"))
        if (j := _num(tel.get("joules_per_sample"))) is not None:
            rows.append(
                ("GPUJoulesPerSample", j, "J/sample", cat, LOWER, STANDARD, "GPU energy / samples")
            )
        for suffix, key, what in (
            ("GPUAvgPower", "power_avg_w", "sum of the GPUs' average power"),
            ("GPUPeakPower", "power_peak_w", "sum of the GPUs' peak power"),
        ):
            vals = [_num(g.get(key)) for g in gpus]
            if vals and None not in vals:
                total = round(sum(v for v in vals if v is not None), 3)
                rows.append((suffix, total, "W", cat, UNDEFINED, INFORMATIONAL, what))
    cpu = tel.get("cpu") or {}
    if (u := _num(cpu.get("util_avg_pct"))) is not None:
        rows.append(("CPUAvgUtilization", u, "%", cat, UNDEFINED, INFORMATIONAL, "host CPU"))
    return rows


def metrics_for(result: RunResult) -> list[dict[str, Any]]:
    """The run's metrics in Virtual Client's schema (docs/metrics.md lists every name)."""
    prefix = metric_prefix(result)
    meta = _metadata(result)
    rows = _performance(result) if result.mode == "performance" else []
    if result.mode == "accuracy":
        rows += _accuracy(result)
    rows += _telemetry(result)
    start = result.started_at
    end = result.finished_at or start
    scenario_name = meta["benchmark"] or "unknown"
    out = []
    for suffix, value, unit, cat, relativity, verbosity, desc in rows:
        out.append(
            {
                "metricName": f"{prefix}-{suffix}",
                "metricValue": value,
                "metricUnit": unit,
                "metricCategorization": cat,
                "metricDescription": desc,
                "metricRelativity": relativity,
                "metricVerbosity": verbosity,
                "scenarioName": scenario_name,
                "scenarioStartTime": start,
                "scenarioEndTime": end,
                "metadata": meta,
            }
        )
    return out


def _context(result: RunResult) -> dict[str, Any]:
    return {
        "timestamp": result.finished_at or now_iso(),
        "experimentId": result.run_dir.name or None,
        "clientId": result.environment.get("hostname"),
        "toolName": TOOL_NAME,
        "toolVersion": f"LoadGen {result.loadgen.version}, inferlab {result.inferlab_version}",
    }


def metrics_document(result: RunResult) -> dict[str, Any]:
    """The content of metrics.json."""
    return {
        "schema_version": METRICS_SCHEMA_VERSION,
        **_context(result),
        "metrics": metrics_for(result),
    }


def metrics_csv(doc: Mapping[str, Any]) -> str:
    """metrics.csv text (VC's columns, ``Metadata`` as JSON) from a metrics.json document."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in doc["metrics"]:
        writer.writerow(
            [
                doc.get("timestamp"),
                doc.get("experimentId"),
                doc.get("clientId"),
                doc.get("toolName"),
                doc.get("toolVersion"),
                m["scenarioName"],
                m["scenarioStartTime"],
                m["scenarioEndTime"],
                m["metricName"],
                m["metricValue"],
                m["metricUnit"],
                m["metricCategorization"],
                m["metricDescription"],
                m["metricRelativity"],
                m["metricVerbosity"],
                json.dumps(m["metadata"], sort_keys=True, default=str),
            ]
        )
    return buf.getvalue()


def write_metrics(run_dir: Path, result: RunResult) -> list[dict[str, Any]]:
    """Write ``metrics.json`` and ``metrics.csv`` into run_dir atomically; returns the metrics.
    Also the regeneration entry point: ``write_metrics(d, load_run(d).result)``."""
    doc = metrics_document(result)
    run_dir = Path(run_dir)
    atomic_write_json(run_dir / JSON_NAME, doc)
    atomic_write_text(run_dir / CSV_NAME, metrics_csv(doc))
    log.debug("%d metrics written to %s", len(doc["metrics"]), run_dir)
    return list(doc["metrics"])


def regenerate(run_dir: Path) -> list[dict[str, Any]]:
    """Rewrite a stored run's metrics files from its result.json (for ``inferlab report``)."""
    from inferlab.results.load import load_run

    run_dir = Path(run_dir)
    return write_metrics(run_dir, load_run(run_dir).result)
