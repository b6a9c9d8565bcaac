"""Tests for inferlab.benchmarks.resnet50.accuracy (ImageNet top-1 like the official
accuracy-imagenet.py).

The optional fidelity test runs the official script when INFERLAB_OFFICIAL_INFERENCE points at a
checkout of mlcommons/inference (it needs only numpy) and compares its stdout with ours.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inferlab.benchmarks.resnet50.accuracy import Top1Result, read_val_map, top1_from_log
from inferlab.core.errors import ConfigError, DataError
from inferlab.loadgen.accuracy_log import AccuracyEntry, write_accuracy_log

REAL_LOG = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "loadgen"
    / "accuracy_multistream"
    / "mlperf_log_accuracy.json"
)
OFFICIAL_SCRIPT = "vision/classification_and_detection/tools/accuracy-imagenet.py"

VAL_MAP = "".join(
    f"ILSVRC2012_val_{i:08d}.JPEG {label}\n" for i, label in enumerate([3, 7, 0, 999, 12, 5, 1, 2])
)

# (qsl_idx, predicted value) in completion order. Worked by hand against VAL_MAP:
#   5 -> 5 right | 2 -> 1 wrong | 5 repeat ignored | 0 -> int(3.9)=3 right | 3 -> 999 right
#   7 -> 2 right | 2 repeat ignored (would be right) | 4 -> 11 wrong ; qsl 1 and 6 never logged
# => total = 6 distinct, good = 4, accuracy = 400/6 = 66.666..%, 2 duplicates.
FLOAT_PREDICTIONS = [
    (5, 5.0),
    (2, 1.0),
    (5, 4.0),
    (0, 3.9),
    (3, 999.0),
    (7, 2.0),
    (2, 0.0),
    (4, 11.0),
]
EXPECTED_LINE = "accuracy=66.667%, good=4, total=6"


def _write_case(tmp_path: Path, dtype: str) -> tuple[Path, Path]:
    val_map = tmp_path / "val_map.txt"
    val_map.write_text(VAL_MAP)
    entries = []
    for seq, (idx, value) in enumerate(FLOAT_PREDICTIONS):
        if dtype != "float32":
            value = int(value)  # an integer SUT would have written the truncated class
        payload = np.array([value, -1], dtype=dtype)  # element 0 is the class, rest ignored
        entries.append(AccuracyEntry.from_array(seq, idx, payload))
    log = tmp_path / "mlperf_log_accuracy.json"
    write_accuracy_log(log, entries)
    return log, val_map


def test_read_val_map(tmp_path: Path) -> None:
    path = tmp_path / "val_map.txt"
    path.write_text(VAL_MAP + "\n\n")  # trailing blank lines are harmless
    names, labels = read_val_map(path)
    assert names[0] == "ILSVRC2012_val_00000000.JPEG" and len(names) == 8
    assert labels.dtype == np.int64
    assert labels.tolist() == [3, 7, 0, 999, 12, 5, 1, 2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.JPEG 1\nb.JPEG\n", r"val_map.txt:2: expected '<file> <label>'"),
        ("a.JPEG 1\nb.JPEG x\n", r"val_map.txt:2: label 'x' is not an integer"),
        ("a.JPEG 1\n\nb.JPEG 2\n", r"val_map.txt:2: blank line"),
    ],
)
def test_read_val_map_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "val_map.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_val_map(path)


def test_missing_val_map(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_val_map(tmp_path / "val_map.txt")


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
def test_hand_worked_example(tmp_path: Path, dtype: str) -> None:
    log, val_map = _write_case(tmp_path, dtype)
    _, labels = read_val_map(val_map)
    result = top1_from_log(log, labels, dtype=dtype)
    assert result == Top1Result(good=4, total=6, accuracy=400.0 / 6, duplicates=2)
    assert result.line() == EXPECTED_LINE
    assert type(result.good) is int and type(result.accuracy) is float


def test_float_prediction_truncates_toward_zero(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    write_accuracy_log(
        log,
        [
            AccuracyEntry.from_array(0, 0, np.array([-0.7], np.float32)),  # int() -> 0, right
            AccuracyEntry.from_array(1, 1, np.array([1.999], np.float32)),  # int() -> 1, wrong
        ],
    )
    result = top1_from_log(log, np.array([0, 2]))
    assert result.line() == "accuracy=50.000%, good=1, total=2"


def test_real_loadgen_log(tmp_path: Path) -> None:
    # The SUT predicted qsl_idx % 7; make the labels of qsl 3 and 10 disagree with it.
    labels = np.array([i % 7 for i in range(16)], dtype=np.int64)
    labels[[3, 10]] = 999
    result = top1_from_log(REAL_LOG, labels)
    assert result.line() == "accuracy=87.500%, good=14, total=16"
    assert result.duplicates == 8


def test_index_beyond_labels(tmp_path: Path) -> None:
    log, _ = _write_case(tmp_path, "float32")
    with pytest.raises(DataError, match="qsl_idx 5 is outside the 4 labels"):
        top1_from_log(log, np.array([3, 7, 0, 999]))


def test_empty_log_and_payload(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    write_accuracy_log(log, [])
    with pytest.raises(DataError, match="has no entries"):
        top1_from_log(log, np.array([1]))
    write_accuracy_log(log, [AccuracyEntry(0, 0, "")])
    with pytest.raises(DataError, match="empty payload"):
        top1_from_log(log, np.array([1]))
    write_accuracy_log(log, [AccuracyEntry.from_array(0, 0, np.array([np.nan], np.float32))])
    with pytest.raises(DataError, match="predicts nan"):
        top1_from_log(log, np.array([1]))


def test_bad_dtype(tmp_path: Path) -> None:
    log, _ = _write_case(tmp_path, "float32")
    with pytest.raises(ConfigError, match="float16"):
        top1_from_log(log, np.zeros(8, np.int64), dtype="float16")


def _official_script() -> Path:
    root = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")
    if not root:
        pytest.skip("set INFERLAB_OFFICIAL_INFERENCE to a mlcommons/inference checkout")
    script = Path(root) / OFFICIAL_SCRIPT
    if not script.is_file():
        pytest.skip(f"{script} not found")
    return script


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
def test_matches_official_script(tmp_path: Path, dtype: str) -> None:
    script = _official_script()
    log, val_map = _write_case(tmp_path, dtype)
    cases = [(log, val_map)]
    real_map = tmp_path / "real_val_map.txt"
    real_map.write_text("".join(f"img{i}.JPEG {i % 7 if i % 5 else 3}\n" for i in range(16)))
    if dtype == "float32":
        cases.append((REAL_LOG, real_map))
    for log_path, map_path in cases:
        proc = subprocess.run(
            [
                sys.executable,
                str(script),
                "--mlperf-accuracy-file",
                str(log_path),
                "--imagenet-val-file",
                str(map_path),
                "--dtype",
                dtype,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        ours = top1_from_log(log_path, read_val_map(map_path)[1], dtype=dtype)
        assert proc.stdout.strip() == ours.line()
