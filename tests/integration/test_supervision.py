"""The supervisor: watchdog, Ctrl-C, unique run directories, result.json written last."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def _start_stuck_run(out: Path) -> tuple[subprocess.Popen[str], Path]:
    """`inferlab run` through the CLI whose SUT never answers; returns once the LoadGen test
    runs (user.conf written, then a moment)."""
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
    return proc, conf


def _worker_pids(run_dir: Path) -> list[int]:
    """Live (not zombie) worker processes of ``run_dir`` (their command line names its job)."""
    pids = []
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().decode(errors="replace")
            state = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "inferlab.runner.worker" in cmdline and str(run_dir) in cmdline and state != "Z":
            pids.append(int(proc_dir.name))
    return pids


@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [
        (signal.SIGINT, 130, "Ctrl-C"),
        (signal.SIGTERM, 143, "SIGTERM"),
        (signal.SIGHUP, 129, "SIGHUP"),
    ],
)
def test_a_stop_signal_marks_the_run_interrupted_and_kills_the_worker(
    tmp_path: Path, signum: int, code: int, name: str
) -> None:
    """Ctrl-C, and SIGTERM/SIGHUP (timeout, docker stop, a closed terminal) the same way: the
    worker is stopped, result.json says interrupted and by what, the exit code is the shell's."""
    proc, conf = _start_stuck_run(tmp_path / "runs")
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "interrupted" in stderr
    result = json.loads((conf.parent / "result.json").read_text())
    assert result["status"] == "interrupted"
    assert result["error"]["message"] == f"stopped by {name}"
    assert _gone(result["worker"]["pid"])
    assert (conf.parent / "worker.log").is_file()


def test_the_worker_dies_with_a_killed_supervisor(tmp_path: Path) -> None:
    """SIGKILL cannot be handled: the worker must not outlive its supervisor (PR_SET_PDEATHSIG)."""
    proc, conf = _start_stuck_run(tmp_path / "runs")
    assert _worker_pids(conf.parent), "the worker should be running"
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while _worker_pids(conf.parent) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _worker_pids(conf.parent) == []


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


def test_a_crashed_worker_leaves_its_stack_in_worker_log(tmp_path: Path) -> None:
    """A crash in native code (here SIGSEGV sent to the worker) is named in result.json, and
    worker.log holds the worker's Python stack (faulthandler), not nothing."""
    proc, conf = _start_stuck_run(tmp_path / "runs")
    (pid,) = _worker_pids(conf.parent)
    os.kill(pid, signal.SIGSEGV)
    proc.communicate(timeout=60)
    assert proc.returncode == 1
    result = json.loads((conf.parent / "result.json").read_text())
    assert result["status"] == "failed" and result["error"]["kind"] == "crash"
    assert "killed by SIGSEGV" in result["error"]["message"]
    log = (conf.parent / "worker.log").read_text()
    assert "Fatal Python error: Segmentation fault" in log
    assert "Current thread" in log or "Thread 0x" in log
