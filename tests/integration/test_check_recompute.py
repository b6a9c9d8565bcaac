"""`inferlab submission check` recomputes what it can (issue 15 item 12), through the real CLI
on a tree built from quick null-backend runs:

- each accuracy.txt is scored again from its run's full accuracy log (found with --runs, and
  by `build` itself): a hand-edited accuracy.txt is an error; without the run, a note says it
  could not be recomputed;
- files and folders the submission layout does not allow are flagged;
- TEST04's verify_performance.txt prints the scores as the official script does, from the
  summary logs (`1.18944e+06`, not `1189440.0`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from inferlab.results.system import REQUIRED_FIELDS
from tests.integration.helpers import cli, run_cfg

COMMON: dict[str, Any] = {"backend": "null", "quick": True, "benchmark": "resnet50"}
OFF = "closed/Acme/results/box/resnet/Offline"
ACC_TXT = f"{OFF}/accuracy/accuracy.txt"
# short VALID runs (TEST04 verifies valid runs only), whatever the machine's speed
SETS = ["loadgen.min_duration=0", "loadgen.min_query_count=100", "loadgen.target_qps=1000"]
FAST = "1.18944e+06"  # a fast SUT's Offline figure, as LoadGen writes it in both logs


def _desc(tmp: Path) -> Path:
    desc = {key: f"test {key}" for key in REQUIRED_FIELDS}
    desc.update(division="closed", submitter="Acme", status="available", system_name="box")
    desc.update(system_type="edge", number_of_nodes="1")
    path = tmp / "box.json"
    path.write_text(json.dumps(desc))
    return path


def _fast(run_dir: Path) -> None:
    """Make the run's logs those of a SUT doing 1.18944e+06 samples/s (both logs, the way
    LoadGen prints the figure in each)."""
    summary = run_dir / "mlperf_log_summary.txt"
    summary.write_text(
        re.sub(
            r"^Samples per second: .*$",
            f"Samples per second: {FAST}",
            summary.read_text(),
            count=1,
            flags=re.M,
        )
    )
    detail = run_dir / "mlperf_log_detail.txt"
    detail.write_text(
        re.sub(
            r'("key": "result_samples_per_second", "value": )[^,]+',
            rf"\g<1>{FAST}",
            detail.read_text(),
        )
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("recompute")
    run_cfg(tmp, SETS, **COMMON)
    run_cfg(tmp, [], mode="accuracy", count=64, **COMMON)
    test04 = run_cfg(tmp, SETS, audit="TEST04", **COMMON)
    _fast(Path(test04["run_dir"]))
    runs, tree = tmp / "runs", tmp / "tree"
    proc = cli(
        "submission", "build", str(runs), "--submitter", "Acme", "--out", str(tree),
        "--system-desc", str(_desc(tmp)), "--json",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # quick runs: built, with errors
    return {"runs": runs, "tree": tree, "build": json.loads(proc.stdout)}


def _check(tree: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    proc = cli("submission", "check", str(tree), *args, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["check"]["findings"]


def _about(findings: list[dict[str, Any]], path: str) -> list[tuple[str, str]]:
    return [(f["severity"], f["code"]) for f in findings if f["path"] == path]


def test_a_hand_edited_accuracy_txt_is_found(built: dict[str, Any], tmp_path: Path) -> None:
    # build checks the tree with the runs it came from: accuracy.txt recomputed, and agrees
    findings = built["build"]["check"]["findings"]
    assert ("note", "accuracy-recomputed") in _about(findings, ACC_TXT)
    assert ("error", "accuracy-mismatch") not in _about(findings, ACC_TXT)

    tree = tmp_path / "tree"
    shutil.copytree(built["tree"], tree)
    txt = tree / ACC_TXT
    text = txt.read_text()
    assert text.startswith("accuracy=") and "\nhash=" in text
    txt.write_text(re.sub(r"^accuracy=[\d.]+%", "accuracy=76.100%", text, count=1))
    code, findings = _check(tree, "--runs", str(built["runs"]))
    assert code == 1
    about = _about(findings, ACC_TXT)
    assert ("error", "accuracy-mismatch") in about
    assert ("error", "accuracy-below-target") not in about  # the edit did "reach" the target
    msg = next(f["message"] for f in findings if f["code"] == "accuracy-mismatch")
    assert "acc = 76.1 but its log scores" in msg and "synthetic data" in msg

    # without the runs it cannot tell: a note says so (not silence), and no verdict on it
    code, findings = _check(tree)
    about = _about(findings, ACC_TXT)
    assert ("note", "accuracy-not-recomputed") in about
    assert ("error", "accuracy-mismatch") not in about
    note = next(f for f in findings if f["code"] == "accuracy-not-recomputed")
    assert "--runs" in note["fix"]


def test_stray_files_are_flagged(built: dict[str, Any], tmp_path: Path) -> None:
    clean = [f for f in built["build"]["check"]["findings"] if f["code"] == "stray-file"]
    assert clean == []
    tree = tmp_path / "tree"
    shutil.copytree(built["tree"], tree)
    org = tree / "closed/Acme"
    strays = [
        "closed/Acme/.DS_Store",
        "closed/Acme/notes.txt",
        f"{OFF}/accuracy/accuracy.txt.orig",
        f"{OFF}/performance/run_1/mlperf_log_trace.json",
        f"{OFF}/TEST04/verify_performance.txt~",
        "closed/Acme/systems/box.json.bak",
        "closed/Acme/results/box/README.md",
    ]
    for rel in strays:
        (tree / rel).write_text("x")
    (tree / OFF / "old_runs").mkdir()
    (tree / OFF / "old_runs" / "mlperf_log_detail.txt").write_text("x")
    (org / "documentation" / "anything.txt").write_text("free-form: allowed")
    code, findings = _check(tree)
    assert code == 1
    found = sorted(f["path"] for f in findings if f["code"] == "stray-file")
    assert found == sorted([*strays, f"{OFF}/old_runs"])  # a stray folder is named once
    msg = next(f["message"] for f in findings if f["path"].endswith("mlperf_log_trace.json"))
    assert "v6.1 layout does not allow" in msg and "mlperf_log_summary.txt" in msg


def test_test04_verify_text_prints_scores_as_the_official_script(built: dict[str, Any]) -> None:
    tree = built["tree"]
    summary = (tree / OFF / "performance/run_1/mlperf_log_summary.txt").read_text()
    ref = re.search(r"^Samples per second: (\S+)$", summary, re.M)
    assert ref is not None
    lines = (tree / OFF / "TEST04/verify_performance.txt").read_text().splitlines()
    # the official TEST04 script prints the summaries' strings as they are
    assert lines[1] == f"reference score = {ref.group(1)}"
    assert lines[2] == f"test score = {FAST}"  # not 1189440.0
    assert lines[-1] == "TEST FAIL: Test score invalid"  # far faster than the reference run
