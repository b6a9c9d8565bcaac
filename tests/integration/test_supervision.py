"""The supervisor: watchdog, Ctrl-C, unique run directories, result.json written last."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from inferlab.results.store import create_run_dir
from tests.integration.helpers import run_cfg


def _gone(pid: int, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_watchdog_fails_a_stalled_sut_and_names_outstanding_ids(tmp_path: Path) -> None:
    res = run_cfg(
        tmp_path,
        ["loadgen.min_duration=0", "loadgen.min_query_count=8", "loadgen.target_qps=100"],
        benchmark="resnet50",
        backend="null",
        count=16,
        calibrate=False,
        null_service_time_ms=600_000,
        watchdog_s=3,
        batch_size=4,
    )
    assert res["status"] == "failed"
    assert res["error"]["kind"] == "watchdog"
    assert "oldest outstanding query ids: [" in res["error"]["message"]
    assert res["worker"]["pid"] and _gone(res["worker"]["pid"])
    assert (Path(res["run_dir"]) / "user.conf").is_file()  # partial outputs kept


def test_ctrl_c_marks_the_run_interrupted_and_kills_the_worker(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "inferlab",
        "run",
        "resnet50",
        "--backend",
        "null",
        "--count",
        "16",
        "--no-calibrate",
        "--out",
        str(out),
        "--set",
        "null_service_time_ms=600000",
        "--set",
        "loadgen.min_query_count=8",
        "--set",
        "loadgen.min_duration=0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    conf = None
    while time.monotonic() < deadline and conf is None:
        found = list(out.glob("*/user.conf")) if out.exists() else []
        conf = found[0] if found else None
        time.sleep(0.2)
    assert conf is not None, proc.communicate(timeout=5)
    time.sleep(1.5)  # the test is running and stuck in the SUT
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    result = json.loads((conf.parent / "result.json").read_text())
    assert result["status"] == "interrupted"
    assert _gone(result["worker"]["pid"])
    assert (conf.parent / "worker.log").is_file()


def test_run_directories_are_never_shared(tmp_path: Path) -> None:
    dirs = {create_run_dir(tmp_path, "resnet50", "Offline", "performance") for _ in range(200)}
    assert len(dirs) == 200
    assert all(d.is_dir() and not any(d.iterdir()) for d in dirs)


def test_result_json_is_the_last_file_written(tmp_path: Path) -> None:
    res = run_cfg(
        tmp_path,
        ["loadgen.min_duration=0", "loadgen.min_query_count=10"],
        benchmark="resnet50",
        backend="null",
        count=16,
        calibrate=False,
    )
    run_dir = Path(res["run_dir"])
    mtimes = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    assert max(mtimes, key=lambda k: mtimes[k]) == "result.json"
    assert res["schema_version"] == 2 and res["status"] == "ok"
    for key in ("telemetry", "system", "environment", "loadgen", "config", "timings"):
        assert key in res
    assert res["loadgen"]["trace_kept"] is False
    assert not (run_dir / "mlperf_log_trace.json").exists()
