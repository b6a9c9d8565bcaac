"""Issue 17: TEST06's verifier (run_verification.py's checks and output) on hand-made logs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inferlab.submission.compliance import verify_test06, write_test06

EOS = 2  # run_verification.py's --eos_token_id default


def _hex(tokens: list[int]) -> str:
    return np.asarray(tokens, dtype=np.int32).tobytes().hex().upper()


def _log(tmp_path: Path, samples: list[dict]) -> Path:  # type: ignore[type-arg]
    """samples: {"tokens": [...], "first": [...] or None, "count": n or None (len)}."""
    entries = []
    for i, s in enumerate(samples):
        e = {"seq_id": i, "qsl_idx": i, "data": _hex(s["tokens"])}
        if s.get("first") is not None:
            e["token_data"] = _hex(s["first"])
        e["token_count"] = s.get("count", len(s["tokens"]))
        entries.append(e)
    path = tmp_path / "mlperf_log_accuracy.json"
    path.write_text(json.dumps(entries))
    return path


GOOD = [{"tokens": [5, 6, 7, EOS], "first": [5]}, {"tokens": [9, 8], "first": [9]}]


def _text(first: str, eos: bool, length: bool, ok: bool) -> str:
    return (
        f"First token check pass: {first}\nEOS check pass: {eos}\n"
        f"Sample length check pass: {length}\n"
        f"TEST06 verification {'complete' if ok else 'failed'}\n"
    )


def test_pass_server(tmp_path: Path) -> None:
    v = verify_test06(_log(tmp_path, GOOD), "Server")
    assert v.passed and v.text == _text("True", True, True, True)
    assert v.printed == v.text + "\n" and v.reasons == ()


def test_offline_skips_the_first_token(tmp_path: Path) -> None:
    samples = [{"tokens": [5, 6], "first": [7]}, {"tokens": [1]}]  # no token_data: not looked at
    v = verify_test06(_log(tmp_path, samples), "Offline")
    assert v.passed and v.first_token is None
    assert v.text == _text("Skipped", True, True, True)


def test_first_token_mismatch(tmp_path: Path) -> None:
    samples = [GOOD[0], {"tokens": [9, 8], "first": [4]}]
    v = verify_test06(_log(tmp_path, samples), "SingleStream")
    assert not v.passed and v.text == _text("False", True, True, False)
    assert "qsl_idx 1" in v.reasons[0]


def test_missing_first_token_is_the_official_error(tmp_path: Path) -> None:
    v = verify_test06(_log(tmp_path, [{"tokens": [3, 4]}]), "Server")
    assert v.text == _text("False", True, True, False)
    assert v.printed.startswith("Unexpected error occured while doing the first token check\n")


def test_two_eos_at_the_end(tmp_path: Path) -> None:
    samples = [GOOD[0], {"tokens": [9, 8, EOS, EOS], "first": [9]}]
    v = verify_test06(_log(tmp_path, samples), "Server")
    assert v.text == _text("True", False, True, False)
    # one EOS, or EOS ids that are not at the end, pass; index 0 is never looked at
    ok = [{"tokens": [EOS, EOS]}, {"tokens": [EOS, EOS, 4, EOS]}, {"tokens": [EOS]}]
    assert verify_test06(_log(tmp_path, ok), "Offline").eos
    # another model's EOS id is not the script's
    assert verify_test06(_log(tmp_path, [{"tokens": [1, 128009, 128009]}]), "Offline").eos
    assert not verify_test06(_log(tmp_path, [{"tokens": [1, 7, 7]}]), "Offline", eos_token_id=7).eos


def test_wrong_token_count(tmp_path: Path) -> None:
    samples = [GOOD[0], {"tokens": [9, 8], "first": [9], "count": 3}]
    v = verify_test06(_log(tmp_path, samples), "Server")
    assert v.text == _text("True", True, False, False)
    assert v.reasons == ("qsl_idx 1: token_count 3 but 2 tokens",)


def test_write_test06_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    log = _log(run, GOOD)
    out = tmp_path / "tree" / "TEST06"
    summary = write_test06(out, test_run_dir=run, scenario="Server")
    assert summary["accuracy_pass"] and summary["eos_token_id"] == EOS
    assert (out / "verify_accuracy.txt").read_text() == _text("True", True, True, True)
    assert (out / "accuracy" / "mlperf_log_accuracy.json").read_bytes() == log.read_bytes()
    assert sorted(p.name for p in out.rglob("*")) == [
        "accuracy",
        "mlperf_log_accuracy.json",
        "verify_accuracy.txt",
    ]


def test_write_test06_without_a_log(tmp_path: Path) -> None:
    from inferlab.core.errors import DataError

    with pytest.raises(DataError, match="compliance run output missing"):
        write_test06(tmp_path / "out", test_run_dir=tmp_path, scenario="Offline")
