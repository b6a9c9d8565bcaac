"""8-bit runs: int8 on real-format ImageNet data calibrates on MLPerf's calibration list when the
data root has it, says so in result.json, and refuses a list naming images that are not there;
fp8 records its 8-bit GEMM layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import run_cfg
from tests.integration.imagenet_fixture import make_imagenet_dir

pytest.importorskip("torch")


def test_int8_calibrates_on_the_mlperf_list_under_the_data_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_imagenet_dir(root / "imagenet2012-val", 6, seed=4)
    cal = root / "mlperf-calibration" / "ImageNet" / "cal_image_list_option_1.txt"
    cal.parent.mkdir(parents=True)
    cal.write_text("ILSVRC2012_val_00000002.JPEG\nILSVRC2012_val_00000005.JPEG\n")
    flags = {
        "benchmark": "resnet50",
        "variant": "tiny",
        "dtype": "int8",
        "data_dir": root,
        "mode": "accuracy",
        "batch_size": 4,
    }
    res = run_cfg(tmp_path, ["calibrate=false"], **flags)
    assert res["status"] == "ok", res["error"]
    calib = res["backend"]["quantization"]["calibration"]
    assert calib["source"] == "MLPerf calibration list cal_image_list_option_1.txt"
    assert calib["count"] == 2 and calib["samples_seen"] == 2 and calib["closed_division"]
    reasons = res["flags"]["not_submittable_because"]
    assert not any("stand-in" in r for r in reasons)

    cal.write_text("ILSVRC2012_val_00000002.JPEG\nILSVRC2012_val_00049999.JPEG\n")
    failed = run_cfg(tmp_path, ["calibrate=false"], **flags)
    assert failed["status"] == "failed"
    assert "calibration images of cal_image_list_option_1.txt" in failed["error"]["message"]


def _stand_in_run(tmp_path: Path, dtype: str) -> dict[str, Any]:
    """A short tiny-ResNet run on synthetic data: calibrated on a stand-in."""
    return run_cfg(
        tmp_path,
        ["calibrate=false", "loadgen.min_duration=0", "loadgen.min_query_count=8"],
        benchmark="resnet50",
        variant="tiny",
        dtype=dtype,
        count=8,
        batch_size=4,
    )


def test_int8_without_the_list_uses_a_labelled_stand_in(tmp_path: Path) -> None:
    res = _stand_in_run(tmp_path, "int8")
    calib = res["backend"]["quantization"]["calibration"]
    assert calib["source"].startswith("stand-in") and not calib["closed_division"]
    assert (
        "int8 calibrated on a stand-in, not MLPerf's calibration list"
        in (res["flags"]["not_submittable_because"])
    )


def test_fp8_run_records_the_8bit_gemm_path_and_its_stand_in(tmp_path: Path) -> None:
    """fp8 on the CPU (PyTorch's CPU _scaled_mm): the run works end to end through LoadGen and
    result.json says which layers run in fp8, which stay bf16 and why, and how it was calibrated."""
    res = _stand_in_run(tmp_path, "fp8")
    assert res["status"] == "ok", res["error"]
    q = res["backend"]["quantization"]
    assert q["format"] == "fp8" and "torch._scaled_mm" in q["scheme"]
    # the tiny ResNet's first stage has 8 channels: its three pointwise convs stay bf16
    assert q["layers_8bit"] == 9 and len(q["layers_kept"]) == 3
    assert [layer["layer"] for layer in q["layers"]][:2] == ["layer2.0.conv1", "layer2.0.conv3"]
    assert q["calibration"]["source"].startswith("stand-in") and q["calibration"]["count"] == 8
    assert q["logit_check"]["degenerate"]  # random weights, and the result says so
    assert res["batching"]["max_batch_source"] == "--batch-size"
    assert (res["batching"]["loop_threads"], res["batching"]["max_inflight_batches"]) == (1, 2)
    assert (
        "fp8 calibrated on a stand-in, not MLPerf's calibration list"
        in (res["flags"]["not_submittable_because"])
    )
