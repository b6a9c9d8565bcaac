"""Virtual-Client-style metrics from results (results/metrics.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from inferlab.results.metrics import (
    CSV_COLUMNS,
    accuracy_level,
    config_name,
    metrics_for,
    regenerate,
    write_metrics,
)
from inferlab.results.models import RunResult

SYSTEM = "1xH100-SXM-80GB"


def make_result(
    benchmark: str = "bert-99",
    scenario: str = "Offline",
    mode: str = "performance",
    *,
    validity: str | None = "VALID",
    accuracy: dict[str, Any] | None = None,
    loadgen_results: dict[str, Any] | None = None,
    system_name: str = SYSTEM,
    telemetry: dict[str, Any] | None = None,
) -> dict[str, Any]:
    official = {
        "Offline": ("result_samples_per_second", 3021.5),
        "Server": ("result_completed_samples_per_sec", 2500.25),
        "SingleStream": ("early_stopping_latency_ss", 2202969),
        "MultiStream": ("early_stopping_latency_ms", 8123456),
    }[scenario]
    perf = mode == "performance"
    return {
        "schema_version": 2,
        "status": "ok",
        "inferlab_version": "0.1.0",
        "run_dir": f"/runs/20260101T000000Z_{benchmark}_{scenario}_{mode}_abc123",
        "started_at": "2026-01-01T00:00:00.000+00:00",
        "finished_at": "2026-01-01T00:10:00.000+00:00",
        "benchmark": {"id": benchmark, "loadgen_name": benchmark, "checker_name": benchmark},
        "scenario": scenario,
        "mode": mode,
        "config": {"backend": "torch", "dtype": "fp16", "device": "cuda:0"},
        "round": "v5.1",
        "environment": {"hostname": "node1", "cpu": {"model": "AMD EPYC 9654 96-Core Processor"}},
        "loadgen": {"version": "6.0.17", "results": loadgen_results or {}},
        "result": {
            "official_field": official[0] if perf else None,
            "raw_value": official[1] if perf else None,
            "validity": validity if perf else None,
            "counts": {"samples": 1000},
        },
        "accuracy": accuracy,
        "flags": {
            "synthetic": False,
            "random_weights": False,
            "quick": False,
            "subset": False,
            "submittable": True,
        },
        "system": {"system_name": system_name} if system_name else None,
        "telemetry": telemetry,
    }


def bert_accuracy(status: str = "pass", f1: float = 90.8, level: float = 0.999) -> dict[str, Any]:
    ref = 90.874
    return {
        "status": status,
        "metrics": [
            {
                "metric": "F1",
                "value": f1,
                "unit": "%",
                "reference": ref,
                "threshold": ref * level,
                "upper_limit": None,
                "passed": f1 >= ref * level,
            },
            {"metric": "exact_match", "value": 83.9, "unit": "%"},
        ],
    }


def typed(result: dict[str, Any]) -> RunResult:
    """The result as readers get it (validated)."""
    return RunResult.model_validate(result)


def names(metrics: list[dict[str, Any]]) -> list[str]:
    return [m["metricName"] for m in metrics]


def by_suffix(metrics: list[dict[str, Any]], prefix: str) -> dict[str, dict[str, Any]]:
    return {m["metricName"].removeprefix(prefix): m for m in metrics}


def test_bert_99_offline_performance_names_exact() -> None:
    res = make_result("bert-99", loadgen_results={"result_samples_per_second": 3021.5})
    prefix = f"{SYSTEM}_torch-fp16_k_99-Offline-"
    assert names(metrics_for(typed(res))) == [
        prefix + "PerformanceMode",
        prefix + "result_samples_per_second",
    ]
    got = by_suffix(metrics_for(typed(res)), prefix)
    assert got["PerformanceMode"]["metricValue"] == 1
    assert got["PerformanceMode"]["metricUnit"] == "VALID/INVALID"
    assert got["PerformanceMode"]["metricVerbosity"] == 0
    tput = got["result_samples_per_second"]
    assert tput["metricValue"] == 3021.5
    assert tput["metricRelativity"] == "HigherIsBetter"
    assert tput["metricUnit"] == "samples/s"


def test_bert_99_9_accuracy_names_exact() -> None:
    res = make_result("bert-99.9", mode="accuracy", accuracy=bert_accuracy("pass"))
    prefix = f"{SYSTEM}_torch-fp16_k_99_9-Offline-"
    assert names(metrics_for(typed(res))) == [
        prefix + s
        for s in (
            "AccuracyMode",
            "AccuracyValue-F1",
            "ThresholdValue-F1",
            "AccuracyThresholdRatio-F1",
            "AccuracyValue-exact_match",
        )
    ]
    got = by_suffix(metrics_for(typed(res)), prefix)
    assert got["AccuracyMode"]["metricValue"] == 1
    assert got["AccuracyMode"]["metricUnit"] == "PASS/FAIL"
    assert got["ThresholdValue-F1"]["metricValue"] == 90.874 * 0.999
    assert got["AccuracyThresholdRatio-F1"]["metricValue"] == round(90.8 / (90.874 * 0.999), 6)
    assert got["AccuracyThresholdRatio-F1"]["metricRelativity"] == "HigherIsBetter"
    meta = got["AccuracyMode"]["metadata"]
    assert meta["accuracy_target"] == "99.9" and meta["config"] == "torch-fp16_k_99_9"
    assert meta["system"] == SYSTEM and meta["benchmark"] == "bert-99.9"
    assert got["AccuracyMode"]["scenarioStartTime"] == "2026-01-01T00:00:00.000+00:00"
    assert got["AccuracyMode"]["scenarioEndTime"] == "2026-01-01T00:10:00.000+00:00"


def test_accuracy_fail_is_zero() -> None:
    res = make_result("bert-99", mode="accuracy", accuracy=bert_accuracy("fail", 80.0, 0.99))
    got = by_suffix(metrics_for(typed(res)), f"{SYSTEM}_torch-fp16_k_99-Offline-")
    assert got["AccuracyMode"]["metricValue"] == 0


def test_invalid_performance_is_zero() -> None:
    res = make_result("bert-99", "Server", validity="INVALID")
    got = by_suffix(metrics_for(typed(res)), f"{SYSTEM}_torch-fp16_k_99-Server-")
    assert got["PerformanceMode"]["metricValue"] == 0
    # the official figure comes from result.raw_value when loadgen.results is absent
    assert got["result_completed_samples_per_sec"]["metricValue"] == 2500.25


def test_every_accuracy_metric_of_a_windowed_benchmark() -> None:
    """SDXL-like: FID and CLIP, each a window; VC kept only the first metric."""
    acc = {
        "status": "pass",
        "metrics": [
            {
                "metric": "FID_SCORE",
                "value": 23.5,
                "unit": "",
                "reference": 23.0113,
                "threshold": 23.01085758,
                "upper_limit": 23.95007626,
            },
            {
                "metric": "CLIP SCORE",  # a space: must not reach the metric name
                "value": 31.7,
                "unit": "",
                "reference": 31.75,
                "threshold": 31.68631873,
                "upper_limit": 31.81331801,
            },
        ],
    }
    res = make_result("stable-diffusion-xl", mode="accuracy", accuracy=acc)
    prefix = f"{SYSTEM}_torch-fp16-Offline-"  # no single 99/99.9 target: no _k_ part
    got = by_suffix(metrics_for(typed(res)), prefix)
    for m in ("FID_SCORE", "CLIP_SCORE"):
        for kind in (
            "AccuracyValue",
            "ThresholdValue",
            "UpperThresholdValue",
            "AccuracyThresholdRatio",
            "UpperThresholdRatio",
        ):
            assert f"{kind}-{m}" in got, (kind, m, list(got))
        assert got[f"AccuracyThresholdRatio-{m}"]["metricRelativity"] == "Undefined"
    assert got["UpperThresholdValue-CLIP_SCORE"]["metricValue"] == 31.81331801
    assert got["UpperThresholdRatio-FID_SCORE"]["metricValue"] == round(23.95007626 / 23.5, 6)
    assert all(" " not in m["metricName"] for m in metrics_for(typed(res)))
    assert got["AccuracyMode"]["metadata"]["accuracy_target"] is None


def test_no_verdict_without_real_data_or_weights() -> None:
    for status in ("n/a-synthetic", "measured-random-weights"):
        acc = {"status": status, "metrics": [{"metric": "acc", "value": 0.1, "unit": "%"}]}
        res = make_result("resnet50", mode="accuracy", accuracy=acc)
        got = by_suffix(metrics_for(typed(res)), f"{SYSTEM}_torch-fp16_k_99-Offline-")
        assert list(got) == ["AccuracyValue-acc"]
        assert got["AccuracyValue-acc"]["metricVerbosity"] == 2


def test_resnet50_level_from_its_target_and_single_stream_keys() -> None:
    res = make_result(
        "resnet50",
        "SingleStream",
        loadgen_results={
            "early_stopping_latency_ss": 2300000,
            "result_90.00_percentile_latency_ns": 2202969,
            "result_mean_latency_ns": 2100000,
        },
    )
    assert accuracy_level(typed(res)) == "99" and config_name(typed(res)) == "torch-fp16_k_99"
    prefix = f"{SYSTEM}_torch-fp16_k_99-SingleStream-"
    got = by_suffix(metrics_for(typed(res)), prefix)
    assert list(got) == [
        "PerformanceMode",
        "result_early_stopping_latency_ss",
        "result_90.00_percentile_latency_ns",
        "result_mean_latency_ns",
    ]
    es = got["result_early_stopping_latency_ss"]
    assert es["metricValue"] == 2300000 and es["metricUnit"] == "ns"
    assert es["metricRelativity"] == "LowerIsBetter" and es["metricVerbosity"] == 0
    assert got["result_90.00_percentile_latency_ns"]["metricVerbosity"] == 1


def test_system_name_sanitized_and_fallback() -> None:
    res = make_result("bert-99", system_name="My Lab Box (2 GPUs)")
    assert names(metrics_for(typed(res)))[0].startswith(
        "My-Lab-Box-2-GPUs_torch-fp16_k_99-Offline-"
    )
    res = make_result("bert-99", system_name="")
    assert names(metrics_for(typed(res)))[0].startswith(
        "cpu-AMD-EPYC-9654_torch-fp16_k_99-Offline-"
    )


def test_no_metrics_for_a_failed_run() -> None:
    res = make_result("bert-99", validity=None)
    res["result"] = None
    res["status"] = "failed"
    assert metrics_for(typed(res)) == []


def test_telemetry_metrics_only_with_gpu_data() -> None:
    tel = {
        "gpu": [{"index": 0, "power_avg_w": 350.0, "power_peak_w": 600.0, "energy_j": 1000.0}],
        "counted_gpus": [0],
        "energy_j": 1000.0,
        "joules_per_sample": 1.0,
        "cpu": {"util_avg_pct": 12.5},
    }
    res = make_result("bert-99", telemetry=tel)
    got = by_suffix(metrics_for(typed(res)), f"{SYSTEM}_torch-fp16_k_99-Offline-")
    assert got["GPUEnergy"]["metricValue"] == 1000.0
    assert got["GPUJoulesPerSample"]["metricUnit"] == "J/sample"
    assert got["GPUAvgPower"]["metricValue"] == 350.0
    assert got["CPUAvgUtilization"]["metricValue"] == 12.5
    res = make_result("bert-99", telemetry={"gpu": None, "gpu_reason": "no NVIDIA GPU"})
    assert not [n for n in names(metrics_for(typed(res))) if "GPU" in n]


def test_csv_parses_back_equal_to_json(tmp_path: Path) -> None:
    res = make_result(
        "bert-99.9",
        "Server",
        loadgen_results={
            "result_completed_samples_per_sec": 2500.25,
            "result_scheduled_samples_per_sec": 2501.0,
            "result_99.00_percentile_latency_ns": 120000000,
        },
    )
    written = write_metrics(tmp_path, typed(res))
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["schema_version"] == 1 and doc["metrics"] == written
    assert doc["experimentId"] == "20260101T000000Z_bert-99.9_Server_performance_abc123"
    with open(tmp_path / "metrics.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert [r["MetricName"] for r in rows] == [m["metricName"] for m in written]
    for row, m in zip(rows, written, strict=True):
        assert float(row["MetricValue"]) == m["metricValue"]
        assert row["MetricUnit"] == m["metricUnit"]
        assert row["MetricRelativity"] == m["metricRelativity"]
        assert int(row["MetricVerbosity"]) == m["metricVerbosity"]
        assert json.loads(row["Metadata"]) == m["metadata"]
        assert row["ClientId"] == "node1" and row["ToolName"] == "MLPerf"
        assert row["ScenarioStartTime"] == m["scenarioStartTime"]
    assert any(
        n.endswith("_k_99_9-Server-result_scheduled_samples_per_sec") for n in names(written)
    )


def test_regenerate_from_result_json(tmp_path: Path) -> None:
    res = make_result("bert-99", loadgen_results={"result_samples_per_second": 10.0})
    (tmp_path / "result.json").write_text(json.dumps(res))
    assert regenerate(tmp_path) == metrics_for(typed(res))
    assert (tmp_path / "metrics.csv").is_file()
