"""Several replicas (CPU replicas stand in for GPUs) and the device-resident sample store,
through the real LoadGen."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferlab.loadgen.accuracy_log import iter_entries
from tests.integration.helpers import run_cfg
from tests.integration.imagenet_fixture import make_imagenet_dir


def test_null_backend_on_two_replicas_shares_the_work(tmp_path: Path) -> None:
    res = run_cfg(
        tmp_path,
        ["loadgen.min_duration=0", "loadgen.min_query_count=4096", "calibrate=false"],
        benchmark="resnet50",
        backend="null",
        device="cpu:0,1",
        batch_size=16,
    )
    assert res["status"] == "ok"
    reps = res["replicas"]
    assert [r["device"] for r in reps] == ["cpu:0", "cpu:1"]
    assert sum(r["samples"] for r in reps) == res["result"]["counts"]["samples"]
    assert all(r["batches"] > 0 for r in reps)
    assert abs(sum(r["share"] for r in reps) - 1.0) < 1e-3


@pytest.mark.parametrize("device", ["cpu", "cpu:0,1"])
def test_device_store_gives_the_host_store_accuracy_log(tmp_path: Path, device: str) -> None:
    pytest.importorskip("torch")
    root, _ = make_imagenet_dir(tmp_path / "val", 10, seed=7)
    logs = {}
    for store in ("host", "device"):
        res = run_cfg(
            tmp_path / store,
            [f"sample_store={store}", "calibrate=false"],
            benchmark="resnet50",
            variant="tiny",
            backend="torch",
            device=device,
            mode="accuracy",
            dataset_path=root,
            batch_size=4,
        )
        assert res["status"] == "ok", res["error"]
        assert res["sample_store"]["kind"] == store
        assert len(res["replicas"]) == (2 if device == "cpu:0,1" else 1)
        entries = iter_entries(Path(res["run_dir"]) / "mlperf_log_accuracy.json")
        logs[store] = sorted((e.qsl_idx, e.data) for e in entries)
    assert len(logs["host"]) == 10
    assert logs["device"] == logs["host"]


def test_onnxruntime_refuses_several_devices(tmp_path: Path) -> None:
    from inferlab.core.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="several devices"):
        run_cfg(
            tmp_path,
            [],
            benchmark="resnet50",
            backend="onnxruntime",
            variant="onnx",
            device="cpu:0,1",
        )
