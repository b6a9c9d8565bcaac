"""Issue 15, item 3: a Server run offered more than the harness serves ends promptly with the
offered and served rates and the fix, in bounded memory; and the calibrated offered load of a
quick null-backend Server run is one the harness can serve."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.helpers import cli


def _worker_peak_rss_mib(out: Path, proc: subprocess.Popen[str]) -> float:
    """Follow the run's worker until the run ends: its peak RSS (VmHWM) in MiB."""
    peak = 0.0
    while proc.poll() is None:
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                cmdline = (status.parent / "cmdline").read_bytes().decode(errors="replace")
                if "inferlab.runner.worker" not in cmdline or str(out) not in cmdline:
                    continue
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
            except OSError:
                continue
        time.sleep(0.2)
    return peak


def test_a_runaway_offered_load_ends_promptly_with_the_rates_and_the_fix(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    cmd = [
        sys.executable, "-m", "inferlab", "run", "resnet50", "--quick", "--scenario", "Server",
        "--backend", "null", "--no-calibrate", "--out", str(out),
        # 2.5M QPS for 3 s: 7.5M queries; the harness serves a few hundred thousand a second
        "--set", "loadgen.target_qps=2500000", "--set", "loadgen.min_duration=3000",
    ]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        peak = _worker_peak_rss_mib(out, proc)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - t0
    assert proc.returncode == 1, stdout + stderr
    (run_dir,) = out.iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "failed"
    assert result["error"]["kind"] == "ServerOverload"
    msg = result["error"]["message"]
    assert "LoadGen offered" in msg and "the SUT served" in msg and "samples/s" in msg
    assert "--set loadgen.target_qps=" in msg  # the fix
    assert "LoadGen offered" in stdout
    # LoadGen alone holds its 7.5M-query schedule (~1.5 GB); without the bound the backlog
    # and LoadGen's records of it grew by hundreds of MB a second until the end (issue 15)
    assert peak < 3000, f"worker peak RSS {peak:.0f} MiB"
    assert took < 60, f"took {took:.0f} s"


def test_quick_server_is_offered_what_the_harness_sustains(tmp_path: Path) -> None:
    """The calibrated offered load accounts for LoadGen and the dispatch path, not only the
    backend's batch time (which says millions of samples/s for the null backend)."""
    out = tmp_path / "runs"
    proc = cli(
        "run", "resnet50", "--quick", "--scenario", "Server", "--backend", "null",
        "--out", str(out),
    )  # fmt: skip
    (run_dir,) = out.iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] in ("ok", "invalid"), proc.stdout + proc.stderr
    calib = result["calibration"]
    assert calib["harness"]["harness_sps"] > 0
    offered = result["loadgen"]["keys"]["target_qps"]["value"]
    assert offered <= 0.5 * calib["harness"]["harness_sps"]
    assert "sustainable rate" in result["loadgen"]["keys"]["target_qps"]["note"]
    served = result["result"]["value"]
    assert served >= 0.9 * offered, (served, offered)  # no backlog: served what was offered
