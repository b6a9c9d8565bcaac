"""Bad input: one clear line naming the fix, a non-zero exit, nothing presented as a result."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import cli
from tests.integration.imagenet_fixture import make_imagenet_dir

SHORT = ("--set", "loadgen.min_query_count=4", "--set", "loadgen.min_duration=0")


def _error_line(proc) -> str:  # type: ignore[no-untyped-def]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _no_runs(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "resnet5"], "unknown benchmark 'resnet5'"),
        (["run", "resnet50", "--scenario", "Batch"], "unknown scenario 'Batch'"),
        (["run", "resnet50", "--dtype", "int3"], "invalid dtype: 'int3'"),
        (["run", "resnet50", "--device", "tpu"], "unknown device 'tpu'"),
        (["run", "resnet50", "--backend", "tensorrt"], "invalid backend"),
        (["run", "resnet50", "--mode", "fast"], "invalid mode"),
        (["run", "resnet50", "--set", "loadgen.min_durashun=1"], "unknown LoadGen key"),
        # numbers LoadGen cannot take, in --set as in user.conf and YAML
        (["run", "resnet50", "--set", "loadgen.min_duration=1e30"], "min_duration=1e+30 is out"),
        (["run", "resnet50", "--set", "loadgen.min_duration=.inf"], "min_duration=inf is not a"),
        (["run", "resnet50", "--set", "loadgen.target_qps=nan"], "target_qps=nan is not a"),
        (["run", "resnet50", "--set", "loadgen.target_qps=-5"], "target_qps=-5 is out of range"),
        (["run", "resnet50", "--set", "loadgen.samples_per_query=0"], "samples_per_query=0 is"),
    ],
)
def test_bad_names(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "runs"
    proc = cli(*args, "--out", str(out))
    assert proc.returncode == 2
    assert needle in _error_line(proc)
    assert _no_runs(out)


def test_missing_data_dir(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = cli("run", "resnet50", "--data-dir", str(tmp_path / "nope"), "--out", str(out))
    assert proc.returncode == 2
    line = _error_line(proc)
    assert "does not exist" in line and "fix:" in line
    assert _no_runs(out)


def test_data_dir_without_imagenet_is_not_a_silent_fallback(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    out = tmp_path / "runs"
    proc = cli(
        "run", "resnet50", "--out", str(out), env={"INFERLAB_DATA_DIR": str(tmp_path / "data")}
    )
    assert proc.returncode == 2
    assert "imagenet2012-val" in _error_line(proc)
    assert _no_runs(out)


def test_val_map_naming_a_missing_file(tmp_path: Path) -> None:
    ds, _ = make_imagenet_dir(tmp_path / "val", 4)
    (ds / "ILSVRC2012_val_00000003.JPEG").unlink()
    out = tmp_path / "runs"
    proc = cli("run", "resnet50", "--dataset-path", str(ds), "--out", str(out))
    assert proc.returncode == 2
    assert "ILSVRC2012_val_00000003.JPEG" in _error_line(proc)
    assert _no_runs(out)


def test_missing_model_file(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = cli("run", "resnet50", "--model-path", str(tmp_path / "r.pth"), "--out", str(out))
    assert proc.returncode == 2
    assert "r.pth" in _error_line(proc)
    assert _no_runs(out)


def test_corrupt_jpeg_fails_the_run_naming_the_file(tmp_path: Path) -> None:
    ds, _ = make_imagenet_dir(tmp_path / "val", 4)
    (ds / "ILSVRC2012_val_00000002.JPEG").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "runs"
    proc = cli(
        "run",
        "resnet50",
        "--dataset-path",
        str(ds),
        "--backend",
        "torch",
        "--no-calibrate",
        "--out",
        str(out),
        *SHORT,
        "--set",
        f"cache_dir={tmp_path / 'cache'}",
    )
    assert proc.returncode == 2, proc.stderr
    assert "ILSVRC2012_val_00000002.JPEG" in _error_line(proc)
    assert "Samples per second" not in proc.stdout  # no result presented
    (run_dir,) = list(out.iterdir())
    import json

    assert json.loads((run_dir / "result.json").read_text())["status"] == "failed"


def test_checkpoint_with_wrong_shapes(tmp_path: Path) -> None:
    import torch

    from inferlab.benchmarks.resnet50.model import build_resnet50

    ckpt = tmp_path / "resnet50-1001.pth"
    torch.save(build_resnet50(num_classes=1001).state_dict(), ckpt)
    out = tmp_path / "runs"
    proc = cli(
        "run",
        "resnet50",
        "--model-path",
        str(ckpt),
        "--count",
        "4",
        "--no-calibrate",
        "--out",
        str(out),
        *SHORT,
    )
    assert proc.returncode == 2
    line = _error_line(proc)
    assert "fc.weight" in line and "1001" in line


def test_tiny_variant_refuses_a_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "some.pth"
    ckpt.write_bytes(b"x")
    out = tmp_path / "runs"
    proc = cli(
        "run",
        "resnet50",
        "--variant",
        "tiny",
        "--model-path",
        str(ckpt),
        "--count",
        "4",
        "--no-calibrate",
        "--out",
        str(out),
    )
    assert proc.returncode == 2
    assert "tiny variant has random weights and no checkpoint" in _error_line(proc)
    assert not out.exists()  # refused before a run directory is made


def test_unknown_variant(tmp_path: Path) -> None:
    proc = cli("run", "resnet50", "--variant", "onnx-int4", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2
    assert "no variant 'onnx-int4'" in _error_line(proc)
