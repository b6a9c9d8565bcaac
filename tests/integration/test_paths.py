"""Issue 15 item 2: relative paths mean where the user typed them, not the run directory.

Flags, ``--set`` and environment variables are relative to the working directory of the
command; paths in a ``--config`` YAML file to the file's directory; ``~`` is the home
directory. result.json's config records the absolute paths. Each run is a short accuracy run on
the null backend (a few seconds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.helpers import cli
from tests.integration.imagenet_fixture import make_imagenet_dir

FAST = ("--backend", "null", "--quick", "--mode", "accuracy", "-q", "--json")
USER_CONF = "resnet50.Server.target_qps = 100\n"  # read and checked; no effect on Offline


def _ok(proc: Any) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["status"] == "ok"
    return doc


def test_relative_flags_are_relative_to_the_working_directory(tmp_path: Path) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    make_imagenet_dir(work / "imgs", 4)
    (work / "user.conf").write_text(USER_CONF)
    home.mkdir()
    (home / "weights.pth").write_bytes(b"")  # the null backend does not read it
    proc = cli(
        "run", "resnet50", *FAST,
        "--dataset-path", "imgs", "--user-conf", "user.conf", "--out", "runs",
        "--cache-dir", "cache", "--model-path=~/weights.pth",
        cwd=work, env={"HOME": str(home)},
    )  # fmt: skip
    doc = _ok(proc)
    cfg = doc["config"]
    assert cfg["dataset_path"] == str(work / "imgs")
    assert cfg["user_conf"] == str(work / "user.conf")
    assert cfg["out"] == str(work / "runs")
    assert cfg["cache_dir"] == str(work / "cache")
    assert cfg["model_path"] == str(home / "weights.pth")
    assert Path(doc["run_dir"]).parent == work / "runs"
    assert doc["dataset"]["path"] == str(work / "imgs")


def test_yaml_paths_are_relative_to_the_yaml_file_and_env_and_set_to_the_cwd(
    tmp_path: Path,
) -> None:
    conf, elsewhere = tmp_path / "conf", tmp_path / "elsewhere"
    make_imagenet_dir(conf / "imgs", 4)
    (conf / "user.conf").write_text(USER_CONF)
    (conf / "c.yaml").write_text("dataset_path: imgs\nuser_conf: ./user.conf\nout: runs\n")
    (elsewhere / "data").mkdir(parents=True)
    proc = cli(
        "run", "resnet50", *FAST, "--config", "../conf/c.yaml", "--set", "cache_dir=cache",
        cwd=elsewhere, env={"INFERLAB_DATA_DIR": "data"},
    )  # fmt: skip
    cfg = _ok(proc)["config"]
    assert cfg["dataset_path"] == str(conf / "imgs")
    assert cfg["user_conf"] == str(conf / "user.conf")
    assert cfg["out"] == str(conf / "runs")
    assert cfg["data_dir"] == str(elsewhere / "data")
    assert cfg["cache_dir"] == str(elsewhere / "cache")


def test_set_dataset_path_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    make_imagenet_dir(tmp_path / "imgs", 4)
    proc = cli("run", "resnet50", *FAST, "--set", "dataset_path=imgs", "--out", "r", cwd=tmp_path)
    cfg = _ok(proc)["config"]
    assert (cfg["dataset_path"], cfg["out"]) == (str(tmp_path / "imgs"), str(tmp_path / "r"))
