"""Generated from the registry (built-in benchmarks and the toy plugin of tests/toy): every spec
is complete, every task gives the hooks that have no default, and every benchmark runs in every
scenario it declares, in both modes, on synthetic data with the null backend, through the real
LoadGen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inferlab.config import build_config
from inferlab.core import registry
from inferlab.core.spec import Scenario
from inferlab.core.task import BenchmarkTask
from inferlab.runner.api import run
from tests.integration.helpers import detail_errors, logged_indices

IDS = registry.benchmark_ids()
CASES = [(bid, s.value) for bid in IDS for s in registry.get(bid).scenarios]
COUNT = 40  # not a multiple of MultiStream's 8: the last query is padded

# short LoadGen settings per scenario that still give a VALID result with the null backend
PERF = {
    "Offline": ["loadgen.min_duration=0", "loadgen.min_query_count=1", "loadgen.target_qps=1000"],
    "SingleStream": ["loadgen.min_duration=0", "loadgen.min_query_count=100"],
    "MultiStream": ["loadgen.min_duration=0", "loadgen.min_query_count=662"],
    "Server": ["loadgen.min_duration=0", "loadgen.min_query_count=600", "loadgen.target_qps=1000"],
}
PERF["Interactive"] = PERF["Server"]  # LoadGen's Server under the -interactive keys
ACC = {"Server": ["loadgen.target_qps=2000"], "Interactive": ["loadgen.target_qps=2000"]}


REQUIRED_HOOKS = (
    "resolve_dataset_path",
    "make_dataset",
    "build_model",
    "null_output_shape",
    "postprocess",
    "evaluate",
)


def test_the_toy_plugin_is_registered_through_the_entry_point() -> None:
    assert "toy-seq" in IDS and "toy-seq" not in registry.BENCHMARKS
    assert registry.canonical_id("TOY") == "toy-seq"


@pytest.mark.parametrize("bid", IDS)
def test_spec_is_complete(bid: str) -> None:
    spec = registry.get(bid)
    assert spec.id == bid
    assert registry.canonical_id(bid.upper()) == bid
    for alias in spec.aliases:
        assert registry.canonical_id(alias) == bid
    assert spec.scenarios and spec.variants and spec.metrics
    for scenario in spec.scenarios:
        assert scenario in spec.quick, f"{bid} has no quick values for {scenario.value}"
    if Scenario.SERVER in spec.scenarios:
        assert spec.server_latency_ms
    assert spec.targets
    for targets in spec.targets.values():
        assert targets
        for t in targets:
            assert t.threshold is not None or t.upper_limit is not None
    task = registry.resolve(spec.task)
    assert isinstance(task, BenchmarkTask)
    for hook in REQUIRED_HOOKS:  # the hooks without a default are the task's own
        assert getattr(type(task), hook) is not getattr(BenchmarkTask, hook), (bid, hook)


def _run(tmp_path: Path, bid: str, scenario: str, mode: str, sets: list[str]) -> dict[str, Any]:
    out = tmp_path / mode
    flags = {
        "benchmark": bid,
        "backend": "null",
        "scenario": scenario,
        "mode": mode,
        "count": COUNT,
        "calibrate": False,
        "out": out,
        "cache_dir": tmp_path / "cache",
    }
    run(build_config(flags=flags, sets=sets, environ={}))
    (run_dir,) = out.iterdir()
    stored: dict[str, Any] = json.loads((run_dir / "result.json").read_text())
    return stored


@pytest.mark.parametrize(("bid", "scenario"), CASES)
def test_every_declared_scenario_in_both_modes(tmp_path: Path, bid: str, scenario: str) -> None:
    perf = _run(tmp_path, bid, scenario, "performance", PERF[scenario])
    assert perf["status"] == "ok", perf["error"] or perf["result"]
    assert perf["result"]["validity"] == "VALID"
    assert perf["result"]["value"] is not None
    assert perf["flags"]["synthetic"] and not perf["flags"]["submittable"]
    assert detail_errors(Path(perf["run_dir"])) == []

    acc = _run(tmp_path, bid, scenario, "accuracy", ACC.get(scenario, []))
    assert acc["status"] == "ok", acc["error"]
    assert acc["accuracy"]["status"] == "n/a-synthetic"
    assert acc["accuracy"]["log"]["complete"] is True
    assert sorted(set(logged_indices(Path(acc["run_dir"])))) == list(range(COUNT))
    assert [m["metric"] for m in acc["accuracy"]["metrics"]]
    assert (Path(acc["run_dir"]) / "accuracy.txt").read_text().strip()


@pytest.mark.parametrize("scenario", ["Offline", "Server"])
def test_the_toy_s_variable_length_outputs_reach_the_log_whole(
    tmp_path: Path, scenario: str
) -> None:
    """Per-sample payloads of their own length, decoded from LoadGen's accuracy log, all right;
    in performance mode the first tokens give LoadGen its time to first token."""
    acc = _run(tmp_path, "toy-seq", scenario, "accuracy", ACC.get(scenario, []))
    (metric,) = acc["accuracy"]["metrics"]
    assert metric["metric"] == "exact_match" and metric["value"] == 100.0
    assert acc["accuracy"]["details"]["good"] == COUNT
    assert len(acc["accuracy"]["details"]["payload_lengths"]) > 3  # really of several lengths

    sets = [*PERF[scenario], "loadgen.use_token_latencies=1"]
    perf = _run(tmp_path, "toy-seq", scenario, "performance", sets)
    assert perf["status"] == "ok", perf["error"] or perf["result"]
    assert detail_errors(Path(perf["run_dir"])) == []
    if scenario == "Server":  # the spec's bound, not LoadGen's default for an unknown model
        assert perf["loadgen"]["effective"]["effective_target_latency_ns"] == 50_000_000
        assert perf["loadgen"]["keys"]["target_latency"]["source"] == "benchmark"
    results = perf["loadgen"]["results"]
    if scenario in ("Server", "Interactive"):  # LoadGen reports TTFT only for Server
        assert results["result_first_token_mean_latency_ns"] > 0
    assert results.get("result_token_throughput", results.get("result_tokens_per_second", 1)) > 0
