"""Issue 15 item 10: a checkpoint is compared with the official file's checksum, not trusted
by its name. Random weights saved as resnet50-19c8e357.pth are labelled in every output: the
summary, result.json's flags and accuracy section, and the not-submittable reasons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.imagenet_fixture import make_imagenet_dir


@pytest.fixture(scope="module")
def impostor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from inferlab.benchmarks.resnet50.model import build_resnet50

    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("ckpt") / "resnet50-19c8e357.pth"
    torch.save(build_resnet50().state_dict(), path)
    return path


def test_a_checkpoint_named_like_the_official_one_is_not_taken_for_it(
    tmp_path: Path, impostor: Path
) -> None:
    ds, _ = make_imagenet_dir(tmp_path / "imagenet2012-val", 6)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLAB_")}
    cmd = [sys.executable, "-m", "inferlab", "run", "resnet50", "--mode", "accuracy"]
    cmd += ["--dataset-path", str(ds), "--model-path", str(impostor), "--batch-size", "3"]
    cmd += ["--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    res = json.loads((run_dir / "result.json").read_text())
    check = res["model"]["checkpoint_check"]
    assert check["official"] is False and check["matched"] is None
    assert len(check["md5"]) == 32 and check["sha256"] == res["model"]["sha256"]
    assert res["flags"]["official_checkpoint"] is False
    assert not res["flags"]["submittable"]
    assert any("not the official checkpoint" in r for r in res["flags"]["not_submittable_because"])
    acc = res["accuracy"]
    assert acc["expected_for_checkpoint"] is None  # 76.014 is the official file's, not this one's
    assert "not the official checkpoint" in acc["note"]
    # the summary says so too, and never quotes the official file's expected accuracy
    text = proc.stdout + proc.stderr
    assert "[NOT THE OFFICIAL CHECKPOINT]" in text, text
    assert "not the official checkpoint: md5" in text
    assert "expected for this checkpoint" not in text
    # the digest is remembered: a second look does not hash the file again
    digests = json.loads((tmp_path / "cache" / "checkpoint-digests.json").read_text())
    assert [v["md5"] for v in digests.values()] == [check["md5"]]
