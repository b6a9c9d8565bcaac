"""Safe archive extraction: .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .zip.

:func:`safe_extract` unpacks into a temporary folder beside ``target`` and renames it to
``target`` only when everything was extracted, so ``target`` never exists half-filled; on any
error the temporary folder is deleted. It writes the files itself (it never calls
``TarFile.extract``), one member at a time, and refuses the whole archive (:class:`DataError`)
when a member

* has an absolute path, a ``..`` component, or a NUL in its name;
* is a device file or a FIFO;
* is a symlink whose target is absolute or leads outside the extracted tree, or a hardlink to
  anything but a regular file extracted before it from the same archive;
* would exceed ``max_files`` members, ``max_total_bytes`` uncompressed, or a compression ratio
  of ``max_ratio`` (uncompressed / archive size, once past 1 MiB). Limits are checked against the
  headers before a member is written (for zip, the central directory up front) and enforced again
  on the bytes actually written, since headers can lie.

Links inside the tree are kept: hardlinks become hard links to the earlier file, symlinks are
created after all files (so no file is ever written through a link) and each must resolve
(``realpath``) inside the tree. For tar archives ``tarfile.data_filter`` (Python >= 3.11.4) is
applied to every member as a second opinion. A truncated or corrupt archive (including a bad
gzip/bz2/xz trailer, which is checked by reading the compressed stream to its end) raises a
:class:`DataError` telling to download it again. File modes are 0644 (0755 when executable
in the archive); owners are not restored; modification times are.
"""

from __future__ import annotations

import errno
import logging
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Self

from inferlab.core.errors import DataError

log = logging.getLogger(__name__)

RATIO_FLOOR_BYTES = 1 << 20  # the ratio limit applies once this much has been unpacked
_BUF = 1 << 20
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


@dataclass(frozen=True)
class ExtractResult:
    target: Path
    files: int  # regular files written (hard links included)
    bytes: int  # uncompressed bytes written


class _Refused(Exception):
    """A member breaks a rule: the archive is refused."""


@dataclass
class _Budget:
    archive: Path
    archive_bytes: int
    max_total_bytes: int
    max_files: int
    max_ratio: float
    members: int = 0
    files: int = 0
    written: int = 0

    def count_member(self, name: str) -> None:
        self.members += 1
        if self.members > self.max_files:
            raise _Refused(f"more than {self.max_files} members (at {name!r})")

    def check_declared(self, name: str, declared: int) -> None:
        total = self.written + declared
        if total > self.max_total_bytes:
            raise _Refused(
                f"{name!r} would bring the uncompressed size to {total} bytes, over the "
                f"limit of {self.max_total_bytes}"
            )
        self._check_ratio(total, name)

    def add_written(self, name: str, n: int) -> None:
        self.written += n
        if self.written > self.max_total_bytes:
            raise _Refused(
                f"uncompressed data passed {self.max_total_bytes} bytes while writing {name!r} "
                "(more than its header declared)"
            )
        self._check_ratio(self.written, name)

    def _check_ratio(self, total: int, name: str) -> None:
        if total >= RATIO_FLOOR_BYTES and total > self.max_ratio * max(self.archive_bytes, 1):
            raise _Refused(
                f"compression ratio over {self.max_ratio:g} ({total} bytes from a "
                f"{self.archive_bytes}-byte archive, at {name!r}): a likely zip bomb"
            )


@dataclass
class _Tree:
    """The temporary folder being filled, and the links to create at the end."""

    root: Path
    strip: int
    files: dict[str, Path] = field(default_factory=dict)  # member name -> written path
    symlinks: list[tuple[str, Path, str]] = field(default_factory=list)  # name, path, target

    def place(self, raw_name: str) -> tuple[str, Path] | None:
        """The checked relative name and destination of a member; None if stripped away."""
        if "\x00" in raw_name:
            raise _Refused(f"member name with a NUL byte: {raw_name!r}")
        if raw_name.startswith("/") or (len(raw_name) > 1 and raw_name[1] == ":"):
            raise _Refused(f"absolute path {raw_name!r}")
        parts = [p for p in PurePosixPath(raw_name).parts if p not in ("", ".")]
        if ".." in parts:
            raise _Refused(f"path with '..': {raw_name!r}")
        parts = parts[self.strip :]
        if not parts:
            return None
        name = "/".join(parts)
        return name, self.root.joinpath(*parts)

    def ensure_parent(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        rel = path.parent.relative_to(self.root)
        expected = os.path.normpath(os.path.join(os.path.realpath(self.root), rel))
        if os.path.realpath(path.parent) != expected:  # never write through a link
            raise _Refused(f"{path.relative_to(self.root)} would be written through a link")

    def symlink_ok(self, name: str, target: str) -> None:
        if not target or target.startswith("/") or "\x00" in target:
            raise _Refused(f"symlink {name!r} -> {target!r}: absolute or empty target")
        resolved = os.path.normpath(os.path.join(os.path.dirname(name), target))
        if resolved == ".." or resolved.startswith("../"):
            raise _Refused(f"symlink {name!r} -> {target!r} points outside the archive")

    def hardlink_source(self, name: str, target: str) -> Path:
        placed = self.place(target)
        src = self.files.get(placed[0]) if placed else None
        if src is None:
            raise _Refused(f"hardlink {name!r} -> {target!r}: not a file extracted before it")
        return src

    def make_symlinks(self) -> None:
        root = os.path.realpath(self.root)
        for name, path, target in self.symlinks:
            self.ensure_parent(path)
            os.symlink(target, path)
            real = os.path.realpath(path)
            if real != root and not real.startswith(root + os.sep):
                raise _Refused(f"symlink {name!r} -> {target!r} resolves outside the archive")


def _write_stream(src: IO[bytes], path: Path, name: str, budget: _Budget) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()  # a duplicate member: never write into an inode a hard link shares
    with open(path, "wb") as out:
        while block := src.read(_BUF):
            budget.add_written(name, len(block))
            out.write(block)


def _finish_file(path: Path, mode: int, mtime: float | None) -> None:
    os.chmod(path, 0o755 if mode & 0o111 else 0o644)
    if mtime is not None:
        try:
            os.utime(path, (mtime, mtime))
        except (OSError, OverflowError, ValueError):
            pass


class _TarTruncated(Exception):
    """A missing or damaged header where the next member or the end-of-archive block should be
    (tarfile would silently treat it as the end of the archive)."""


_HEADER_ERRORS: tuple[type[Exception], ...] = (
    tarfile.EmptyHeaderError,  # type: ignore[attr-defined]
    tarfile.TruncatedHeaderError,  # type: ignore[attr-defined]
    tarfile.InvalidHeaderError,  # type: ignore[attr-defined]
)


class _CheckedTarInfo(tarfile.TarInfo):
    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tf)
        except _HEADER_ERRORS as e:
            if tf.offset == 0:  # tarfile.open probing the format: let tarfile handle it
                raise
            raise _TarTruncated(
                f"damaged or missing tar header at byte {tf.offset} ({e})"
            ) from None


def _extract_tar(archive: Path, tree: _Tree, budget: _Budget) -> None:
    data_filter = getattr(tarfile, "data_filter", None)
    with tarfile.open(archive, mode="r:*", tarinfo=_CheckedTarInfo) as tf:
        for member in tf:
            budget.count_member(member.name)
            if data_filter is not None:
                try:
                    data_filter(member, str(tree.root))
                except tarfile.FilterError as e:
                    raise _Refused(f"{member.name!r}: {e}") from None
            if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
                raise _Refused(f"{member.name!r} is a device file or FIFO")
            placed = tree.place(member.name)
            if member.issym():
                if placed is not None:
                    tree.symlink_ok(placed[0], member.linkname)
                    tree.symlinks.append((placed[0], placed[1], member.linkname))
                continue
            if placed is None:
                continue
            name, path = placed
            if member.isdir():
                tree.ensure_parent(path)
                path.mkdir(exist_ok=True)
                continue
            if member.islnk():
                src = tree.hardlink_source(name, member.linkname)
                tree.ensure_parent(path)
                os.link(src, path)
                tree.files[name] = src
                budget.files += 1
                continue
            if not member.isreg():
                raise _Refused(f"{member.name!r}: unsupported member type {member.type!r}")
            budget.check_declared(name, member.size)
            tree.ensure_parent(path)
            fh = tf.extractfile(member)
            if fh is None:
                raise _Refused(f"{member.name!r} has no data")
            with fh:
                _write_stream(fh, path, name, budget)
            _finish_file(path, member.mode, member.mtime)
            tree.files[name] = path
            budget.files += 1
        # read the compressed stream to its end so gzip/bz2/xz check their trailers
        fileobj = tf.fileobj
        if fileobj is not None:
            drained = 0
            while block := fileobj.read(_BUF):
                drained += len(block)
                if drained > budget.max_total_bytes:
                    raise _Refused("too much data after the end of the tar archive")


def _zip_members(zf: zipfile.ZipFile, budget: _Budget) -> Iterator[zipfile.ZipInfo]:
    """Checks the central directory up front (count, declared sizes, ratios)."""
    infos = zf.infolist()
    if len(infos) > budget.max_files:
        raise _Refused(f"{len(infos)} members, over the limit of {budget.max_files}")
    declared = sum(i.file_size for i in infos)
    if declared > budget.max_total_bytes:
        raise _Refused(
            f"declared uncompressed size {declared} bytes, over the limit of "
            f"{budget.max_total_bytes}"
        )
    for i in infos:
        if i.file_size >= RATIO_FLOOR_BYTES and i.file_size > budget.max_ratio * max(
            i.compress_size, 1
        ):
            raise _Refused(
                f"{i.filename!r}: compression ratio over {budget.max_ratio:g} "
                f"({i.file_size} from {i.compress_size} bytes): a likely zip bomb"
            )
    budget._check_ratio(declared, "(all members)")
    return iter(infos)


def _extract_zip(archive: Path, tree: _Tree, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in _zip_members(zf, budget):
            budget.count_member(info.filename)
            mode = info.external_attr >> 16
            placed = tree.place(info.filename)
            if stat.S_ISLNK(mode):
                if info.file_size > 4096:
                    raise _Refused(f"symlink {info.filename!r} with a {info.file_size}-byte target")
                target = zf.read(info).decode("utf-8", "surrogateescape")
                if placed is not None:
                    tree.symlink_ok(placed[0], target)
                    tree.symlinks.append((placed[0], placed[1], target))
                continue
            if mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
                raise _Refused(f"{info.filename!r} is a device file or FIFO")
            if mode and stat.S_ISSOCK(mode):
                raise _Refused(f"{info.filename!r} is a socket")
            if placed is None:
                continue
            name, path = placed
            if info.is_dir():
                tree.ensure_parent(path)
                path.mkdir(exist_ok=True)
                continue
            budget.check_declared(name, info.file_size)
            tree.ensure_parent(path)
            with zf.open(info) as fh:
                _write_stream(fh, path, name, budget)
            mtime = _zip_mtime(info)
            _finish_file(path, mode, mtime)
            tree.files[name] = path
            budget.files += 1


def _zip_mtime(info: zipfile.ZipInfo) -> float | None:
    import datetime

    try:
        return datetime.datetime(*info.date_time).timestamp()
    except (ValueError, OverflowError):
        return None


def _kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith(_TAR_SUFFIXES):
        return "tar"
    if zipfile.is_zipfile(archive):
        return "zip"
    try:
        if tarfile.is_tarfile(archive):
            return "tar"
    except (OSError, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError):
        pass
    raise DataError(
        f"{archive} is not a supported archive (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .zip)",
        fix="check the file; download it again if it is damaged",
    )


_CORRUPT = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,  # an unsupported zip compression method
    RuntimeError,  # an encrypted zip member
    _TarTruncated,
    UnicodeDecodeError,
)


def _describe(e: BaseException) -> str:
    return str(e) if isinstance(e, _TarTruncated) else f"{type(e).__name__}: {e}"


def safe_extract(
    archive: Path,
    target: Path,
    *,
    max_total_bytes: int,
    max_files: int,
    max_ratio: float = 200.0,
    strip_components: int = 0,
) -> ExtractResult:
    """Extract ``archive`` into ``target`` (which must not exist or be an empty folder) under the
    rules in the module docstring; ``strip_components`` drops leading path components like
    ``tar --strip-components`` (members with no more components are skipped)."""
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise DataError(f"{archive} does not exist", fix="download or copy the archive first")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DataError(
            f"{target} already exists", fix="delete it to extract again, or use it as it is"
        )
    kind = _kind(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
    budget = _Budget(archive, archive.stat().st_size, max_total_bytes, max_files, max_ratio)
    tree = _Tree(tmp, strip_components)
    try:
        try:
            (_extract_zip if kind == "zip" else _extract_tar)(archive, tree, budget)
            tree.make_symlinks()
        except _Refused as e:
            raise DataError(
                f"refusing to extract {archive.name}: {e}",
                fix="check where the archive came from; nothing was extracted",
            ) from None
        except _CORRUPT as e:
            raise DataError(
                f"{archive.name} is truncated or corrupt ({_describe(e)})",
                fix=f"delete {archive} and download it again",
            ) from None
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                free = shutil.disk_usage(target.parent).free
                raise DataError(
                    f"disk full extracting {archive.name} after {budget.written} bytes "
                    f"({free} bytes free in {target.parent})",
                    fix="free some space or extract elsewhere, then rerun",
                ) from None
            if e.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENOTEMPTY):
                raise DataError(
                    f"refusing to extract {archive.name}: members conflict ({e})",
                    fix="check where the archive came from; nothing was extracted",
                ) from None
            if e.errno is None:  # gzip and bz2 report bad data as OSError without an errno
                raise DataError(
                    f"{archive.name} is truncated or corrupt ({e})",
                    fix=f"delete {archive} and download it again",
                ) from None
            raise
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info(
        "extracted %s: %d files, %d bytes -> %s", archive, budget.files, budget.written, target
    )
    return ExtractResult(target=target, files=budget.files, bytes=budget.written)
