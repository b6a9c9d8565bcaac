"""Issue 15 item 8 (parts): ``inferlab run --json`` prints one JSON object on stdout for every
outcome, and names from a fixed list (scenario, mode, dtype) are read in any case in YAML and
``--set`` as on the flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import cli
from tests.integration.imagenet_fixture import make_imagenet_dir

FAST = ("--backend", "null", "--quick", "--mode", "accuracy", "-q")


def _json(proc: Any, code: int) -> dict[str, Any]:
    assert proc.returncode == code, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)  # stdout holds the object and nothing else
    return doc


def test_input_error_before_the_run(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    doc = _json(cli("run", "resnet5", "--json", "--out", str(out)), 2)
    assert doc["status"] == "error" and doc["run_dir"] is None and doc["exit_code"] == 2
    assert doc["error"]["kind"] == "ConfigError"
    assert "unknown benchmark 'resnet5'" in doc["error"]["message"] and doc["error"]["fix"]
    doc = _json(cli("run", "resnet50", "--json", "--dataset-path", str(tmp_path / "no")), 2)
    assert doc["status"] == "error" and "does not exist" in doc["error"]["message"]
    assert not out.exists()


def test_input_error_found_by_the_worker(tmp_path: Path) -> None:
    """A JPEG that does not decode: found by the worker, which loads the samples."""
    pytest.importorskip("torch")
    ds, _ = make_imagenet_dir(tmp_path / "val", 2)
    (ds / "ILSVRC2012_val_00000002.JPEG").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    proc = cli("run", "resnet50", "--backend", "torch", "--no-calibrate", "--quick", "--mode",
               "accuracy", "-q", "--json", "--dataset-path", str(ds),
               "--out", str(tmp_path / "runs"))  # fmt: skip
    doc = _json(proc, 2)
    assert doc["status"] == "failed" and doc["error"]["kind"] == "DataError"
    assert "ILSVRC2012_val_00000002.JPEG" in doc["error"]["message"]
    assert Path(doc["run_dir"], "result.json").is_file()
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


def test_failed_run(tmp_path: Path) -> None:
    proc = cli("run", "resnet50", *FAST, "--json", "--no-calibrate", "--count", "4",
               "--set", "null_service_time_ms=5000", "--set", "watchdog_s=0.5",
               "--out", str(tmp_path / "runs"))  # fmt: skip
    doc = _json(proc, 1)
    assert doc["status"] == "failed" and doc["error"]["kind"] == "watchdog"


def test_scenario_and_mode_in_any_case_in_yaml_and_set(tmp_path: Path) -> None:
    make_imagenet_dir(tmp_path / "imgs", 2)
    yml = tmp_path / "c.yaml"
    yml.write_text("scenario: singlestream\nmode: ACCURACY\ndataset_path: imgs\n")
    proc = cli("run", "resnet50", "--backend", "null", "--quick", "-q", "--json", "--config",
               str(yml), "--set", "dtype=FP32", "--out", str(tmp_path / "runs"))  # fmt: skip
    doc = _json(proc, 0)
    assert (doc["scenario"], doc["mode"], doc["config"]["dtype"]) == (
        "SingleStream", "accuracy", "fp32",
    )  # fmt: skip
    proc = cli("run", "resnet50", "--backend", "null", "--quick", "-q", "--json",
               "--dataset-path", str(tmp_path / "imgs"), "--set", "scenario=multistream",
               "--mode", "Accuracy", "--out", str(tmp_path / "runs"))  # fmt: skip
    doc = _json(proc, 0)
    assert (doc["scenario"], doc["mode"]) == ("MultiStream", "accuracy")
