"""The output directory: checked before a run starts, and room kept for result.json.

A run that cannot write its results must say so before it spends any time (exit code 2, one
``error:`` line with the fix), and a run whose disk fills while it runs must still leave a
``result.json`` saying so. :func:`check_out_dir` is the first; :class:`ResultReserve` (a file
of :data:`RESERVE_BYTES` held in the run directory and given back just before ``result.json`` is
written, if the disk is full then) is the second.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from inferlab.core.errors import ConfigError
from inferlab.core.files import atomic_write_json
from inferlab.results.models import ErrorInfo, RunResult

log = logging.getLogger(__name__)

MIN_FREE_BYTES = 16 * 2**20  # a quick run writes < 1 MiB; a long Server run's detail log more
RESERVE_BYTES = 1 * 2**20  # result.json is ~10-50 kB; metrics files are not worth the room
RESERVE_NAME = ".inferlab-reserve"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _first_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            return p
    return Path("/")


def check_out_dir(out: Path, *, min_free: int = MIN_FREE_BYTES) -> None:
    """Refuse an ``--out`` that a run could not write into, before anything runs: a path
    through a regular file, a directory without write permission, a read-only file system,
    or one with less than ``min_free`` bytes free. Creates ``out`` (as the run would)."""
    fix_other = "choose another --out (a directory you can write to)"
    top = _first_existing(out)
    if not top.is_dir():
        kind = "a file" if top.is_file() else "not a directory"
        where = "it" if top == out else f"{top}"
        raise ConfigError(
            f"--out {out} cannot hold run directories: {where} is {kind}",
            f"{fix_other}, or move {top} away",
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".inferlab-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"--out {out} is not writable: {exc.strerror or exc}", _fix_for(exc, out)
        ) from None
    free = free_bytes(out)
    if free is not None and free < min_free:
        raise ConfigError(
            f"--out {out} has {_mib(free)} free; a run needs at least {_mib(min_free)} "
            "(LoadGen's logs, result.json)",
            f"free space on that file system, or {fix_other}",
        )


def _fix_for(exc: OSError, out: Path) -> str:
    if exc.errno == errno.EROFS:
        return "that file system is mounted read-only; choose another --out"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"give yourself write permission on {out} (or its parent), or choose another --out"
    if exc.errno in DISK_FULL:
        return "the disk is full: free space on it, or choose another --out"
    return "choose another --out (a directory you can write to)"


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on path's file system (None: unknown)."""
    try:
        st = os.statvfs(path)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def disk_full_note(run_dir: Path) -> str | None:
    """A sentence for a failed run's error when the run directory's disk is (nearly) full."""
    free = free_bytes(run_dir)
    if free is None or free >= RESERVE_BYTES:
        return None
    return (
        f"the disk holding {run_dir} is full ({_mib(free)} free): LoadGen's logs may be "
        "truncated; free space, or rerun with another --out"
    )


def with_disk_note(result: RunResult, run_dir: Path) -> RunResult:
    """``result`` with the full disk named in its error when the run failed on a full disk
    (logged in any case: metrics files may be missing)."""
    full = disk_full_note(run_dir)
    if full is None:
        return result
    log.warning("%s", full)
    if result.status != "failed":
        return result
    err = result.error
    note = ErrorInfo(kind="disk-full", message=full)
    if err is not None:
        note = ErrorInfo(kind=err.kind, message=f"{err.message}; {full}")
    return result.model_copy(update={"error": note})


class ResultReserve:
    """Room for result.json, held from the start of a run (a file of ``size`` bytes).

    :meth:`write_result` writes result.json atomically; if the disk is full, it gives the
    reserve back and tries once more. The reserve file is always removed at the end."""

    def __init__(self, run_dir: Path, size: int = RESERVE_BYTES) -> None:
        self.path = run_dir / RESERVE_NAME
        self.held = False
        try:
            with open(self.path, "wb") as fh:
                fh.write(b"\0" * size)  # real blocks: fallocate is not on every file system
                fh.flush()
                os.fsync(fh.fileno())
            self.held = True
        except OSError:  # no room even for the reserve: the run will say so at the end
            self.release()

    def release(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self.held = False

    def write_result(self, path: Path, data: Any) -> bool:
        """Write ``data`` as JSON to ``path``; True when the reserve had to be used."""
        try:
            atomic_write_json(path, data)
            return False
        except OSError as exc:
            if exc.errno not in DISK_FULL or not self.held:
                raise
            self.release()
            atomic_write_json(path, data)
            return True
        finally:
            self.release()
