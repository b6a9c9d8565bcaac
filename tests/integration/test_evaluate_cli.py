"""`inferlab evaluate RUN_DIR` through the real CLI (issue 15 item 11): a stored accuracy run is
scored again from its mlperf_log_accuracy.json without rerunning, into a new file beside
accuracy.txt (never over it), with the verdict labelled as the run was; bad input is one
`error:` line with the fix and exit code 2.

Runs: the null backend (every prediction is class 0, every BERT logit 0) on a tiny real-layout
ImageNet folder whose labels are chosen here, on synthetic data, and on a small SQuAD folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import cli, run_cfg
from tests.integration.imagenet_fixture import make_imagenet_dir

COMMON: dict[str, Any] = {"backend": "null", "calibrate": False, "quick": True}
LABELS = [0, 0, 0, 7, 7, 7, 7, 7]  # the null backend predicts class 0: 3 of 8 right


def _write_val_map(path: Path, names: list[str], labels: list[int]) -> Path:
    path.write_text("".join(f"{n} {label}\n" for n, label in zip(names, labels, strict=True)))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("evaluate")
    ds, _ = make_imagenet_dir(tmp / "imagenet2012-val", len(LABELS))
    names = [line.split()[0] for line in (ds / "val_map.txt").read_text().splitlines()]
    _write_val_map(ds / "val_map.txt", names, LABELS)
    out = {"dataset": ds}
    real = run_cfg(tmp, [], benchmark="resnet50", mode="accuracy", dataset_path=ds, **COMMON)
    out["real"] = Path(real["run_dir"])
    synth = run_cfg(tmp, [], benchmark="resnet50", mode="accuracy", count=32, **COMMON)
    out["synthetic"] = Path(synth["run_dir"])
    perf = run_cfg(tmp, [], benchmark="resnet50", count=32, **COMMON)
    out["performance"] = Path(perf["run_dir"])
    bert = run_cfg(tmp, [], benchmark="bert-99", mode="accuracy", count=16, **COMMON)
    out["bert"] = Path(bert["run_dir"])
    squad = _squad_dir(tmp / "squad")
    on_disk = run_cfg(tmp, [], benchmark="bert-99", mode="accuracy", dataset_path=squad, **COMMON)
    out["bert_disk"], out["squad"] = Path(on_disk["run_dir"]), squad
    return out


def _squad_dir(root: Path) -> Path:
    """Two questions in the dev-set format, with a vocabulary that covers them."""
    context = "The old bridge was built by the king in 1850."
    qas = [
        {"id": "q1", "question": "Who built the bridge?",
         "answers": [{"text": "the king", "answer_start": context.index("the king")}]},
        {"id": "q2", "question": "When was the bridge built?",
         "answers": [{"text": "1850", "answer_start": context.index("1850")}]},
    ]  # fmt: skip
    doc = {
        "version": "1.1",
        "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}],
    }
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?", "the", "old", "bridge", "was",
             "built", "by", "king", "in", "1850", "who", "when"]  # fmt: skip
    root.mkdir(parents=True)
    (root / "dev-v1.1.json").write_text(json.dumps(doc))
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return root


def _evaluate(*args: str) -> dict[str, Any]:
    proc = cli("evaluate", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def test_rescores_into_a_new_file_and_never_over_accuracy_txt(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = tmp_path / "real"
    shutil.copytree(runs["real"], run)
    before = (run / "accuracy.txt").read_bytes()
    assert before.decode().strip() == "accuracy=37.500%, good=3, total=8"
    proc = cli("evaluate", str(run))
    assert proc.returncode == 0, proc.stderr
    assert "output   : accuracy=37.500%, good=3, total=8" in proc.stdout
    # null backend = random weights: measured, never judged against the reference
    assert "[RANDOM WEIGHTS]" in proc.stdout and "[SYNTHETIC DATA]" not in proc.stdout
    assert "verdict  : measured, random weights: no target applies" in proc.stdout
    assert "PASS" not in proc.stdout and "FAIL" not in proc.stdout
    (first,) = run.glob("accuracy.rescored-*.txt")
    assert first.read_text() == "accuracy=37.500%, good=3, total=8\n"
    assert f"wrote    : {first}" in proc.stdout
    # a second rescoring (same second or not) writes another file; accuracy.txt is untouched
    doc = _evaluate(str(run))
    files = sorted(run.glob("accuracy.rescored-*.txt"))
    assert len(files) == 2 and Path(doc["file"]) in files
    assert (run / "accuracy.txt").read_bytes() == before
    assert doc["status"] == "measured-random-weights" and doc["labels"] == ["RANDOM WEIGHTS"]
    assert doc["metrics"][0]["value"] == 37.5 and doc["metrics"][0]["passed"] is None
    assert not list(run.glob(".accuracy*"))  # no staging file left behind


def test_val_map_scores_without_the_images(runs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "real"
    shutil.copytree(runs["real"], run)
    ds = tmp_path / "moved-dataset"
    shutil.copytree(runs["dataset"], ds)
    names = [line.split()[0] for line in (ds / "val_map.txt").read_text().splitlines()]
    all_zero = _write_val_map(tmp_path / "all_zero.txt", names, [0] * len(names))
    doc = _evaluate(str(run), "--val-map", str(all_zero))
    assert doc["accuracy_txt"] == "accuracy=100.000%, good=8, total=8\n"
    assert doc["metrics"][0]["stored"] == 37.5  # what the run recorded, shown beside
    # --dataset-path: the images and val map of a copy of the dataset
    doc = _evaluate(str(run), "--dataset-path", str(ds))
    assert doc["accuracy_txt"] == "accuracy=37.500%, good=3, total=8\n"

    # the reference claim appears only for real data and real weights: a run recorded so
    result = json.loads((run / "result.json").read_text())
    result["model"]["random_weights"] = False
    result["flags"]["random_weights"] = False
    (run / "result.json").write_text(json.dumps(result))
    doc = _evaluate(str(run), "--val-map", str(all_zero))
    assert doc["status"] == "pass" and doc["verdict"] == "PASS" and doc["labels"] == []
    assert doc["metrics"][0]["threshold"] == pytest.approx(75.6954)
    doc = _evaluate(str(run), "--dataset-path", str(ds))
    assert doc["status"] == "fail" and doc["metrics"][0]["passed"] is False
    proc = cli("evaluate", str(run), "--dataset-path", str(ds))
    assert "verdict  : FAIL" in proc.stdout and "target >= 75.6954 (FAIL)" in proc.stdout


def test_synthetic_runs_stay_labelled_synthetic(runs: dict[str, Path]) -> None:
    for key in ("synthetic", "bert"):
        run = runs[key]
        proc = cli("evaluate", str(run))
        assert proc.returncode == 0, proc.stderr
        assert "[SYNTHETIC DATA]" in proc.stdout and "[RANDOM WEIGHTS]" in proc.stdout
        assert "verdict  : N/A (synthetic data)" in proc.stdout
        doc = _evaluate(str(run))
        assert doc["status"] == "n/a-synthetic"
        assert all(m["threshold"] is None and m["passed"] is None for m in doc["metrics"])
        # the same text as the run's own accuracy.txt (scored on the regenerated data)
        assert doc["accuracy_txt"] == (run / "accuracy.txt").read_text()
    # a synthetic run's own val map scores it the same way
    run = runs["synthetic"]
    doc = _evaluate(str(run), "--val-map", str(run / "val_map.txt"))
    assert doc["accuracy_txt"] == (run / "accuracy.txt").read_text()
    assert doc["status"] == "n/a-synthetic" and "SYNTHETIC DATA" in doc["labels"]


def _bad(*args: str) -> str:
    proc = cli("evaluate", *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "(fix: " in lines[0], lines
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    return lines[0]


def test_bad_run_dir_is_one_error_line_and_exit_2(runs: dict[str, Path], tmp_path: Path) -> None:
    assert "performance-mode run" in _bad(str(runs["performance"]))
    assert "does not exist" in _bad(str(tmp_path / "no-such-run"))
    # --json: the same error line on stderr, and an object on stdout (as `run --json`)
    proc = cli("evaluate", str(runs["performance"]), "--json")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    doc = json.loads(proc.stdout)
    assert doc["status"] == "error" and doc["exit_code"] == 2
    assert doc["error"]["kind"] == "ConfigError" and "--mode accuracy" in doc["error"]["fix"]
    # the run's dataset is gone: the fix names the options that still work
    run = tmp_path / "real"
    shutil.copytree(runs["real"], run)
    result = json.loads((run / "result.json").read_text())
    result["dataset"]["path"] = str(tmp_path / "gone")
    (run / "result.json").write_text(json.dumps(result))
    line = _bad(str(run))
    assert "is gone" in line and "--val-map FILE" in line
    assert not list(run.glob("accuracy.rescored-*"))  # nothing written on bad input


def test_bad_val_map_is_one_error_line_and_exit_2(runs: dict[str, Path], tmp_path: Path) -> None:
    real = str(runs["real"])
    assert "--val-map" in _bad(real, "--val-map", str(tmp_path / "missing.txt"))
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00junk")
    assert "cannot be read" in _bad(real, "--val-map", str(tmp_path / "binary.txt"))
    assert "not scored against a val map" in _bad(
        str(runs["bert"]), "--val-map", str(runs["synthetic"] / "val_map.txt")
    )


def test_val_map_problems_name_the_line(runs: dict[str, Path], tmp_path: Path) -> None:
    """The same checks in-process (no CLI start-up per case)."""
    from inferlab.core.errors import InferlabError
    from inferlab.results.rescore import rescore_run

    cases = {
        "short.txt": ("a.JPEG 1\n", "lists 1 samples but the run used 8"),
        "garbled.txt": ("a.JPEG 1\nb.JPEG\n", "garbled.txt:2: expected '<file> <label>'"),
        "empty.txt": ("\n", "is empty"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InferlabError, match=message) as info:
            rescore_run(runs["real"], val_map=tmp_path / name)
        assert info.value.exit_code == 2 and info.value.fix
    with pytest.raises(InferlabError, match="both given"):
        rescore_run(runs["real"], val_map=tmp_path / "x", dataset_path=tmp_path / "y")
    with pytest.raises(InferlabError, match="no result.json"):
        rescore_run(tmp_path)


def test_a_run_on_a_dataset_on_disk_needs_its_dataset(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = runs["bert_disk"]
    doc = _evaluate(str(run))  # the run's own dataset, where the run found it
    assert doc["accuracy_txt"] == (run / "accuracy.txt").read_text()
    assert doc["data"].startswith("the run's dataset") and doc["labels"] == ["RANDOM WEIGHTS"]
    moved = tmp_path / "squad-moved"
    shutil.copytree(runs["squad"], moved)
    doc = _evaluate(str(run), "--dataset-path", str(moved))
    assert doc["accuracy_txt"] == (run / "accuracy.txt").read_text()
    assert doc["status"] == "measured-random-weights"
