"""The record of what ``inferlab prepare`` verified under a data root.

One JSON file per data root, ``<root>/.inferlab/manifest.json``::

    {"schema_version": 1,
     "entries": {"my-dataset-val": {"id": ..., "kind": "dir", "path": "my-dataset-val",
                                    "size": ..., "file_count": 50001, "sha256": ...,
                                    "verified_at": ..., "source": ..., "verification": ...,
                                    "mtime": ...}, ...}}

``path`` is relative to the root (so the root can move). For a file, ``size``/``mtime`` are the
file's and ``sha256`` (or ``md5``) its digest; for a folder, ``size`` is the total of its regular
files, ``file_count`` their number, ``mtime`` the newest of their mtimes, and ``sha256`` a tree
digest (:func:`tree_sha256`: sha256 of the sorted ``relative path NUL size NUL sha256`` lines).
``.inferlab`` folders are never counted.

:func:`quick_check` compares size, mtime and file count (a stat walk: fast enough to run before
every run); :func:`full_check` also re-hashes. Writes are load-merge-save under an exclusive
``fcntl.flock`` on ``manifest.lock`` with an atomic replace, so two processes recording
different entries both keep theirs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from inferlab.core.clock import now_iso
from inferlab.core.errors import DataError
from inferlab.core.files import atomic_write_json
from inferlab.data.hashing import md5_file, sha256_file

SCHEMA_VERSION = 1
MANIFEST_DIR = ".inferlab"
_MTIME_TOLERANCE_S = 1e-3


@dataclass(frozen=True)
class ManifestEntry:
    id: str
    kind: Literal["file", "dir"]
    path: str  # POSIX, relative to the data root
    size: int  # bytes (a folder: its regular files together)
    sha256: str | None = None  # a folder: tree digest
    md5: str | None = None
    file_count: int | None = None  # folders only
    verified_at: str = ""
    source: str = ""  # a URL, or "user-provided from PATH"
    verification: str = "sha256"  # "sha256" | "md5" | "size+count" | "sample-decode" | ...
    mtime: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ManifestEntry:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class CheckResult:
    id: str
    ok: bool
    problems: tuple[str, ...]
    seconds: float

    @property
    def detail(self) -> str:
        """One line: "ok" or the problems."""
        return "ok" if self.ok else "; ".join(self.problems)


@dataclass(frozen=True)
class _Stat:
    size: int
    count: int
    mtime: float | None
    broken: tuple[str, ...] = ()


def _walk_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, path) of the files under ``folder``, sorted, without ``.inferlab``."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != MANIFEST_DIR)
        base = Path(dirpath)
        for name in sorted(filenames):
            p = base / name
            yield p.relative_to(folder).as_posix(), p


def _stat_tree(folder: Path) -> _Stat:
    size = count = 0
    newest: float | None = None
    broken = []
    for rel, p in _walk_files(folder):
        try:
            st = p.stat()
        except FileNotFoundError:
            broken.append(rel)
            continue
        size += st.st_size
        count += 1
        newest = st.st_mtime if newest is None else max(newest, st.st_mtime)
    return _Stat(size, count, newest, tuple(broken))


def tree_sha256(folder: Path, chunk: int = 1 << 20) -> str:
    """Digest of a folder: sha256 over sorted ``path NUL size NUL sha256(file)`` lines."""
    h = hashlib.sha256()
    for rel, p in _walk_files(folder):
        digest = sha256_file(p, chunk)
        h.update(f"{rel}\0{p.stat().st_size}\0{digest}\n".encode())
    return h.hexdigest()


def describe(
    root: Path,
    rel: str,
    *,
    id: str | None = None,
    source: str,
    verification: str | None = None,
    hash: bool = True,
) -> ManifestEntry:
    """An entry for ``root/rel`` as it is on disk now (hashing it unless ``hash=False``)."""
    path = root / rel
    if path.is_dir():
        st = _stat_tree(path)
        return ManifestEntry(
            id=id or rel,
            kind="dir",
            path=Path(rel).as_posix(),
            size=st.size,
            sha256=tree_sha256(path) if hash else None,
            file_count=st.count,
            verified_at=now_iso(),
            source=source,
            verification=verification or ("tree-sha256" if hash else "size+count"),
            mtime=st.mtime,
        )
    if not path.is_file():
        raise DataError(f"{path} does not exist", fix="prepare it first")
    fst = path.stat()
    return ManifestEntry(
        id=id or rel,
        kind="file",
        path=Path(rel).as_posix(),
        size=fst.st_size,
        sha256=sha256_file(path) if hash else None,
        verified_at=now_iso(),
        source=source,
        verification=verification or ("sha256" if hash else "size"),
        mtime=fst.st_mtime,
    )


def _mtime_differs(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) > _MTIME_TOLERANCE_S


def _quick_problems(entry: ManifestEntry, root: Path) -> list[str]:
    path = root / entry.path
    if entry.kind == "file":
        if not path.is_file():
            return [f"{entry.path} is missing"]
        st = path.stat()
        problems = []
        if st.st_size != entry.size:
            problems.append(f"{entry.path} is {st.st_size} bytes, was {entry.size}")
        if _mtime_differs(st.st_mtime, entry.mtime):
            problems.append(f"{entry.path} was modified after it was verified")
        return problems
    if not path.is_dir():
        return [f"folder {entry.path} is missing"]
    tree = _stat_tree(path)
    problems = [f"{entry.path}/{b} is a broken link" for b in tree.broken[:3]]
    if entry.file_count is not None and tree.count != entry.file_count:
        problems.append(f"{entry.path} has {tree.count} files, was {entry.file_count}")
    if tree.size != entry.size:
        problems.append(f"{entry.path} holds {tree.size} bytes, was {entry.size}")
    if _mtime_differs(tree.mtime, entry.mtime):
        problems.append(f"files in {entry.path} were modified after it was verified")
    return problems


def quick_check(entry: ManifestEntry, root: Path) -> CheckResult:
    """Size, mtime and file count against the entry (no hashing)."""
    t0 = time.monotonic()
    problems = _quick_problems(entry, Path(root))
    return CheckResult(entry.id, not problems, tuple(problems), time.monotonic() - t0)


def full_check(entry: ManifestEntry, root: Path) -> CheckResult:
    """:func:`quick_check` plus re-hashing (sha256, md5 or the tree digest, whichever the entry
    holds); an entry without a digest gets the quick check only."""
    t0 = time.monotonic()
    root = Path(root)
    problems = _quick_problems(entry, root)
    path = root / entry.path
    missing = any("missing" in p for p in problems)
    if not missing and entry.kind == "file" and (entry.sha256 or entry.md5):
        if entry.sha256 and (got := sha256_file(path)) != entry.sha256:
            problems.append(f"{entry.path}: sha256 {got}, expected {entry.sha256}")
        elif not entry.sha256 and entry.md5 and (got := md5_file(path)) != entry.md5:
            problems.append(f"{entry.path}: md5 {got}, expected {entry.md5}")
    elif not missing and entry.kind == "dir" and entry.sha256:
        if (got := tree_sha256(path)) != entry.sha256:
            problems.append(f"{entry.path}: content digest {got}, expected {entry.sha256}")
    return CheckResult(entry.id, not problems, tuple(problems), time.monotonic() - t0)


@dataclass
class Manifest:
    """The manifest of one data root. :meth:`record` changes this copy; :meth:`save` merges
    those changes into the file on disk under the lock."""

    root: Path
    entries: dict[str, ManifestEntry] = field(default_factory=dict)
    _changed: dict[str, ManifestEntry | None] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> Path:
        return self.root / MANIFEST_DIR / "manifest.json"

    @classmethod
    def load(cls, root: Path) -> Manifest:
        """The manifest of ``root`` (empty when there is none yet)."""
        m = cls(Path(root))
        m.entries = m._read()
        return m

    def _read(self) -> dict[str, ManifestEntry]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise DataError(
                f"cannot read {self.path}: {e}",
                fix="delete it and run `inferlab prepare` again to re-verify",
            ) from e
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version != SCHEMA_VERSION:
            raise DataError(
                f"{self.path} has schema_version {version!r}; this inferlab reads {SCHEMA_VERSION}",
                fix="upgrade inferlab, or delete the file and run `inferlab prepare` again",
            )
        try:
            return {k: ManifestEntry.from_json(v) for k, v in data.get("entries", {}).items()}
        except (TypeError, AttributeError) as e:
            raise DataError(
                f"{self.path} is malformed: {e}",
                fix="delete it and run `inferlab prepare` again to re-verify",
            ) from e

    def get(self, id: str) -> ManifestEntry | None:
        return self.entries.get(id)

    def record(self, entry: ManifestEntry) -> None:
        self.entries[entry.id] = entry
        self._changed[entry.id] = entry

    def remove(self, id: str) -> None:
        self.entries.pop(id, None)
        self._changed[id] = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name("manifest.lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def save(self) -> None:
        """Merge this copy's changes into the file (re-read under the lock) and write it
        atomically; afterwards ``entries`` is what the file holds."""
        with self._locked():
            current = self._read()
            for id, entry in self._changed.items():
                if entry is None:
                    current.pop(id, None)
                else:
                    current[id] = entry
            payload = {
                "schema_version": SCHEMA_VERSION,
                "entries": {k: current[k].to_json() for k in sorted(current)},
            }
            atomic_write_json(self.path, payload)
            self.entries = current
            self._changed.clear()

    def quick_check(self, entry: ManifestEntry) -> CheckResult:
        return quick_check(entry, self.root)

    def full_check(self, entry: ManifestEntry) -> CheckResult:
        return full_check(entry, self.root)
