"""run --repeat N: N run directories of one configuration and their spread; compare reads them
as repeats."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.helpers import cli


def test_repeat_writes_one_run_dir_per_repeat_and_compare_uses_them(tmp_path: Path) -> None:
    common = [
        "--backend",
        "null",
        "--no-calibrate",
        "--set",
        "loadgen.min_duration=0",
        "--set",
        "loadgen.min_query_count=2048",
        "--set",
        "loadgen.target_qps=1000",
        "--quiet",
    ]
    a = cli("run", "resnet50", *common, "--repeat", "2", "--out", str(tmp_path / "a"))
    assert a.returncode == 0, a.stderr
    assert "repeats: 2 runs of the same configuration" in a.stdout
    runs = sorted((tmp_path / "a").glob("*/result.json"))
    assert len(runs) == 2 and runs[0].parent != runs[1].parent
    b = cli("run", "resnet50", *common, "--repeat", "2", "--out", str(tmp_path / "b"))
    assert b.returncode == 0, b.stderr
    cmp = cli("compare", "--a", str(tmp_path / "a"), "--b", str(tmp_path / "b"), "--format", "json")
    assert cmp.returncode == 0, cmp.stderr
    doc = json.loads(cmp.stdout)
    assert "noise unknown" not in json.dumps(doc)  # two runs per side: the bootstrap ran
    bad = cli("run", "resnet50", *common, "--repeat", "2", "--find-peak", "--scenario", "Server")
    assert bad.returncode == 2 and "--repeat" in bad.stderr
