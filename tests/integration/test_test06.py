"""Issue 17: TEST06 through the CLI with llama3.1-8b on the null backend (2 placeholder tokens,
id 0: one streamed first token, token_count 2, no EOS): the run, the verifier, the tree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from inferlab.submission.compliance import verify_test06
from tests.integration.helpers import cli

BASE = ("--backend", "null", "--no-calibrate", "--json")


def _run(out: Path, *args: str) -> dict:  # type: ignore[type-arg]
    proc = cli("run", "llama3.1-8b", *BASE, "--out", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    doc: dict = json.loads(proc.stdout)  # type: ignore[type-arg]
    return doc


def test_server_test06_run_passes_the_verifier(tmp_path: Path) -> None:
    res = _run(
        tmp_path / "runs", "--audit", "TEST06", "--scenario", "Server",
        "--set", "loadgen.target_qps=200",
    )  # fmt: skip
    assert res["audit"] == {"test": "TEST06", "config": "audit.config", "applied": True}
    run_dir = Path(res["run_dir"])
    assert "*.*.accuracy_log_sampling_target = 100" in (run_dir / "audit.config").read_text()
    v = verify_test06(run_dir / "mlperf_log_accuracy.json", "Server")
    assert v.text == (
        "First token check pass: True\nEOS check pass: True\n"
        "Sample length check pass: True\nTEST06 verification complete\n"
    )


def test_build_places_test06_and_check_requires_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for extra in ((), ("--mode", "accuracy"), ("--audit", "TEST06")):
        _run(runs, "--scenario", "Offline", "--count", "16", *extra)
    tree = tmp_path / "tree"
    proc = cli(
        "submission", "build", str(runs), "--submitter", "Acme", "--out", str(tree),
        "--category", "datacenter", "--json",
    )  # fmt: skip
    doc = json.loads(proc.stdout)
    (t06,) = tree.glob("closed/Acme/results/*/llama3.1-8b/Offline/TEST06")
    assert (t06 / "verify_accuracy.txt").read_text().startswith("First token check pass: Skipped")
    assert (t06 / "accuracy" / "mlperf_log_accuracy.json").is_file()
    codes = {f["code"] for f in doc["check"]["findings"] if f["severity"] == "error"}
    assert not codes & {"missing-compliance", "compliance-failed", "compliance-inconsistent"}

    (t06 / "verify_accuracy.txt").write_text(
        "First token check pass: Skipped\nEOS check pass: False\n"
        "Sample length check pass: True\nTEST06 verification failed\n"
    )
    failed = json.loads(cli("submission", "check", str(tree), "--json").stdout)
    assert "compliance-failed" in {f["code"] for f in failed["check"]["findings"]}
    shutil.rmtree(t06)
    missing = json.loads(cli("submission", "check", str(tree), "--json").stdout)
    (miss,) = [f for f in missing["check"]["findings"] if f["code"] == "missing-compliance"]
    assert "--audit TEST06" in miss["fix"]
