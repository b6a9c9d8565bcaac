"""safe_extract(): valid archives of every type, and every kind of hostile or broken archive."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from inferlab.core.errors import DataError
from inferlab.data import extract
from inferlab.data.extract import safe_extract

FILES = {
    "pkg/a.txt": b"alpha\n",
    "pkg/sub/b.bin": os.urandom(5000),
    "pkg/empty": b"",
}
BIG = dict(max_total_bytes=1 << 30, max_files=1000)


def _tar(path: Path, mode: str, members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    info.mtime = 1_600_000_000
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def _valid_members() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [
        _special("pkg", tarfile.DIRTYPE),
        *(_file(n, d) for n, d in FILES.items()),
        _special("pkg/link-to-a", tarfile.SYMTYPE, "a.txt"),
        _special("pkg/sub/hard-b", tarfile.LNKTYPE, "pkg/sub/b.bin"),
    ]
    exe, data = _file("pkg/run.sh", b"#!/bin/sh\n")
    exe.mode = 0o755
    return [*members, (exe, data)]


def _no_leftovers(target: Path) -> None:
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".extracting")] == []


@pytest.mark.parametrize(
    "suffix,mode",
    [
        (".tar", "w"),
        (".tar.gz", "w:gz"),
        (".tgz", "w:gz"),
        (".tar.bz2", "w:bz2"),
        (".tar.xz", "w:xz"),
    ],
)
def test_valid_tar_archives(tmp_path: Path, suffix: str, mode: str) -> None:
    archive = _tar(tmp_path / f"a{suffix}", mode, _valid_members())
    target = tmp_path / "out"
    res = safe_extract(archive, target, **BIG)
    for name, data in FILES.items():
        assert (target / name).read_bytes() == data
    assert (target / "pkg/link-to-a").is_symlink()
    assert (target / "pkg/link-to-a").read_bytes() == FILES["pkg/a.txt"]
    assert (target / "pkg/sub/hard-b").stat().st_ino == (target / "pkg/sub/b.bin").stat().st_ino
    assert os.access(target / "pkg/run.sh", os.X_OK)
    assert (target / "pkg/a.txt").stat().st_mtime == 1_600_000_000
    assert res.files == 5 and res.bytes == sum(map(len, FILES.values())) + 10
    assert res.target == target
    _no_leftovers(tmp_path / "nothing")  # no temp folders left beside the target


def test_valid_zip_and_strip_components(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pkg/", b"")
        for name, data in FILES.items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("pkg/link-to-a")
        link.external_attr = (0o120777) << 16
        zf.writestr(link, "a.txt")
    target = tmp_path / "out"
    res = safe_extract(archive, target, strip_components=1, **BIG)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "a.txt",
        "empty",
        "link-to-a",
        "sub",
        "sub/b.bin",
    ]
    assert (target / "link-to-a").read_bytes() == FILES["pkg/a.txt"]
    assert res.files == 3


def test_relative_target_under_a_symlinked_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _tar(tmp_path / "a.tar", "w", _valid_members())
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path / "linked")
    res = safe_extract(archive, Path("data/out"), **BIG)
    assert res.files == 5 and (tmp_path / "real/data/out/pkg/a.txt").read_bytes() == b"alpha\n"


def test_empty_target_folder_is_replaced(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", "w", [_file("x", b"1")])
    (tmp_path / "out").mkdir()
    safe_extract(archive, tmp_path / "out", **BIG)
    assert (tmp_path / "out/x").read_bytes() == b"1"


def test_existing_target_is_refused(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", "w", [_file("x", b"1")])
    (tmp_path / "out").mkdir()
    (tmp_path / "out/keep").write_text("mine")
    with pytest.raises(DataError, match="already exists"):
        safe_extract(archive, tmp_path / "out", **BIG)
    assert (tmp_path / "out/keep").read_text() == "mine"


@pytest.mark.parametrize(
    "bad",
    [
        _file("../x", b"evil"),
        _file("pkg/../../x", b"evil"),
        _file("/abs/x", b"evil"),
        _special("pkg/passwd", tarfile.SYMTYPE, "/etc/passwd"),
        _special("pkg/up", tarfile.SYMTYPE, "../../outside"),
        _special("pkg/hard", tarfile.LNKTYPE, "/etc/passwd"),
        _special("pkg/hard", tarfile.LNKTYPE, "../outside"),
        _special("pkg/hard", tarfile.LNKTYPE, "pkg/not-extracted-yet"),
        _special("pkg/dev", tarfile.CHRTYPE),
        _special("pkg/blk", tarfile.BLKTYPE),
        _special("pkg/fifo", tarfile.FIFOTYPE),
    ],
    ids=lambda m: f"{m[0].name}->{m[0].linkname}" if m[0].linkname else m[0].name,
)
def test_hostile_tar_members_are_refused(
    tmp_path: Path, bad: tuple[tarfile.TarInfo, bytes | None]
) -> None:
    archive = _tar(tmp_path / "a.tar.gz", "w:gz", [_file("pkg/ok.txt", b"fine"), bad])
    target = tmp_path / "data" / "out"
    with pytest.raises(DataError, match="refusing") as ei:
        safe_extract(archive, target, **BIG)
    assert "fix:" in str(ei.value)
    _no_leftovers(target)
    assert not (tmp_path / "x").exists() and not (tmp_path / "data" / "x").exists()


def test_symlink_chain_escaping_through_another_link_is_refused(tmp_path: Path) -> None:
    # lexically both stay inside; really y -> (root)/.. is outside
    archive = _tar(
        tmp_path / "a.tar",
        "w",
        [
            _special("x", tarfile.SYMTYPE, "."),
            _special("y", tarfile.SYMTYPE, "x/.."),
        ],
    )
    target = tmp_path / "out"
    with pytest.raises(DataError, match="outside"):
        safe_extract(archive, target, **BIG)
    _no_leftovers(target)


def test_file_written_through_an_archive_symlink_is_refused(tmp_path: Path) -> None:
    # a symlink to a folder, then a file "through" it: symlinks are created last, so the file
    # lands in a real folder and the symlink then collides with it
    archive = _tar(
        tmp_path / "a.tar",
        "w",
        [_special("d", tarfile.SYMTYPE, "sub"), _file("d/x", b"1")],
    )
    with pytest.raises(DataError):
        safe_extract(archive, tmp_path / "out", **BIG)
    _no_leftovers(tmp_path / "out")


def test_zip_with_traversal_and_absolute_names_is_refused(tmp_path: Path) -> None:
    for i, name in enumerate(["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"]):
        archive = tmp_path / f"a{i}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("ok.txt", b"ok")
            zf.writestr(zipfile.ZipInfo(name), b"evil")
        with pytest.raises(DataError, match="refusing"):
            safe_extract(archive, tmp_path / "out", **BIG)
        _no_leftovers(tmp_path / "out")
    assert not (tmp_path.parent / "evil.txt").exists()


def test_zip_symlink_outside_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("passwd")
        link.external_attr = (0o120777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DataError, match="refusing"):
        safe_extract(archive, tmp_path / "out", **BIG)


def _zeros_zip(path: Path, n: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("small.txt", b"x")
        zf.writestr("zeros.bin", b"\0" * n)
    return path


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    archive = _zeros_zip(tmp_path / "bomb.zip", 8 << 20)  # ~8 KiB compressed, ratio ~1000
    with pytest.raises(DataError, match="ratio"):
        safe_extract(archive, tmp_path / "out", **BIG)
    _no_leftovers(tmp_path / "out")


def test_zip_over_total_size_is_refused_from_headers(tmp_path: Path) -> None:
    archive = _zeros_zip(tmp_path / "big.zip", 2 << 20)
    with pytest.raises(DataError, match="over the limit"):
        safe_extract(
            archive, tmp_path / "out", max_total_bytes=1 << 20, max_files=10, max_ratio=1e9
        )
    _no_leftovers(tmp_path / "out")


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "many.tar", "w", [_file(f"f{i}", b"x") for i in range(20)])
    with pytest.raises(DataError, match="more than 10 members"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=1 << 20, max_files=10)
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(20):
            zf.writestr(f"f{i}", b"x")
    with pytest.raises(DataError, match="20 members"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=1 << 20, max_files=10)
    _no_leftovers(tmp_path / "out")


def test_tar_gz_bomb_is_refused_while_streaming(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "bomb.tar.gz", "w:gz", [_file("zeros", b"\0" * (8 << 20))])
    with pytest.raises(DataError, match="ratio"):
        safe_extract(archive, tmp_path / "out", **BIG)
    _no_leftovers(tmp_path / "out")


def _patch_zip_sizes(path: Path, declared: int) -> None:
    """Make every local and central header claim ``declared`` uncompressed bytes."""
    blob = bytearray(path.read_bytes())
    pos = 0
    while (pos := blob.find(b"PK\x03\x04", pos)) != -1:  # local header: size at +22
        struct.pack_into("<I", blob, pos + 22, declared)
        pos += 4
    pos = 0
    while (pos := blob.find(b"PK\x01\x02", pos)) != -1:  # central header: size at +24
        struct.pack_into("<I", blob, pos + 24, declared)
        pos += 4
    path.write_bytes(bytes(blob))


def test_zip_whose_header_lies_about_size_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * (4 << 20))
    _patch_zip_sizes(archive, 100)  # claims 100 bytes; the headers pass every limit
    assert zipfile.ZipFile(archive).infolist()[0].file_size == 100
    with pytest.raises(DataError):
        safe_extract(archive, tmp_path / "out", max_total_bytes=1000, max_files=10)
    _no_leftovers(tmp_path / "out")


def test_streaming_limit_holds_when_headers_are_not_believed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # disable the header checks (as if every header understated its size): the byte count taken
    # while writing still stops the extraction
    monkeypatch.setattr(extract._Budget, "check_declared", lambda self, name, declared: None)
    monkeypatch.setattr(extract, "_zip_members", lambda zf, budget: iter(zf.infolist()))
    for archive in (
        _tar(tmp_path / "a.tar", "w", [_file("big", os.urandom(300_000))]),
        _zeros_zip(tmp_path / "a.zip", 300_000),
    ):
        with pytest.raises(DataError, match="passed 100000 bytes"):
            safe_extract(archive, tmp_path / "out", max_total_bytes=100_000, max_files=10)
        _no_leftovers(tmp_path / "out")


def test_truncated_tar_gz_says_download_again(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar.gz", "w:gz", _valid_members())
    blob = archive.read_bytes()
    for cut in (len(blob) // 2, len(blob) - 4):  # mid-stream, and only the gzip trailer
        archive.write_bytes(blob[:cut])
        with pytest.raises(DataError, match="truncated or corrupt") as ei:
            safe_extract(archive, tmp_path / "out", **BIG)
        assert "download it again" in str(ei.value)
        _no_leftovers(tmp_path / "out")


def test_corrupt_archives_say_download_again(tmp_path: Path) -> None:
    members = [_file("a", os.urandom(3000)), _file("b", os.urandom(3000))]
    plain = _tar(tmp_path / "p.tar", "w", members).read_bytes()
    # a plain tar cut exactly after the first member: no end-of-archive block
    (tmp_path / "cut.tar").write_bytes(plain[: 512 + 3072])
    xz = _tar(tmp_path / "x.tar.xz", "w:xz", members).read_bytes()
    (tmp_path / "cut.tar.xz").write_bytes(xz[: len(xz) // 2])
    bz = bytearray(_tar(tmp_path / "b.tar.bz2", "w:bz2", members).read_bytes())
    bz[len(bz) // 2] ^= 0xFF
    (tmp_path / "flip.tar.bz2").write_bytes(bytes(bz))
    zipped = tmp_path / "z.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a", os.urandom(3000))
    (tmp_path / "cut.zip").write_bytes(zipped.read_bytes()[:1000])
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive at all" * 10)
    for name in ("cut.tar", "cut.tar.xz", "flip.tar.bz2", "cut.zip", "junk.tar.gz"):
        with pytest.raises(DataError) as ei:
            safe_extract(tmp_path / name, tmp_path / "out", **BIG)
        assert "again" in str(ei.value) or "not a supported archive" in str(ei.value), name
        _no_leftovers(tmp_path / "out")


def test_unknown_file_type(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"hello")
    with pytest.raises(DataError, match="not a supported archive"):
        safe_extract(tmp_path / "x.bin", tmp_path / "out", **BIG)
