"""Generated from the registry: every benchmark spec is complete and runs on synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferlab.core import registry
from inferlab.core.spec import Scenario
from tests.integration.helpers import logged_indices, run_cfg

IDS = registry.benchmark_ids()


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
    for round_, targets in spec.targets.items():
        assert round_.startswith("v") and targets
        for t in targets:
            assert t.threshold is not None or t.upper_limit is not None
    task = registry.resolve(spec.task)
    hooks = ("resolve_dataset_path", "make_dataset", "build_model", "postprocess", "evaluate")
    for hook in (*hooks, "batch_plan"):
        assert callable(getattr(task, hook))


@pytest.mark.parametrize("bid", IDS)
def test_runs_on_synthetic_data_with_the_null_backend(tmp_path: Path, bid: str) -> None:
    perf = run_cfg(
        tmp_path,
        ["loadgen.min_duration=0", "loadgen.min_query_count=32"],
        benchmark=bid,
        backend="null",
        count=32,
        calibrate=False,
    )
    assert perf["status"] == "ok" and perf["result"]["validity"] == "VALID"
    assert perf["flags"]["synthetic"] is True
    acc = run_cfg(
        tmp_path, [], benchmark=bid, backend="null", count=32, calibrate=False, mode="accuracy"
    )
    assert acc["accuracy"]["status"] == "n/a-synthetic"
    assert sorted(set(logged_indices(Path(acc["run_dir"])))) == list(range(32))
