"""runner.checkpoint_id: a checkpoint is official when its checksum equals the sources
table's, whatever its name; digests are cached per (path, size, mtime)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from inferlab.benchmarks.resnet50.sources import RESNET50_PTH
from inferlab.runner import checkpoint_id


def test_the_sources_table_gives_each_variant_its_official_files() -> None:
    ids = [s.id for s in checkpoint_id.official_files("resnet50", "pytorch")]
    assert ids == [RESNET50_PTH.id]
    onnx = checkpoint_id.official_files("resnet50", "onnx")
    assert len(onnx) == 2 and all(s.md5 for s in onnx)  # opset 8 and its opset-11 alternative
    assert checkpoint_id.official_files("resnet50", "tiny") == []


def test_match_by_md5_whatever_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "renamed.pth"
    f.write_bytes(b"weights" * 1000)
    md5 = hashlib.md5(f.read_bytes()).hexdigest()
    official = dataclasses.replace(RESNET50_PTH, md5=md5)
    monkeypatch.setattr(checkpoint_id, "official_files", lambda b, v: [official])
    got = checkpoint_id.identify_checkpoint("resnet50", "pytorch", f, cache_dir=tmp_path / "c")
    assert got is not None and got["official"] is True and got["matched"] == RESNET50_PTH.id
    assert got["md5"] == md5 and got["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()

    f.write_bytes(b"other")  # another file at the same path: new size/mtime, hashed again
    got = checkpoint_id.identify_checkpoint("resnet50", "pytorch", f, cache_dir=tmp_path / "c")
    assert got is not None and got["official"] is False
    assert f"md5 {hashlib.md5(b'other').hexdigest()}" in got["note"]
    assert RESNET50_PTH.id in got["note"] and "closed division" in got["note"]


def test_cached_digests_are_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "m.pth"
    f.write_bytes(b"x" * 100)
    calls: list[Path] = []
    real = checkpoint_id.hash_file

    def counting(path: Path, algos: tuple[str, ...], chunk: int) -> dict[str, str]:
        calls.append(path)
        return real(path, algos, chunk)

    monkeypatch.setattr(checkpoint_id, "hash_file", counting)
    for _ in range(3):
        checkpoint_id.identify_checkpoint("resnet50", "pytorch", f, cache_dir=tmp_path)
    assert calls == [f]


def test_nothing_to_compare_with_is_said(tmp_path: Path) -> None:
    assert checkpoint_id.identify_checkpoint("resnet50", "pytorch", None, cache_dir=None) is None
    got = checkpoint_id.identify_checkpoint("resnet50", "pytorch", tmp_path, cache_dir=None)
    assert got is not None and got["official"] is None and "a folder" in got["note"]
