"""The BERT benchmark script still runs end to end (tiny model, few samples). Not a timing test:
it checks the script's plumbing (padded / sorted / token-budget paths, the LoadGen child, the
logit checks) and that the fast paths reproduce the padded path's logits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bert_fastpath.py"


def test_script_runs_and_fast_paths_match_padded(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable, str(SCRIPT), "--device", "cpu", "--model", "tiny", "--n", "48",
        "--batch", "16", "--max-batch", "32", "--max-tokens", "2048", "--dtypes", "fp32,bf16",
        "--repeats", "1", "--loadgen-passes", "1", "--check-n", "16", "--json", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    paths = {(r["dtype"], r["path"]) for r in data["rows"]}
    assert paths == {(d, p) for d in ("fp32", "bf16") for p in ("padded", "sorted", "budget 2048")}
    for r in data["rows"]:
        assert r["samples"] == 48 and r["samples_per_s"] > 0
        if r["path"] != "padded":
            assert r["padded_tokens"] < 48 * 384  # the fast paths pad less
    for name, chk in data["checks"].items():
        if "vs padded" in name and name.startswith("fp32"):
            assert chk["cosine_min"] > 0.999999 and chk["span_agreement"] == 1.0, name
    assert {c["dtype"] for c in data["loadgen"]} == {"fp32", "bf16"}
    for c in data["loadgen"]:
        assert c["loadgen"]["validity"] == "VALID" and c["loadgen"]["samples"] == 48
        assert c["harness_efficiency"] > 0
    assert "LoadGen Offline fp32" in proc.stdout and "x padded" in proc.stdout
