"""The data manifest: round trip, quick and full checks, merging concurrent writers."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from inferlab.core.errors import DataError
from inferlab.data.manifest import (
    SCHEMA_VERSION,
    Manifest,
    ManifestEntry,
    describe,
    full_check,
    quick_check,
    tree_sha256,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "models/resnet50").mkdir(parents=True)
    (tmp_path / "models/resnet50/resnet50.pth").write_bytes(os.urandom(4096))
    ds = tmp_path / "imagenet2012-val"
    (ds / "sub").mkdir(parents=True)
    for i in range(5):
        (ds / f"img{i}.JPEG").write_bytes(os.urandom(1000 + i))
    (ds / "sub/val_map.txt").write_text("img0.JPEG 65\n")
    return tmp_path


def _entries(root: Path) -> tuple[ManifestEntry, ManifestEntry]:
    f = describe(
        root,
        "models/resnet50/resnet50.pth",
        source="https://zenodo.org/record/4588417/files/resnet50-19c8e357.pth",
    )
    d = describe(
        root, "imagenet2012-val", id="imagenet2012-val", source=f"user-provided from {root}"
    )
    return f, d


def test_describe_file_and_dir(root: Path) -> None:
    f, d = _entries(root)
    data = (root / "models/resnet50/resnet50.pth").read_bytes()
    assert (f.kind, f.size, f.sha256) == ("file", 4096, hashlib.sha256(data).hexdigest())
    assert f.id == "models/resnet50/resnet50.pth" and f.verification == "sha256"
    assert d.kind == "dir" and d.file_count == 6 and d.verification == "tree-sha256"
    assert d.size == sum(1000 + i for i in range(5)) + len("img0.JPEG 65\n")
    assert d.sha256 == tree_sha256(root / "imagenet2012-val") and d.verified_at
    quick = describe(root, "imagenet2012-val", source="x", hash=False)
    assert quick.sha256 is None and quick.verification == "size+count"


def test_roundtrip(root: Path) -> None:
    f, d = _entries(root)
    m = Manifest.load(root)
    assert m.get(f.id) is None
    m.record(f)
    m.record(d)
    m.save()
    path = root / ".inferlab/manifest.json"
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION == 1
    assert set(raw["entries"]) == {f.id, d.id}
    again = Manifest.load(root)
    assert again.get(f.id) == f and again.get(d.id) == d
    again.remove(f.id)
    again.save()
    assert Manifest.load(root).get(f.id) is None and Manifest.load(root).get(d.id) == d


def test_quick_check_passes_then_detects_deleted_and_changed_files(root: Path) -> None:
    f, d = _entries(root)
    assert quick_check(f, root).ok and quick_check(d, root).ok
    assert Manifest(root).quick_check(d).detail == "ok"

    (root / "imagenet2012-val/img3.JPEG").unlink()
    res = quick_check(d, root)
    assert not res.ok and "5 files, was 6" in res.detail and res.seconds >= 0

    (root / "models/resnet50/resnet50.pth").write_bytes(b"short")
    assert "5 bytes, was 4096" in quick_check(f, root).detail

    (root / "models/resnet50/resnet50.pth").unlink()
    assert quick_check(f, root).problems == ("models/resnet50/resnet50.pth is missing",)


def test_quick_check_sees_a_newer_mtime(root: Path) -> None:
    _, d = _entries(root)
    p = root / "imagenet2012-val/img1.JPEG"
    st = p.stat()
    os.utime(p, (st.st_atime, st.st_mtime + 10))
    assert "modified after" in quick_check(d, root).detail


def test_full_check_detects_same_size_modification(root: Path) -> None:
    f, d = _entries(root)
    assert full_check(f, root).ok and full_check(d, root).ok
    for path in (root / "models/resnet50/resnet50.pth", root / "imagenet2012-val/img2.JPEG"):
        st = path.stat()
        blob = bytearray(path.read_bytes())
        blob[7] ^= 0xFF
        path.write_bytes(bytes(blob))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as before
    assert quick_check(f, root).ok and quick_check(d, root).ok  # the quick check cannot see it
    rf, rd = full_check(f, root), Manifest(root).full_check(d)
    assert not rf.ok and f"expected {f.sha256}" in rf.detail
    assert not rd.ok and "content digest" in rd.detail


def test_full_check_with_md5_only(root: Path) -> None:
    path = root / "models/resnet50/resnet50.pth"
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    e = ManifestEntry(
        id="m",
        kind="file",
        path="models/resnet50/resnet50.pth",
        size=4096,
        md5=md5,
        verification="md5",
        mtime=path.stat().st_mtime,
    )
    assert full_check(e, root).ok
    bad = ManifestEntry(**{**e.to_json(), "md5": "0" * 32})
    assert "md5" in full_check(bad, root).detail


def test_root_entry_does_not_count_the_manifest_itself(root: Path) -> None:
    e = describe(root, ".", id="everything", source="test")
    m = Manifest.load(root)
    m.record(e)
    m.save()  # creates .inferlab/ under the described folder
    assert quick_check(e, root).ok and full_check(e, root).ok


def test_concurrent_writers_keep_each_others_entries(root: Path) -> None:
    f, _ = _entries(root)

    def writer(k: int) -> None:
        for j in range(5):
            m = Manifest.load(root)
            m.record(ManifestEntry(**{**f.to_json(), "id": f"w{k}-{j}"}))
            m.save()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = set(Manifest.load(root).entries)
    assert ids == {f"w{k}-{j}" for k in range(6) for j in range(5)}


def test_stale_copy_saving_does_not_drop_newer_entries(root: Path) -> None:
    f, d = _entries(root)
    a, b = Manifest.load(root), Manifest.load(root)
    a.record(f)
    a.save()
    b.record(d)
    b.save()
    assert set(b.entries) == {f.id, d.id} == set(Manifest.load(root).entries)


def test_unreadable_or_newer_manifest_is_reported(root: Path) -> None:
    path = root / ".inferlab/manifest.json"
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(DataError, match="delete it"):
        Manifest.load(root)
    path.write_text(json.dumps({"schema_version": 2, "entries": {}}))
    with pytest.raises(DataError, match="schema_version 2"):
        Manifest.load(root)


def test_describe_missing_path(root: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        describe(root, "nope", source="x")
