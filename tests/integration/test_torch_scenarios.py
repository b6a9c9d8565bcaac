"""Every scenario x mode through the real LoadGen with the torch backend: the tiny ResNet
variant (same code, width 8, one block per stage, random weights) on tiny synthetic data.
Short settings: latency scenarios with too few queries are expected INVALID."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import detail_errors, logged_indices, run_cfg

N = 8
COMMON = {
    "benchmark": "resnet50",
    "variant": "tiny",
    "backend": "torch",
    "count": N,
    "batch_size": 4,
    "calibrate": False,
}

CASES = {
    # scenario: (settings, validity, queries, samples, reason keyword)
    "Offline": (["loadgen.min_duration=0", "loadgen.min_query_count=16"], "VALID", 1, 16, None),
    "SingleStream": (
        ["loadgen.min_duration=0", "loadgen.min_query_count=10"],
        "INVALID",
        10,
        10,
        "early stopping",
    ),
    "MultiStream": (
        ["loadgen.min_duration=0", "loadgen.min_query_count=3"],
        "INVALID",
        3,
        24,
        "early stopping",
    ),
    "Server": (
        ["loadgen.min_duration=0", "loadgen.min_query_count=12", "loadgen.target_qps=4"],
        "INVALID",
        12,
        12,
        "early stopping",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(CASES))
def test_torch_performance(tmp_path: Path, scenario: str) -> None:
    sets, validity, queries, samples, keyword = CASES[scenario]
    res = run_cfg(tmp_path, sets, scenario=scenario, **COMMON)
    r = res["result"]
    assert r["validity"] == validity, r
    assert res["status"] == ("ok" if validity == "VALID" else "invalid")
    assert r["counts"]["queries"] == queries
    assert r["counts"]["samples"] == samples
    if keyword:
        assert any(keyword in reason for reason in r["invalid_reasons"]), r["invalid_reasons"]
    else:
        assert r["invalid_reasons"] == [] and r["value"] > 0
    assert res["model"]["random_weights"] is True
    assert res["model"]["extra"]["width"] == 8  # the tiny variant, not the full network
    assert detail_errors(Path(res["run_dir"])) == []


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(CASES))
def test_torch_accuracy(tmp_path: Path, scenario: str) -> None:
    sets = ["loadgen.target_qps=50"] if scenario == "Server" else []
    res = run_cfg(tmp_path, sets, scenario=scenario, mode="accuracy", **COMMON)
    assert res["status"] == "ok", res.get("error")
    run_dir = Path(res["run_dir"])
    assert sorted(set(logged_indices(run_dir))) == list(range(N))
    assert detail_errors(run_dir) == []
    assert res["accuracy"]["status"] == "n/a-synthetic"
