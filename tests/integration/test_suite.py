"""Issue 16: `inferlab suite` through the CLI, quick and on the null backend: the dry-run plan,
a suite stopped half-way (SIGTERM) and resumed without rerunning finished runs, the tree built
and checked, and the summary table with one cell per planned performance run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.helpers import cli

SUITE = [sys.executable, "-m", "inferlab", "suite"]


def test_dry_run_plan_and_times(tmp_path: Path) -> None:
    proc = cli("suite", "resnet50", "bert-99", "--dry-run", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    keys = {r["key"] for r in doc["plan"]["runs"]}
    assert len(keys) == 12 + 6 and "bert-99/Offline/TEST01" in keys
    assert [r["key"] for r in doc["rows"]] == [r["key"] for r in doc["plan"]["runs"]]
    perf = next(r for r in doc["rows"] if r["key"] == "resnet50/Offline/performance")
    assert perf["expected"] == ">=10 min"  # 600 s minimum, no rate known
    assert doc["total"]["text"].startswith(">=")
    assert not any(tmp_path.iterdir())  # a dry run writes nothing

    system = tmp_path / "box.yaml"
    system.write_text(
        "benchmarks:\n  resnet50:\n    scenarios:\n"
        "      Offline: {loadgen: {target_qps: 10}}\n"
        "      SingleStream: {loadgen: {target_latency: 2}}\n"
    )
    proc = cli("suite", "resnet50", "--dry-run", "--config", str(system), "--json")
    rows = {r["key"]: r for r in json.loads(proc.stdout)["rows"]}
    # 24,576 Offline samples at 10/s outlast the 600 s minimum; 50,000 accuracy samples too
    assert rows["resnet50/Offline/performance"]["expected"] == "~41 min"
    assert rows["resnet50/Offline/accuracy"]["expected"] == "~83 min"
    assert rows["resnet50/SingleStream/accuracy"]["expected"] == "~100 s"
    # without names, the benchmarks whose data is ready: none without a data root
    proc = cli("suite", "--dry-run")
    assert proc.returncode == 2 and "no data root" in proc.stderr and "--quick" in proc.stderr
    empty = tmp_path / "root"
    empty.mkdir()
    proc = cli("suite", "--dry-run", "--data-dir", str(empty))
    assert proc.returncode == 2 and "has its data ready" in proc.stderr
    assert "inferlab prepare resnet50 --data-dir" in proc.stderr
    # the text form: a table and the total
    text = cli("suite", "resnet50", "--dry-run", "--quick").stdout
    assert "resnet50/MultiStream/TEST04" in text and "total: 12 run(s)" in text


def _wait_for_finished_runs(state_file: Path, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the suite ended early: {proc.communicate()}")
        try:
            runs = json.loads(state_file.read_text())["runs"]
        except (OSError, ValueError):
            runs = {}
        if sum(r["status"] == "ok" for r in runs.values()) >= n:
            return
        time.sleep(0.2)
    raise AssertionError("no progress")


def test_stopped_suite_resumes_then_builds_and_checks_the_tree(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLAB_")}
    env["INFERLAB_CACHE_DIR"] = str(tmp_path / "cache")
    # the open division: performance and accuracy runs only (the closed one adds TEST01/TEST04,
    # planned and tested in tests/unit/test_suite_plan.py), 6 runs to keep the test short
    args = ["resnet50", "--quick", "--backend", "null", "--division", "open"]
    args += ["--out", str(out), "--submitter", "Acme"]
    proc = subprocess.Popen(
        [*SUITE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    _wait_for_finished_runs(out / "suite.json", 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "resume it with inferlab suite --resume --out" in err
    state = json.loads((out / "suite.json").read_text())
    assert state["status"] == "interrupted"
    done_before = {k: r["run_dir"] for k, r in state["runs"].items() if r["status"] == "ok"}
    assert len(done_before) >= 2
    assert any(r["status"] == "interrupted" for r in state["runs"].values()) or len(
        done_before
    ) + sum(r["status"] == "pending" for r in state["runs"].values()) == len(state["runs"])

    # a second start into the same directory is refused, not mixed in
    again = cli("suite", *args, env={"INFERLAB_CACHE_DIR": str(tmp_path / "cache")})
    assert again.returncode == 2 and "holds a suite already" in again.stderr

    resumed = cli(
        "suite", "--resume", "--out", str(out), env={"INFERLAB_CACHE_DIR": str(tmp_path / "cache")}
    )
    assert resumed.returncode == 0, resumed.stderr
    state = json.loads((out / "suite.json").read_text())
    assert state["status"] == "done"
    assert all(r["status"] == "ok" for r in state["runs"].values())
    for key, run_dir in done_before.items():  # finished runs were not run again
        assert state["runs"][key]["run_dir"] == run_dir and state["runs"][key]["attempts"] == 1
    finished_dirs = {r["run_dir"] for r in state["runs"].values()}
    assert len(finished_dirs) == 6
    assert all(Path(d).parent == out / "runs" for d in finished_dirs)

    # the tree was built from those runs and checked (quick: not submittable, said so)
    tree = state["finished"]["tree"]
    assert tree["build"]["ok"] and Path(tree["build"]["tree"]) == out / "submission"
    assert (out / "submission" / "open" / "Acme").is_dir()
    assert "not-submittable" in tree["check"]["codes"]
    assert "tree: " in resumed.stdout and "check FAILED" in resumed.stdout

    # the summary: one cell per planned performance run, the figure and its validity
    md = (out / "summary.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| resnet50"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert len(cells) == 3 and all(" VALID; accuracy N/A synthetic" in c for c in cells)
    assert "[SYNTHETIC DATA]" in row and "QUICK: not submittable" in md
    html = (out / "summary.html").read_text()
    assert html.count("VALID") >= 3 and "<table>" in html
    assert "SingleStream" in resumed.stdout and "samples/s VALID" in resumed.stdout
