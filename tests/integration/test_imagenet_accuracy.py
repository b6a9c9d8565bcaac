"""Accuracy mode on a real-layout ImageNet fixture (JPEGs + val_map.txt) and a checkpoint file.

The expected top-1 line is derived here independently of inferlab: the whole accuracy log is read
with json.load and compared with the val_map, as accuracy-imagenet.py does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.integration.helpers import run_cfg
from tests.integration.imagenet_fixture import make_imagenet_dir

N = 10


def _expected_line(log: Path, labels: list[int]) -> str:
    seen: set[int] = set()
    good = 0
    for entry in json.loads(log.read_text()):
        idx = entry["qsl_idx"]
        if idx in seen:
            continue
        seen.add(idx)
        found = int(np.frombuffer(bytes.fromhex(entry["data"]), np.float32)[0])
        good += int(found == labels[idx])
    return f"accuracy={100.0 * good / len(seen):.3f}%, good={good}, total={len(seen)}"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from inferlab.benchmarks.resnet50.model import build_resnet50

    torch.manual_seed(123)
    path = tmp_path_factory.mktemp("ckpt") / "resnet50-19c8e357.pth"
    torch.save(build_resnet50().state_dict(), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["Offline", "MultiStream"])
def test_real_layout_with_checkpoint(tmp_path: Path, checkpoint: Path, scenario: str) -> None:
    ds, labels = make_imagenet_dir(tmp_path / "imagenet2012-val", N)
    res = run_cfg(
        tmp_path,
        [],
        benchmark="resnet50",
        scenario=scenario,
        mode="accuracy",
        dataset_path=ds,
        model_path=checkpoint,
        calibrate=False,
        batch_size=5,
    )
    assert res["status"] == "ok", res.get("error")
    run_dir = Path(res["run_dir"])
    line = _expected_line(run_dir / "mlperf_log_accuracy.json", labels)
    assert (run_dir / "accuracy.txt").read_text().strip() == line
    acc = res["accuracy"]
    (metric,) = acc["metrics"]
    assert metric["metric"] == "acc" and metric["reference"] == 76.46
    assert metric["threshold"] == pytest.approx(75.6954)
    assert metric["percent_of_reference"] == pytest.approx(100 * metric["value"] / 76.46, abs=1e-3)
    assert metric["passed"] is (metric["value"] >= 75.6954)
    assert acc["status"] == ("pass" if metric["passed"] else "fail")
    # random weights saved under the official name: the checksum tells it apart (issue 15.10)
    assert acc["expected_for_checkpoint"] is None
    assert "not the official checkpoint" in acc["note"]
    check = res["model"]["checkpoint_check"]
    assert check["official"] is False and check["matched"] is None
    assert check["official_files"][0]["md5"] == "9e9c86b324d80e65229fab49b8d9a8e8"
    assert res["flags"]["official_checkpoint"] is False and not res["flags"]["submittable"]
    assert any("not the official checkpoint" in r for r in res["flags"]["not_submittable_because"])
    assert acc["payload"]["dtype"] == "float32"
    assert acc["log"]["complete"] and not res["flags"]["synthetic"]
    assert res["model"]["random_weights"] is False and res["model"]["sha256"]
    assert res["dataset"]["total_count"] == N
    assert not (run_dir / "val_map.txt").exists()  # real data: the user's val_map is the one
    cached = list((tmp_path / "cache" / "preprocessed").rglob("*.npy"))
    assert len(cached) == N  # one uint8 crop per image, keyed by content + transform


def test_synthetic_run_val_map_feeds_the_official_format(tmp_path: Path) -> None:
    res = run_cfg(
        tmp_path,
        [],
        benchmark="resnet50",
        backend="null",
        mode="accuracy",
        count=20,
        calibrate=False,
    )
    run_dir = Path(res["run_dir"])
    vm = (run_dir / "val_map.txt").read_text().splitlines()
    assert len(vm) == 20 and all(len(line.split()) == 2 for line in vm)
    labels = [int(line.split()[1]) for line in vm]
    assert (run_dir / "accuracy.txt").read_text().strip() == _expected_line(
        run_dir / "mlperf_log_accuracy.json", labels
    )


OFFICIAL = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")


@pytest.mark.skipif(
    not OFFICIAL, reason="set INFERLAB_OFFICIAL_INFERENCE to a mlcommons/inference checkout"
)
def test_official_accuracy_imagenet_agrees(tmp_path: Path, checkpoint: Path) -> None:
    script = Path(OFFICIAL or "") / "vision/classification_and_detection/tools/accuracy-imagenet.py"
    ds, _ = make_imagenet_dir(tmp_path / "imagenet2012-val", N)
    res = run_cfg(
        tmp_path,
        [],
        benchmark="resnet50",
        mode="accuracy",
        dataset_path=ds,
        model_path=checkpoint,
        calibrate=False,
        batch_size=5,
    )
    run_dir = Path(res["run_dir"])
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "--mlperf-accuracy-file",
            str(run_dir / "mlperf_log_accuracy.json"),
            "--imagenet-val-file",
            str(ds / "val_map.txt"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == (run_dir / "accuracy.txt").read_text().strip()
