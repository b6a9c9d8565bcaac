"""Submission trees built from real quick runs (null backend, real LoadGen), checked with the
exact set of findings expected, then one injected defect at a time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from inferlab.core.errors import ConfigError
from inferlab.results.load import load_runs
from inferlab.results.system import REQUIRED_FIELDS
from inferlab.submission.build import BuildOptions, SubmissionError, build
from inferlab.submission.check import check_tree

from .helpers import cli, run_cfg

# Deterministic quick runs: the null backend takes 4 ms per batch of 256, and Offline asks for
# 2,200 samples (target_qps 1,000 x 2.2 s), so every performance run finishes long before its
# 2 s minimum: INVALID, short, too few samples, whatever the machine's speed.
SETS = ["null_service_time_ms=4", "loadgen.target_qps=1000"]
RES = "closed/Acme/results/box"
OFF = f"{RES}/resnet/Offline"


def system_desc(tmp: Path) -> Path:
    desc = {key: f"test {key}" for key in REQUIRED_FIELDS}
    desc.update(division="closed", submitter="Acme", status="available", system_name="box")
    desc.update(system_type="edge", number_of_nodes="1")
    path = tmp / "box.json"
    path.write_text(json.dumps(desc))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("subruns")
    common: dict[str, Any] = {"backend": "null", "quick": True, "benchmark": "resnet50"}
    run_cfg(tmp, SETS, **common)
    run_cfg(tmp, [], mode="accuracy", **common)
    run_cfg(tmp, SETS, audit="TEST01", **common)
    run_cfg(tmp, SETS, audit="TEST04", **common)
    return tmp / "runs"


def _build(runs: Path, tmp: Path, **kw: Any) -> Path:
    loaded, errors = load_runs([runs])
    assert errors == []
    opts = BuildOptions(
        submitter="Acme",
        division="closed",
        category="edge",
        out=tmp / "tree",
        system_desc=system_desc(tmp),
        **kw,
    )
    rep = build(loaded, opts)
    assert rep.round == "v6.1"
    return rep.tree


BASELINE = {
    ("not-submittable", f"{OFF}/README.md"),  # x4: performance, accuracy, TEST01, TEST04
    ("result-invalid", f"{OFF}/performance/run_1/mlperf_log_detail.txt"),
    ("min-duration", f"{OFF}/performance/run_1/mlperf_log_detail.txt"),
    ("min-queries", f"{OFF}/performance/run_1/mlperf_log_detail.txt"),
    ("accuracy-coverage", f"{OFF}/accuracy/mlperf_log_detail.txt"),
    ("accuracy-below-target", f"{OFF}/accuracy/accuracy.txt"),
    ("result-invalid", f"{OFF}/TEST01/performance/run_1/mlperf_log_detail.txt"),
    ("min-duration", f"{OFF}/TEST01/performance/run_1/mlperf_log_detail.txt"),
    ("compliance-failed", f"{OFF}/TEST01/verify_performance.txt"),
    ("result-invalid", f"{OFF}/TEST04/performance/run_1/mlperf_log_detail.txt"),
    ("min-duration", f"{OFF}/TEST04/performance/run_1/mlperf_log_detail.txt"),
    ("compliance-failed", f"{OFF}/TEST04/verify_performance.txt"),
    ("missing-scenario", f"{RES}/resnet/SingleStream"),
    ("missing-scenario", f"{RES}/resnet/MultiStream"),
}


def test_tree_layout_and_exact_findings(runs: Path, tmp_path: Path) -> None:
    tree = _build(runs, tmp_path)
    org = tree / "closed" / "Acme"
    for rel in (
        "systems/box.json",
        "src/resnet/README.md",
        "documentation/calibration.md",
        "results/box/resnet/Offline/measurements.json",
        "results/box/resnet/Offline/user.conf",
        "results/box/resnet/Offline/README.md",
        "results/box/resnet/Offline/performance/run_1/mlperf_log_detail.txt",
        "results/box/resnet/Offline/performance/run_1/mlperf_log_summary.txt",
        "results/box/resnet/Offline/accuracy/mlperf_log_accuracy.json",
        "results/box/resnet/Offline/TEST01/verify_accuracy.txt",
        "results/box/resnet/Offline/TEST01/verify_performance.txt",
        "results/box/resnet/Offline/TEST01/accuracy/mlperf_log_accuracy.json",
        "results/box/resnet/Offline/TEST01/performance/run_1/mlperf_log_detail.txt",
        "results/box/resnet/Offline/TEST04/verify_performance.txt",
        "results/box/resnet/Offline/TEST04/performance/run_1/mlperf_log_summary.txt",
    ):
        assert (org / rel).is_file(), rel
    assert not (org / "measurements").exists() and not (org / "compliance").exists()
    acc_txt = (org / "results/box/resnet/Offline/accuracy/accuracy.txt").read_text()
    assert acc_txt.startswith("accuracy=") and "\nhash=" in acc_txt
    # TEST01's sampled responses equal the accuracy run's: the deterministic check passes
    assert (
        "TEST PASS" in (org / "results/box/resnet/Offline/TEST01/verify_accuracy.txt").read_text()
    )

    report = check_tree(tree)
    assert report.round == "v6.1"
    assert set(report.codes()) == BASELINE
    assert report.codes().count(("not-submittable", f"{OFF}/README.md")) == 4
    assert len(report.errors) == len(BASELINE) + 3


@pytest.fixture
def tree(runs: Path, tmp_path: Path) -> Path:
    return _build(runs, tmp_path)


def _codes(tree: Path) -> list[tuple[str, str]]:
    return check_tree(tree).codes()


def _added(tree: Path, before: list[tuple[str, str]]) -> list[tuple[str, str]]:
    after = _codes(tree)
    extra = list(after)
    for item in before:
        if item in extra:
            extra.remove(item)
    return extra


def test_injected_missing_file(tree: Path) -> None:
    before = _codes(tree)
    (tree / OFF / "performance/run_1/mlperf_log_summary.txt").unlink()
    assert _added(tree, before) == [
        ("missing-file", f"{OFF}/performance/run_1/mlperf_log_summary.txt")
    ]


def test_injected_wrong_seed(tree: Path) -> None:
    before = _codes(tree)
    detail = tree / OFF / "performance/run_1/mlperf_log_detail.txt"
    seed = "2085463073848966840"  # v6.1's qsl seed
    text = detail.read_text()
    assert seed in text
    detail.write_text(text.replace(seed, "2465351861681999779"))  # v6.0's
    assert _added(tree, before) == [
        ("seed-mismatch", f"{OFF}/performance/run_1/mlperf_log_detail.txt")
    ]
    msg = next(f.message for f in check_tree(tree).errors if f.code == "seed-mismatch")
    assert "v6.1" in msg


def test_injected_accuracy_below_target(tree: Path) -> None:
    txt = tree / OFF / "accuracy/accuracy.txt"
    hash_line = txt.read_text().splitlines()[-1]
    txt.write_text(f"accuracy=76.000%, good=38000, total=50000\n\n{hash_line}\n")
    before = _codes(tree)  # now passing (76.0 >= 75.6954)
    assert ("accuracy-below-target", f"{OFF}/accuracy/accuracy.txt") not in before
    txt.write_text(f"accuracy=75.600%, good=37800, total=50000\n\n{hash_line}\n")
    assert _added(tree, before) == [("accuracy-below-target", f"{OFF}/accuracy/accuracy.txt")]


def test_injected_missing_compliance_dir(tree: Path) -> None:
    before = _codes(tree)
    shutil.rmtree(tree / OFF / "TEST04")
    expected = [c for c in before if "/TEST04/" not in c[1]]
    expected.append(("missing-compliance", f"{OFF}/TEST04"))
    assert _codes(tree) == sorted(expected)


def test_injected_empty_system_field(tree: Path) -> None:
    before = _codes(tree)
    path = tree / "closed/Acme/systems/box.json"
    desc = json.loads(path.read_text())
    desc["cooling"] = ""
    path.write_text(json.dumps(desc))
    assert _added(tree, before) == [("system-field-empty", "closed/Acme/systems/box.json")]


def test_injected_untruncated_accuracy_log(tree: Path, runs: Path) -> None:
    before = _codes(tree)
    full = next(runs.glob("*_accuracy_*")) / "mlperf_log_accuracy.json"
    assert full.stat().st_size > 10 * 1024
    shutil.copyfile(full, tree / OFF / "accuracy/mlperf_log_accuracy.json")
    assert _added(tree, before) == [
        ("untruncated-accuracy-log", f"{OFF}/accuracy/mlperf_log_accuracy.json")
    ]


def test_build_refuses_scenario_the_round_lacks(runs: Path, tmp_path: Path) -> None:
    loaded, _ = load_runs([runs])
    opts = BuildOptions(
        submitter="Acme",
        division="closed",
        category="datacenter",  # v6.1 has resnet for edge only
        out=tmp_path / "tree",
        system_desc=system_desc(tmp_path),
    )
    with pytest.raises(SubmissionError, match="no Offline for resnet in the datacenter"):
        build(loaded, opts)
    assert not (tmp_path / "tree").exists()


def test_build_never_overwrites(runs: Path, tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "keep").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        _build(runs, tmp_path)
    assert (tmp_path / "tree" / "keep").read_text() == "mine"


def test_cli_build_and_check_exit_codes(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-tree"
    proc = cli(
        "submission", "build", str(runs), "--submitter", "Acme", "--out", str(out),
        "--system-desc", str(system_desc(tmp_path)), "--json",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # built, with errors
    doc = json.loads(proc.stdout)
    assert doc["build"]["round"] == "v6.1"
    assert doc["check"]["ok"] is False
    found = {(f["code"], f["path"]) for f in doc["check"]["findings"] if f["severity"] == "error"}
    assert found == BASELINE
    proc = cli("submission", "check", str(out))
    assert proc.returncode == 1
    assert "fix:" in proc.stdout and "min-duration" in proc.stdout
    proc = cli("run", "resnet50", "--backend", "null", "--mode", "accuracy", "--audit", "TEST01")
    assert proc.returncode == 2 and "performance mode" in proc.stderr


def test_official_checker_agrees_where_installed(tree: Path) -> None:
    """Optional: the official checker (INFERLAB_OFFICIAL_INFERENCE) on the same quick tree
    finds the short duration and the partial accuracy run inferlab's checker finds."""
    import os

    from inferlab.submission.official import find_official_checker, run_official_checker

    if not os.environ.get("INFERLAB_OFFICIAL_INFERENCE"):
        pytest.skip("INFERLAB_OFFICIAL_INFERENCE is not set (a mlcommons/inference checkout)")
    checker = find_official_checker(None, version="v6.1")
    if checker is None:
        pytest.skip("no official checker in the INFERLAB_OFFICIAL_INFERENCE checkout")
    verdict = run_official_checker(
        checker, tree, submitter="Acme", version="v6.1", skip_power_check=True
    )
    assert verdict.status == "fail", verdict.tail
    text = "\n".join(verdict.errors)
    assert "Test duration less than 600s" in text
    assert "does not cover all dataset" in text
    missing = next(e for e in verdict.errors if "does not have all required scenarios" in e)
    assert "multistream" in missing and "singlestream" in missing


def _nondeterministic_runs(runs: Path, tmp: Path, keep_accuracy: bool) -> Path:
    """A copy of the runs whose TEST01 log answers differently from the accuracy run: every
    wrong answer (class 0) becomes another wrong class; with ``keep_accuracy`` False the right
    answers turn wrong too."""
    import numpy as np

    from inferlab.loadgen.accuracy_log import AccuracyEntry, iter_entries, write_accuracy_log

    out = tmp / "nd-runs"
    shutil.copytree(runs, out)
    acc = next(out.glob("*_accuracy_*"))
    labels = {
        i: int(line.split()[1])
        for i, line in enumerate((acc / "val_map.txt").read_text().splitlines())
    }
    log = next(out.glob("*_TEST01_*")) / "mlperf_log_accuracy.json"
    changed = []
    for e in iter_entries(log):
        label = labels[e.qsl_idx]
        if label != 0 or not keep_accuracy:
            wrong = 1 if label != 1 else 2
            e = AccuracyEntry.from_array(e.seq_id, e.qsl_idx, np.float32(wrong))
        changed.append(e)
    write_accuracy_log(log, changed)
    return out


def test_test01_fallback_for_a_nondeterministic_sut(runs: Path, tmp_path: Path) -> None:
    nd = _nondeterministic_runs(runs, tmp_path, keep_accuracy=True)
    tree = _build(nd, tmp_path)
    t01 = tree / OFF / "TEST01"
    assert "TEST FAIL" in (t01 / "verify_accuracy.txt").read_text()
    names = sorted(p.name for p in (t01 / "accuracy").iterdir())
    assert names == [
        "accuracy.txt",
        "baseline_accuracy.txt",
        "compliance_accuracy.txt",
        "mlperf_log_accuracy.json",
    ]
    base = (t01 / "accuracy/baseline_accuracy.txt").read_text()
    assert base == (t01 / "accuracy/compliance_accuracy.txt").read_text()  # same score
    assert set(check_tree(tree).codes()) == BASELINE  # the fallback passes: nothing new


def test_test01_fallback_catches_changed_answers(runs: Path, tmp_path: Path) -> None:
    nd = _nondeterministic_runs(runs, tmp_path, keep_accuracy=False)
    tree = _build(nd, tmp_path)
    comp = tree / OFF / "TEST01/accuracy/compliance_accuracy.txt"
    assert comp.read_text().startswith("accuracy=0.000%")
    extra = set(check_tree(tree).codes()) - BASELINE
    assert extra == {("compliance-failed", f"{OFF}/TEST01/accuracy/compliance_accuracy.txt")}
