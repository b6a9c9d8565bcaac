"""The failure paths end to end through the CLI, driven by the null backend's test-only fault
injection (``--set null_fail_at=N --set null_fail_mode=raise|stall|crash|abort``;
docs/reliability.md). Supervision by other means (a signal sent from outside, Ctrl-C) is in
test_supervision.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import cli

# a short test of 4-sample batches: the 3rd batch is inside the LoadGen test
SHORT = [
    "resnet50",
    "--backend",
    "null",
    "--count",
    "16",
    "--batch-size",
    "4",
    "--no-calibrate",
    "--set",
    "loadgen.min_duration=0",
    "--set",
    "loadgen.min_query_count=64",
    "--set",
    "null_fail_at=3",
]


def _run(tmp_path: Path, mode: str, *extra: str) -> tuple[int, str, dict, Path]:
    out = tmp_path / "runs"
    proc = cli("run", *SHORT, "--set", f"null_fail_mode={mode}", "--out", str(out), *extra)
    (run_dir,) = out.iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    return proc.returncode, proc.stdout + proc.stderr, result, run_dir


def test_an_exception_in_the_backend_fails_the_run_and_keeps_its_result(tmp_path: Path) -> None:
    code, text, result, run_dir = _run(tmp_path, "raise")
    assert code == 1, text
    assert result["status"] == "failed"
    assert "injected failure at batch 3" in result["error"]["message"]
    assert result["backend"]["fail_at"] == 3  # the injection is on record
    assert "injected failure at batch 3" in text  # and said on the console
    log = (run_dir / "worker.log").read_text()
    assert "Traceback" in log and "RuntimeError" in log


def test_a_stalled_backend_is_killed_by_the_watchdog(tmp_path: Path) -> None:
    code, text, result, run_dir = _run(tmp_path, "stall", "--set", "watchdog_s=2")
    assert code == 1, text
    assert result["status"] == "failed" and result["error"]["kind"] == "watchdog"
    assert "oldest outstanding query ids: [" in result["error"]["message"]
    assert "injected stall at batch 3" in (run_dir / "worker.log").read_text()


@pytest.mark.parametrize(("mode", "signame"), [("crash", "SIGSEGV"), ("abort", "SIGABRT")])
def test_a_crashing_backend_is_named_and_leaves_its_stack(
    tmp_path: Path, mode: str, signame: str
) -> None:
    code, text, result, run_dir = _run(tmp_path, mode)
    assert code == 1, text
    assert result["status"] == "failed" and result["error"]["kind"] == "crash"
    assert f"killed by {signame}" in result["error"]["message"]
    log = (run_dir / "worker.log").read_text()
    assert "Fatal Python error" in log
    assert "in _inject" in log and "in predict" in log  # the stack of the crashing thread


def test_a_bad_fault_mode_is_refused_before_the_run(tmp_path: Path) -> None:
    proc = cli(
        "run", "resnet50", "--backend", "null", "--set", "null_fail_mode=boom",
        "--out", str(tmp_path / "runs"),
    )  # fmt: skip
    assert proc.returncode == 2
    assert "fail_mode" in proc.stderr and "crash" in proc.stderr
    assert not (tmp_path / "runs").exists()
