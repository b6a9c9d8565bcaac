"""The native issue path (native_issue=on/auto) through the real LoadGen, null backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inferlab.loadgen.native import native_sut_available
from tests.integration.helpers import detail_errors, run_cfg

OK, WHY = native_sut_available()
needs_native = pytest.mark.skipif(not OK, reason=f"native issue queue unavailable: {WHY}")

N = 64
QUICK = ["loadgen.min_duration=0"]
SETTINGS = {
    "Offline": [*QUICK, "loadgen.min_query_count=5000", "loadgen.target_qps=1000"],
    "Server": [*QUICK, "loadgen.min_query_count=3000", "loadgen.target_qps=3000"],
}
EXPECTED_SAMPLES = {"Offline": 5000, "Server": 3000}


def _run(tmp_path: Path, scenario: str, native_issue: str) -> dict[str, Any]:
    """A short null-backend resnet50 run of ``scenario`` with the given issue path."""
    return run_cfg(
        tmp_path,
        SETTINGS[scenario],
        benchmark="resnet50",
        backend="null",
        scenario=scenario,
        count=N,
        calibrate=False,
        native_issue=native_issue,
    )


@needs_native
@pytest.mark.parametrize("scenario", list(SETTINGS))
def test_native_issue_quick_run(tmp_path: Path, scenario: str) -> None:
    res = _run(tmp_path, scenario, "on")
    assert res["status"] == "ok", res.get("error") or res["result"]
    r = res["result"]
    assert r["validity"] == "VALID"
    assert r["counts"]["samples"] == EXPECTED_SAMPLES[scenario]
    lg = res["loadgen"]
    assert lg["issue_path"] == "native"
    assert lg["issue_path_detail"].endswith("libinferlab_sut.so")
    assert res["config"]["native_issue"] == "on"
    run_dir = Path(res["run_dir"])
    assert detail_errors(run_dir) == []
    # LoadGen read the SUT's name through the C++ virtual interface
    assert "SUT name : inferlab-native" in (run_dir / "mlperf_log_summary.txt").read_text()


@needs_native
def test_native_issue_accuracy_covers_every_sample(tmp_path: Path) -> None:
    from tests.integration.helpers import logged_indices

    res = run_cfg(
        tmp_path,
        ["loadgen.target_qps=2000"],
        benchmark="resnet50",
        backend="null",
        scenario="Server",
        mode="accuracy",
        count=60,
        calibrate=False,
        native_issue="on",
    )
    assert res["status"] == "ok", res.get("error")
    assert res["loadgen"]["issue_path"] == "native"
    run_dir = Path(res["run_dir"])
    assert sorted(set(logged_indices(run_dir))) == list(range(60))
    assert detail_errors(run_dir) == []


def test_auto_without_a_compiler_falls_back_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))  # the worker inherits it
    res = _run(tmp_path, "Server", "auto")
    assert res["status"] == "ok", res.get("error")
    assert res["result"]["validity"] == "VALID"
    assert res["loadgen"]["issue_path"] == "python"
    assert "no C++ compiler" in res["loadgen"]["issue_path_detail"]


def test_on_without_a_compiler_fails_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    res = _run(tmp_path, "Offline", "on")
    assert res["status"] == "failed"
    assert "no C++ compiler" in res["error"]["message"]


def test_off_records_the_python_path(tmp_path: Path) -> None:
    res = _run(tmp_path, "Offline", "off")
    assert res["status"] == "ok", res.get("error")
    assert res["loadgen"]["issue_path"] == "python"
    assert res["loadgen"]["issue_path_detail"] == "native_issue=off"
