"""Issue 15 item 8: what can be known before a run starts is found before its run directory
exists (exit 2, one error line): a CUDA device on a machine without one, a model file that is
plainly not loadable, a --count larger than the benchmark's dataset on generated data. And a
--count on generated data is the generated set's size, the same in result.json and summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import cli


def _refused_before_a_run(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "runs"
    proc = cli(*args, "--out", str(out), "--cache-dir", str(tmp_path / "cache"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert not out.exists() or not any(out.iterdir()), "a run directory was made"
    return errors[0]


def test_cuda_device_without_cuda_is_refused_before_the_run(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    line = _refused_before_a_run(tmp_path, "run", "resnet50", "--quick", "--device", "cuda")
    assert "needs CUDA" in line and "--device cpu" in line


def test_unloadable_checkpoints_are_refused_before_the_run(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from inferlab.benchmarks.resnet50.model import build_resnet50

    good = tmp_path / "good.pth"
    torch.save(build_resnet50(num_classes=10).state_dict(), good)
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "noise.pth").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "empty.pth").write_bytes(b"")
    for name, needle in (
        ("cut.pth", "damaged zip archive"),
        ("noise.pth", "not a PyTorch checkpoint"),
        ("empty.pth", "is empty"),
    ):
        line = _refused_before_a_run(
            tmp_path, "run", "resnet50", "--quick", "--model-path", str(tmp_path / name)
        )
        assert needle in line and str(tmp_path / name) in line, line
        assert "inferlab prepare resnet50" in line


def test_count_on_generated_data(tmp_path: Path) -> None:
    line = _refused_before_a_run(
        tmp_path, "run", "resnet50", "--quick", "--backend", "null", "--count", "60000"
    )
    assert "more than resnet50's dataset (50,000 samples)" in line and "--count 50000" in line

    out = tmp_path / "runs2"
    proc = cli(
        "run", "resnet50", "--quick", "--backend", "null", "--count", "2000", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = out.iterdir()
    res = json.loads((run_dir / "result.json").read_text())
    assert res["dataset"]["total_count"] == 2000 and res["dataset"]["synthetic"] is True
    assert res["dataset"]["subset"] is False and res["flags"]["subset"] is False
    assert "(subset)" not in proc.stdout and "SUBSET" not in proc.stdout
