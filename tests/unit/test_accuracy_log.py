"""Tests for inferlab.loadgen.accuracy_log.

tests/fixtures/loadgen/accuracy_multistream/mlperf_log_accuracy.json is a real LoadGen 6.0.17
MultiStream AccuracyOnly log (16 samples, performance count 10, 8 samples per query; see
test_loadgen_logs.py). Its SUT answered every sample with float32 ``[qsl_idx % 7, 0.5]``, and the
MultiStream padding repeats 8 indices, so it holds 24 entries for 16 distinct indices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inferlab.core.errors import DataError
from inferlab.loadgen import accuracy_log
from inferlab.loadgen.accuracy_log import (
    AccuracyEntry,
    LogStats,
    first_payloads,
    iter_entries,
    write_accuracy_log,
)

REAL_LOG = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "loadgen"
    / "accuracy_multistream"
    / "mlperf_log_accuracy.json"
)


def test_real_log_entries_and_payloads() -> None:
    entries = list(iter_entries(REAL_LOG))
    assert len(entries) == 24
    assert entries[0] == AccuracyEntry(seq_id=0, qsl_idx=1, data="0000803F0000003F")
    assert [e.seq_id for e in entries] == list(range(24))
    payloads, stats = first_payloads(REAL_LOG, np.float32)
    assert stats == LogStats(entries=24, unique=16, duplicates=8)
    assert sorted(payloads) == list(range(16))
    assert list(payloads)[:3] == [1, 5, 13]  # first-seen order
    for idx, arr in payloads.items():
        assert arr.dtype == np.float32
        np.testing.assert_array_equal(arr, np.array([idx % 7, 0.5], np.float32))


def test_writer_reproduces_loadgen_layout_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "copy.json"
    assert write_accuracy_log(out, iter_entries(REAL_LOG)) == 24
    assert out.read_bytes() == REAL_LOG.read_bytes()


def test_writer_exact_text_and_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    entries = [
        AccuracyEntry.from_array(0, 1, np.array([1, 255], dtype="<i4")),
        AccuracyEntry(1, 0, "ab", token_count=3),
        AccuracyEntry.from_array(2, 2, b"\x01", token_count=2, token_data=b"\xfe"),
    ]
    write_accuracy_log(path, entries)
    assert path.read_text() == (
        "[\n"
        '{ "seq_id" : 0, "qsl_idx" : 1, "data" : "01000000FF000000" },\n'
        '{ "seq_id" : 1, "qsl_idx" : 0, "data" : "AB", "token_count" : 3 },\n'
        '{ "seq_id" : 2, "qsl_idx" : 2, "data" : "01", "token_data" : "FE", "token_count" : 2 }\n'
        "]\n"
    )
    back = list(iter_entries(path))
    assert back[1] == AccuracyEntry(1, 0, "AB", token_count=3)
    assert back[2].token_data == "FE" and back[2].token_count == 2
    write_accuracy_log(path, [])
    assert path.read_text() == "[\n]\n"
    assert list(iter_entries(path)) == []
    assert first_payloads(path, np.float32) == ({}, LogStats(0, 0, 0))


@pytest.mark.parametrize(
    "render",
    [
        lambda items: json.dumps(items, separators=(",", ":")),
        lambda items: json.dumps(items, indent=2),
        lambda items: "\n\n  " + json.dumps(items).replace(", ", " ,\n\t ") + "\r\n\n",
    ],
    ids=["compact", "pretty", "odd-whitespace"],
)
def test_any_json_array_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, render: object
) -> None:
    items = [{"seq_id": i, "qsl_idx": 5 - i, "data": f"{i:02X}" * 3} for i in range(5)]
    path = tmp_path / "log.json"
    path.write_text(render(items))  # type: ignore[operator]
    monkeypatch.setattr(accuracy_log, "_CHUNK_CHARS", 7)  # elements straddle chunk boundaries
    got = list(iter_entries(path))
    assert [(e.seq_id, e.qsl_idx, e.data) for e in got] == [
        (i, 5 - i, f"{i:02X}" * 3) for i in range(5)
    ]


def test_big_element_across_many_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = np.arange(5000, dtype=np.int64)
    path = tmp_path / "big.json"
    write_accuracy_log(
        path, [AccuracyEntry.from_array(0, 3, big), AccuracyEntry.from_array(1, 3, big[:2])]
    )
    monkeypatch.setattr(accuracy_log, "_CHUNK_CHARS", 16)
    payloads, stats = first_payloads(path, np.int64)
    np.testing.assert_array_equal(payloads[3], big)
    assert stats == LogStats(2, 1, 1)


def test_duplicates_first_wins(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    write_accuracy_log(
        path,
        [
            AccuracyEntry.from_array(0, 7, np.array([1.5], np.float32)),
            AccuracyEntry.from_array(1, 2, np.array([2.5], np.float32)),
            AccuracyEntry.from_array(2, 7, np.array([9.0], np.float32)),
        ],
    )
    payloads, stats = first_payloads(path, "float32")
    assert list(payloads) == [7, 2]
    assert payloads[7].tolist() == [1.5]
    assert stats == LogStats(3, 2, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"seq_id": 0}', "is not a JSON array"),
        ("", "is empty"),
        ("[1]", "element 0 is int"),
        ('[{"seq_id": 0, "qsl_idx": 1}]', "no 'data' field"),
        ('[{"seq_id": 0, "qsl_idx": "1", "data": ""}]', "qsl_idx='1'"),
        ('[{"seq_id": 0, "qsl_idx": 1, "data": "0G"}]', "malformed hex"),
        ('[{"seq_id": 0, "qsl_idx": 1, "data": "000"}]', "malformed hex"),
        ('[{"seq_id": 0, "qsl_idx": 1, "data": "000000"}]', "not a multiple of 4"),
        ('[{"seq_id": 0, "qsl_idx": 1, "data": ""},', "truncated after 1 entries"),
        ('[{"seq_id": 0, "qsl_idx": 1, "da', "not valid JSON"),
        ('[{"seq_id": 0, "qsl_idx": 1, "data": ""},]', "trailing comma"),
        ('[{"seq_id": 0, "qsl_idx": 1, "data": ""}] []', "after the closing"),
        ('[{"seq_id": 0, "qsl_idx": 1, "data": ""} {}]', "expected ',' or ']'"),
    ],
)
def test_corrupt_logs_raise_data_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mlperf_log_accuracy.json"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        first_payloads(path, np.float32)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        list(iter_entries(tmp_path / "nope.json"))


def test_allow_truncated_keeps_complete_entries(tmp_path: Path) -> None:
    text = REAL_LOG.read_text()
    path = tmp_path / "cut.json"
    path.write_text(text[: text.index('"seq_id" : 5,') + 4])
    with pytest.raises(DataError, match="not valid JSON"):
        list(iter_entries(path))
    assert [e.seq_id for e in iter_entries(path, allow_truncated=True)] == [0, 1, 2, 3, 4]


def test_empty_payload_decodes_to_empty_array(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text('[{"seq_id": 0, "qsl_idx": 4, "data": ""}]')
    payloads, _ = first_payloads(path, np.int32)
    assert payloads[4].shape == (0,)
    assert AccuracyEntry(0, 4, "0A0b").payload_bytes() == b"\x0a\x0b"
