"""Resumable, verified downloads: http, https, file:// and local paths (R2 listings: ``r2.py``;
opening the source at an offset: ``transport.py``; checksums: ``hashing.py``).

:func:`download` writes ``<dest>.part`` and moves it to ``dest`` (``os.replace``, file and
directory fsynced) only after the size and the given checksum(s) match, so ``dest`` is either
absent or complete and verified. A ``dest`` that already verifies is returned without a request
(one with no size or checksum to check is trusted); one that fails is moved aside like a bad
download (below) and fetched again.

* **Resume.** An existing ``.part`` is continued with ``Range: bytes=N-``: a 206 answer is
  appended (its ``Content-Range`` must start at N); a 200 answer (the server ignores ranges)
  restarts from zero; a 416 answer means the ``.part`` already holds everything, which the
  checksum then confirms, or else the download restarts. Hashing is incremental and covers the
  resumed prefix too.
* **Failures.** A transfer cut short (connection dropped, fewer bytes than ``Content-Length``,
  5xx, timeout) keeps the ``.part`` and is retried with exponential backoff; ``retries`` counts
  consecutive attempts that add no bytes, so a slow flaky link still finishes. When they run out,
  :class:`~inferlab.data.transport.MirrorFailed` says so. A host (or proxy) that cannot be
  reached at all (name resolution, connection refused, no answer to connect, no route) is not
  retried: ``MirrorFailed`` with ``unreachable`` set, so that the caller tries the next mirror.
  A wrong checksum moves the file aside to ``<dest>.bad-<sha256 prefix>`` (kept for inspection,
  never used) and raises. A full disk (checked before starting when the size is known, and
  ``ENOSPC`` while writing) raises with the free and needed bytes. Ctrl-C propagates; the next
  call resumes. A second process downloading the same ``dest`` at once gets a
  :class:`DataError`.
* **What is kept.** A ``.part`` that holds bytes is kept for the next call to resume; an empty
  one is deleted. A failure's message says which: "N bytes kept in <dest>.part for a resume", or
  "nothing was kept".
"""

from __future__ import annotations

import errno
import fcntl
import http.client
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from inferlab.core.errors import DataError
from inferlab.data.hashing import Hashers, hash_file, normalize_hex, sha256_file
from inferlab.data.progress import ProgressSink, progress_sink
from inferlab.data.transport import (
    BadRange,
    Body,
    MirrorFailed,
    RangeNotSatisfiable,
    Transient,
    Unreachable,
    local_path,
    open_http,
    open_local,
)

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    bytes: int
    sha256: str | None  # always set after a transfer; None for a skip that had no sha256 to check
    md5: str | None  # set when an md5 was expected
    resumed: bool  # the final transfer appended to bytes kept from an earlier attempt or call
    skipped: bool  # dest already verified; no request was made
    seconds: float
    url: str


def _write_all(fd: int, data: memoryview) -> None:
    """Write every byte (the raw file may accept fewer per call). Tests replace this."""
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _mib(n: int | None) -> str:
    return "unknown" if n is None else f"{n} bytes ({n / 2**20:.1f} MiB)"


class _Stopped(Exception):
    """A download that stops with its ``.part`` as it is: :func:`download` deletes an empty
    one and raises the error, saying what was kept. ``reason`` (the source's fault: the error is
    a :class:`MirrorFailed`) or None (a local cause: a full disk)."""

    def __init__(
        self, message: str, fix: str, reason: str | None = None, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        self.message, self.fix, self.reason, self.unreachable = message, fix, reason, unreachable

    def error(self, url: str, part: Path, kept: int) -> DataError:
        """The error to raise, ``kept`` bytes being left in ``part``."""
        if kept > 0:
            message = f"{self.message}; {kept} bytes kept in {part} for a resume"
            fix = f"{self.fix}: the download resumes from the partial file"
        else:
            message, fix = f"{self.message}; nothing was kept", self.fix
        if self.reason is None:
            return DataError(message, fix)
        return MirrorFailed(
            message, fix, url=url, reason=self.reason, unreachable=self.unreachable, kept=kept
        )


class _Part:
    """The ``.part`` file, opened for appending and locked for one download call."""

    def __init__(self, path: Path, algos: tuple[str, ...], chunk: int) -> None:
        self.path = path
        self.hashers = Hashers(algos)
        self.chunk = chunk
        self.fd = -1

    @contextmanager
    def open(self) -> Iterator[_Part]:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DataError(
                    f"{self.path} is being written by another process",
                    fix="wait for the other download to finish, or stop it and rerun",
                ) from None
            yield self
        finally:
            os.close(self.fd)
            self.fd = -1

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def restart(self) -> None:
        os.ftruncate(self.fd, 0)
        self.hashers.reset()

    def sync_hashes(self) -> None:
        """Make the hashers cover exactly the bytes on disk (re-reading the prefix if needed)."""
        size = self.size()
        if self.hashers.n == size:
            return
        self.hashers.reset()
        with open(self.path, "rb") as fh:
            while self.hashers.n < size and (
                block := fh.read(min(self.chunk, size - self.hashers.n))
            ):
                self.hashers.update(block)

    def append(self, data: bytes) -> None:
        _write_all(self.fd, memoryview(data))
        self.hashers.update(data)


def _check_space(directory: Path, needed: int, total: int | None, what: str) -> None:
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise _Stopped(
            f"not enough disk space for {what}: {_mib(free)} free in {directory}, "
            f"{_mib(needed)} more needed (total size {_mib(total)})",
            "free some space or choose another data directory, then rerun",
        )


class _Downloader:
    def __init__(
        self,
        url: str,
        dest: Path,
        *,
        expect_sha256: str | None,
        expect_md5: str | None,
        size: int | None,
        sink: ProgressSink,
        timeout: float,
        chunk: int,
        headers: Mapping[str, str],
    ) -> None:
        self.url, self.dest = url, dest
        self.local = local_path(url)
        self.sha256, self.md5, self.size = expect_sha256, expect_md5, size
        self.sink, self.timeout, self.chunk, self.headers = sink, timeout, chunk, headers
        self.resumed = False

    def attempt(self, part: _Part) -> None:
        """One transfer into ``part``; returns when the source is exhausted (or the .part is
        already complete). Raises Transient for retryable failures."""
        offset = part.size()
        if self.size is not None and offset > self.size:
            log.info("%s is larger than expected; restarting from zero", part.path)
            part.restart()
            offset = 0
        if self.size is not None and offset == self.size and offset:
            self.resumed = True
            return  # complete; the checksum decides
        try:
            if self.local is None:
                stream = open_http(self.url, offset, self.headers, self.timeout)
            else:
                stream = open_local(self.local, offset)
        except RangeNotSatisfiable as e:
            if e.total == offset or (e.total is None and self.size in (None, offset)):
                log.info("server says %s is already complete (HTTP 416)", part.path)
                self.resumed = True
                return
            log.info("HTTP 416 for a %d-byte partial file; restarting from zero", offset)
            part.restart()
            raise Transient("range not satisfiable; restarted") from None
        except BadRange as e:
            log.warning("server answered Range %d- with Content-Range %s; restarting", offset, e)
            part.restart()
            raise Transient("mismatched Content-Range; restarted") from None
        try:
            if stream.start != offset:
                log.info("server ignored the Range request; restarting %s from zero", part.path)
                part.restart()
            self.resumed = stream.start > 0
            if self.size is not None and stream.total is not None and stream.total != self.size:
                raise DataError(
                    f"{self.url} is {stream.total} bytes, expected {self.size}",
                    fix="the source changed or the expected size is wrong; check the source",
                )
            total = stream.total if stream.total is not None else self.size
            if total is not None:
                _check_space(self.dest.parent, total - stream.start, total, self.dest.name)
            part.sync_hashes()
            self._copy(stream.body, part, total)
        finally:
            stream.body.close()
        have = part.size()
        if total is not None and have < total:
            raise Transient(f"transfer cut short: {have} of {total} bytes")

    def _copy(self, body: Body, part: _Part, total: int | None) -> None:
        done = part.size()
        self.sink.start(self.dest.name, total, done)
        while True:
            try:
                block = body.read(self.chunk)
            except (OSError, http.client.HTTPException) as e:
                if self.local is not None:
                    raise DataError(f"cannot read {self.local}: {e}", fix="check the file") from e
                raise Transient(f"connection lost after {done} bytes: {e}") from None
            if not block:
                return
            try:
                part.append(block)
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    free = shutil.disk_usage(self.dest.parent).free
                    need = None if total is None else total - part.size()
                    raise _Stopped(
                        f"disk full while writing {part.path}: {_mib(free)} free, "
                        f"{_mib(need)} more needed (total size {_mib(total)})",
                        "free some space or choose another data directory, then rerun",
                    ) from e
                raise
            done += len(block)
            self.sink.update(done)


def download(
    url: str | os.PathLike[str],
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    progress: bool | ProgressSink = True,
    timeout: float = 60,
    retries: int = 3,
    chunk: int = 1 << 20,
    headers: Mapping[str, str] | None = None,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadResult:
    """Download ``url`` to ``dest``, verified (size and checksums given) and atomically placed.

    See the module docstring for resume, retry and failure behaviour. ``headers`` are sent with
    every request (an access token, say); ``sleep`` and ``backoff`` shape the retry waits."""
    t0 = time.monotonic()
    url = os.fspath(url)
    dest = Path(dest)
    expect_sha = normalize_hex(sha256, 64, "sha256")
    expect_md5 = normalize_hex(md5, 32, "md5")
    algos = ("sha256", "md5") if expect_md5 else ("sha256",)
    dl = _Downloader(
        url,
        dest,
        expect_sha256=expect_sha,
        expect_md5=expect_md5,
        size=size,
        sink=progress_sink(progress),
        timeout=timeout,
        chunk=chunk,
        headers=dict(headers or {}),
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        skipped = _verify_existing(dl, dest, chunk, t0)
        if skipped is not None:
            return skipped
    part_path = dest.with_name(dest.name + ".part")
    if size is not None:
        have = part_path.stat().st_size if part_path.exists() else 0
        try:
            _check_space(dest.parent, max(size - have, 0), size, dest.name)
        except _Stopped as stop:
            raise stop.error(url, part_path, have) from None

    part = _Part(part_path, algos, chunk)
    with part.open():
        try:
            _transfer(dl, part, retries, backoff, sleep)
        except BaseException as exc:
            kept = part.size()
            if kept == 0:  # nothing worth keeping for a resume
                part.path.unlink(missing_ok=True)
            if isinstance(exc, MirrorFailed):
                exc.kept, exc.part = kept, part.path
            if isinstance(exc, _Stopped):
                error = exc.error(url, part.path, kept)
                if isinstance(error, MirrorFailed):
                    error.part = part.path
                raise error from exc.__cause__
            raise
        finally:
            dl.sink.finish()
        part.sync_hashes()
        os.fsync(part.fd)
        digests = part.hashers.hexdigests()
        nbytes = part.size()
        problem = _mismatch(dl, nbytes, digests)
        if problem:
            bad = dest.with_name(f"{dest.name}.bad-{digests['sha256'][:12]}")
            os.replace(part.path, bad)
            raise DataError(
                f"{dest.name} from {url}: {problem}; the file was moved aside to {bad}",
                fix="delete it and rerun; if it happens again, check that the source URL and the "
                "expected checksum refer to the same version",
            )
        os.replace(part.path, dest)
    _fsync_dir(dest.parent)
    log.info("downloaded %s (%d bytes)", dest, nbytes)
    return DownloadResult(
        path=dest,
        bytes=nbytes,
        sha256=digests["sha256"],
        md5=digests.get("md5"),
        resumed=dl.resumed,
        skipped=False,
        seconds=time.monotonic() - t0,
        url=url,
    )


def _transfer(
    dl: _Downloader, part: _Part, retries: int, backoff: float, sleep: Callable[[float], None]
) -> None:
    """Attempts until one completes; ``retries`` consecutive attempts without progress at most,
    none when the host cannot be reached (the caller tries the next mirror)."""
    failures = 0
    while True:
        before = part.size()
        try:
            dl.attempt(part)
            return
        except Unreachable as e:
            raise _Stopped(
                f"cannot reach the host of {dl.url} ({e.reason})",
                "check the network and the proxy settings (HTTPS_PROXY, HTTP_PROXY), then rerun",
                reason=e.reason,
                unreachable=True,
            ) from None
        except Transient as e:
            failures = 0 if part.size() > before else failures + 1
            if failures > retries:
                raise _Stopped(
                    f"download of {dl.url} failed after {retries} retries without progress ({e})",
                    "rerun the same command later",
                    reason=f"{e} ({retries} retries)",
                ) from None
            delay = min(backoff * 2 ** max(failures - 1, 0), _MAX_BACKOFF_S)
            log.warning("%s: %s; retrying in %.1f s", dl.dest.name, e, delay)
            sleep(delay)


def _mismatch(dl: _Downloader, nbytes: int, digests: Mapping[str, str]) -> str | None:
    if dl.size is not None and nbytes != dl.size:
        return f"size {nbytes} bytes, expected {dl.size}"
    if dl.sha256 is not None and digests.get("sha256") != dl.sha256:
        return f"sha256 mismatch: expected {dl.sha256}, got {digests.get('sha256')}"
    if dl.md5 is not None and digests.get("md5") != dl.md5:
        return f"md5 mismatch: expected {dl.md5}, got {digests.get('md5')}"
    return None


def _verify_existing(dl: _Downloader, dest: Path, chunk: int, t0: float) -> DownloadResult | None:
    """A verified ``dest`` -> a skipped result. A ``dest`` that fails is moved aside (or, if it
    is the source itself, reported) and None is returned so it is downloaded again."""
    nbytes = dest.stat().st_size
    algos = tuple(a for a, v in (("sha256", dl.sha256), ("md5", dl.md5)) if v)
    if dl.size is not None and nbytes != dl.size:
        digests = hash_file(dest, ("sha256",), chunk)
        problem: str | None = f"size {nbytes} bytes, expected {dl.size}"
    else:
        digests = hash_file(dest, algos, chunk) if algos else {}
        problem = _mismatch(dl, nbytes, digests)
    if problem is None:
        log.info("%s already present and verified; skipping", dest)
        return DownloadResult(
            path=dest,
            bytes=nbytes,
            sha256=digests.get("sha256"),
            md5=digests.get("md5"),
            resumed=False,
            skipped=True,
            seconds=time.monotonic() - t0,
            url=dl.url,
        )
    if dl.local is not None and dl.local.resolve() == dest.resolve():
        raise DataError(f"{dest}: {problem}", fix="replace the file with a correct copy")
    sha = digests.get("sha256") or sha256_file(dest, chunk)
    bad = dest.with_name(f"{dest.name}.bad-{sha[:12]}")
    log.warning(
        "%s exists but does not verify (%s); moved to %s, downloading again", dest, problem, bad
    )
    os.replace(dest, bad)
    return None
