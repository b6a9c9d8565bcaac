"""download(): resume, retries, verification and failure handling against a real loopback server."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest
from tests.data_server import DataServer

from inferlab.core.errors import ConfigError, DataError, UnsupportedError
from inferlab.data import fetch
from inferlab.data.fetch import download
from inferlab.data.hashing import md5_file, normalize_hex, sha256_file
from inferlab.data.progress import CallbackProgress, NullProgress, RichProgress, progress_sink
from inferlab.data.r2 import (
    R2Dataset,
    download_r2,
    fetch_r2_dataset,
    parse_md5_listing,
    parse_uri_file,
    parse_uri_manifest,
    r2_md5_url,
)
from inferlab.data.transport import MirrorFailed, proxy_for, unreachable_reason

PAYLOAD = os.urandom(256 * 1024 + 123)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
CHUNK = 16 * 1024


@pytest.fixture
def server() -> Iterator[DataServer]:
    with DataServer({"/f.bin": PAYLOAD}) as srv:
        yield srv


def _no_sleep(_: float) -> None:
    pass


def _dl(url: str, dest: Path, **kw: object) -> fetch.DownloadResult:
    kw.setdefault("sleep", _no_sleep)
    kw.setdefault("chunk", CHUNK)
    kw.setdefault("progress", False)
    return download(url, dest, **kw)  # type: ignore[arg-type]


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_plain_download_verifies_and_places_atomically(server: DataServer, tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "f.bin"
    r = _dl(server.url("/f.bin"), dest, sha256=SHA, md5=MD5, size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert (r.bytes, r.sha256, r.md5, r.resumed, r.skipped) == (
        len(PAYLOAD),
        SHA,
        MD5,
        False,
        False,
    )
    assert not _part(dest).exists()
    assert server.requests_for("/f.bin")[0].headers.get("Range") is None


def test_interrupted_download_resumes_with_range(server: DataServer, tmp_path: Path) -> None:
    cut = 100_000
    # the first two answers stop at byte `cut`: the first call's retry (which resumes at `cut`)
    # adds nothing, so with retries=0 the call gives up and keeps the .part
    server.behave("/f.bin", cut_at=cut, cut_times=2)
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError, match="rerun"):
        _dl(server.url("/f.bin"), dest, sha256=SHA, retries=0)
    assert not dest.exists()
    assert _part(dest).stat().st_size == cut
    n_before = len(server.requests_for("/f.bin"))
    r = _dl(server.url("/f.bin"), dest, sha256=SHA)
    assert r.resumed and r.sha256 == SHA and dest.read_bytes() == PAYLOAD
    ranges = [q.headers.get("Range") for q in server.requests_for("/f.bin")[n_before:]]
    assert ranges == [f"bytes={cut}-"]


def test_dropped_connection_is_retried_within_one_call(server: DataServer, tmp_path: Path) -> None:
    server.behave("/f.bin", cut_at=50_000, cut_times=2)
    sleeps: list[float] = []
    dest = tmp_path / "f.bin"
    r = _dl(server.url("/f.bin"), dest, sha256=SHA, sleep=sleeps.append)
    assert r.resumed and dest.read_bytes() == PAYLOAD
    ranges = [q.headers.get("Range") for q in server.requests_for("/f.bin")]
    assert ranges == [None, "bytes=50000-", "bytes=50000-"]
    assert len(sleeps) == 2


def test_server_without_range_support_restarts_from_zero(
    server: DataServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.behave("/f.bin", ranges=False)
    dest = tmp_path / "f.bin"
    _part(dest).write_bytes(PAYLOAD[:70_000])
    with caplog.at_level(logging.INFO, logger="inferlab.data.fetch"):
        r = _dl(server.url("/f.bin"), dest, sha256=SHA)
    assert not r.resumed and dest.read_bytes() == PAYLOAD
    assert server.requests_for("/f.bin")[0].headers.get("Range") == "bytes=70000-"
    assert "ignored the Range" in caplog.text


def test_stale_garbage_part_is_caught_by_checksum(server: DataServer, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    _part(dest).write_bytes(b"\0" * 1000)  # resumed onto a wrong prefix
    with pytest.raises(DataError, match="sha256 mismatch"):
        _dl(server.url("/f.bin"), dest, sha256=SHA)
    assert not dest.exists() and not _part(dest).exists()
    assert len(list(tmp_path.glob("f.bin.bad-*"))) == 1
    # the rerun starts from zero and succeeds
    assert _dl(server.url("/f.bin"), dest, sha256=SHA).sha256 == SHA


def test_416_with_complete_part_verifies_without_body(server: DataServer, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    _part(dest).write_bytes(PAYLOAD)
    r = _dl(server.url("/f.bin"), dest, sha256=SHA)
    assert r.sha256 == SHA and dest.read_bytes() == PAYLOAD
    assert server.requests_for("/f.bin")[0].headers.get("Range") == f"bytes={len(PAYLOAD)}-"


def test_complete_part_with_known_size_needs_no_request(server: DataServer, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    _part(dest).write_bytes(PAYLOAD)
    assert _dl(server.url("/f.bin"), dest, sha256=SHA, size=len(PAYLOAD)).resumed
    assert server.requests == []


def test_wrong_checksum_moves_file_aside(server: DataServer, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    wrong = "0" * 64
    with pytest.raises(DataError) as ei:
        _dl(server.url("/f.bin"), dest, sha256=wrong)
    msg = str(ei.value)
    assert wrong in msg and SHA in msg and "fix:" in msg
    assert not dest.exists() and not _part(dest).exists()
    bad = tmp_path / f"f.bin.bad-{SHA[:12]}"
    assert bad.read_bytes() == PAYLOAD
    assert str(bad) in msg


def test_wrong_md5_moves_file_aside(server: DataServer, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError, match=f"md5 mismatch: expected {'a' * 32}, got {MD5}"):
        _dl(server.url("/f.bin"), dest, md5="A" * 32)
    assert (tmp_path / f"f.bin.bad-{SHA[:12]}").exists()


def test_truncated_transfer_retries_then_fails_keeping_part(
    server: DataServer, tmp_path: Path
) -> None:
    server.behave("/f.bin", cut_at=30_000, ranges=False)  # always cut, never resumable
    sleeps: list[float] = []
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError) as ei:
        _dl(server.url("/f.bin"), dest, sha256=SHA, retries=2, backoff=0.5, sleep=sleeps.append)
    assert "rerun" in str(ei.value) and "30000 of" in str(ei.value)
    assert _part(dest).stat().st_size == 30_000 and not dest.exists()
    # first attempt made progress (0 -> 30000): not counted; then 3 attempts without progress
    assert len(server.requests_for("/f.bin")) == 4
    assert sleeps == [0.5, 0.5, 1.0]


def test_no_content_length_with_expected_size(server: DataServer, tmp_path: Path) -> None:
    server.behave("/f.bin", content_length=False)
    dest = tmp_path / "f.bin"
    assert _dl(server.url("/f.bin"), dest, size=len(PAYLOAD)).bytes == len(PAYLOAD)


def test_transient_status_is_retried(server: DataServer, tmp_path: Path) -> None:
    server.behave("/f.bin", status=503, status_times=2)
    r = _dl(server.url("/f.bin"), tmp_path / "f.bin", sha256=SHA)
    assert r.sha256 == SHA and len(server.requests_for("/f.bin")) == 3


def test_404_fails_at_once_without_leaving_a_part(server: DataServer, tmp_path: Path) -> None:
    dest = tmp_path / "nope.bin"
    with pytest.raises(DataError, match="HTTP 404"):
        _dl(server.url("/nope.bin"), dest)
    assert len(server.requests) == 1 and not _part(dest).exists()


def test_a_failure_says_what_was_kept(server: DataServer, tmp_path: Path) -> None:
    """An empty .part is deleted and "nothing was kept" said; bytes kept are said with the path."""
    server.behave("/f.bin", status=503)
    dest = tmp_path / "f.bin"
    with pytest.raises(MirrorFailed) as ei:
        _dl(server.url("/f.bin"), dest, sha256=SHA, retries=1)
    assert ei.value.message.endswith("; nothing was kept") and "resume" not in str(ei.value)
    assert not _part(dest).exists() and ei.value.kept == 0 and not ei.value.unreachable
    assert ei.value.reason == "HTTP 503 Service Unavailable (1 retries)"
    _part(dest).write_bytes(PAYLOAD[:1000])
    with pytest.raises(MirrorFailed) as ei:
        _dl(server.url("/f.bin"), dest, sha256=SHA, retries=1)
    assert ei.value.message.endswith(f"; 1000 bytes kept in {_part(dest)} for a resume")
    assert "resumes from the partial file" in (ei.value.fix or "") and ei.value.kept == 1000


def test_disk_space_messages_say_what_was_kept(
    server: DataServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda p: _Usage(1000))
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError) as ei:
        _dl(server.url("/f.bin"), dest, size=len(PAYLOAD))
    assert ei.value.message.endswith("; nothing was kept") and "resume" not in str(ei.value)
    _part(dest).write_bytes(PAYLOAD[:10])
    with pytest.raises(DataError) as ei:
        _dl(server.url("/f.bin"), dest, size=len(PAYLOAD))
    assert ei.value.message.endswith(f"; 10 bytes kept in {_part(dest)} for a resume")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_host_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    port = _closed_port()
    sleeps: list[float] = []
    dest = tmp_path / "f.bin"
    with pytest.raises(MirrorFailed) as ei:
        _dl(f"http://127.0.0.1:{port}/f.bin", dest, sleep=sleeps.append, timeout=5)
    assert ei.value.unreachable and sleeps == [] and not _part(dest).exists()
    assert ei.value.reason == f"connection refused: 127.0.0.1:{port}"
    assert ei.value.message.endswith("; nothing was kept")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    assert proxy_for("http://example.org/x") == f"http://127.0.0.1:{port}"
    with pytest.raises(MirrorFailed) as ei:
        _dl("http://example.org/f.bin", dest, sleep=sleeps.append, timeout=5)
    assert ei.value.reason == f"connection refused: proxy 127.0.0.1:{port}"


def test_unreachable_reasons() -> None:
    url = "https://files.example.org/x"
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert unreachable_reason(URLError(gai), url) == "name resolution failed: files.example.org"
    assert unreachable_reason(URLError(TimeoutError()), url) == (
        "no answer to connect: files.example.org:443"
    )
    no_route = OSError(errno.EHOSTUNREACH, "No route to host")
    assert unreachable_reason(URLError(no_route), url) == (
        "no route to files.example.org: No route to host"
    )
    assert unreachable_reason(TimeoutError(), url) is None  # a slow answer, not unreachable
    assert unreachable_reason(URLError(ConnectionResetError()), url) is None


def test_server_size_differs_from_expected(server: DataServer, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"is {len(PAYLOAD)} bytes, expected 10"):
        _dl(server.url("/f.bin"), tmp_path / "f.bin", size=10)


def test_already_downloaded_dest_is_skipped_without_request(
    server: DataServer, tmp_path: Path
) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(PAYLOAD)
    r = _dl(server.url("/f.bin"), dest, sha256=SHA, size=len(PAYLOAD))
    assert r.skipped and r.sha256 == SHA and server.requests == []


def test_existing_dest_that_fails_is_moved_aside_and_redownloaded(
    server: DataServer, tmp_path: Path
) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old version")
    r = _dl(server.url("/f.bin"), dest, sha256=SHA)
    assert not r.skipped and dest.read_bytes() == PAYLOAD
    assert [p.read_bytes() for p in tmp_path.glob("f.bin.bad-*")] == [b"old version"]


def test_ctrl_c_keeps_part_and_rerun_resumes(server: DataServer, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    seen: list[int] = []

    def interrupt(done: int, total: int | None) -> None:
        seen.append(done)
        if done >= 5 * CHUNK:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _dl(server.url("/f.bin"), dest, sha256=SHA, progress=CallbackProgress(interrupt))
    kept = _part(dest).stat().st_size
    assert kept == 5 * CHUNK and not dest.exists()
    assert _part(dest).read_bytes() == PAYLOAD[:kept]
    totals: list[int | None] = []
    r = _dl(
        server.url("/f.bin"),
        dest,
        sha256=SHA,
        progress=CallbackProgress(lambda d, t: totals.append(t)),
    )
    assert r.resumed and dest.read_bytes() == PAYLOAD
    assert server.requests_for("/f.bin")[-1].headers.get("Range") == f"bytes={kept}-"
    assert set(totals) == {len(PAYLOAD)}


class _Usage:
    def __init__(self, free: int) -> None:
        self.total, self.used, self.free = 10 * free, 9 * free, free


def test_disk_space_precheck_fails_before_any_request(
    server: DataServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda p: _Usage(1000))
    with pytest.raises(DataError) as ei:
        _dl(server.url("/f.bin"), tmp_path / "f.bin", size=len(PAYLOAD))
    assert "1000 bytes" in str(ei.value) and f"{len(PAYLOAD)} bytes" in str(ei.value)
    assert server.requests == []


def test_disk_full_while_writing_keeps_part(
    server: DataServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = fetch._write_all
    written = [0]

    def full_after_two_chunks(fd: int, data: memoryview) -> None:
        if written[0] >= 2 * CHUNK:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, data)
        written[0] += len(data)

    frees = iter([10**12, 4096])  # plenty at the pre-check, then full
    monkeypatch.setattr(shutil, "disk_usage", lambda p: _Usage(next(frees)))
    monkeypatch.setattr(fetch, "_write_all", full_after_two_chunks)
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError) as ei:
        _dl(server.url("/f.bin"), dest, sha256=SHA)
    msg = str(ei.value)
    assert "disk full" in msg and "4096 bytes" in msg
    assert f"{len(PAYLOAD) - 2 * CHUNK} bytes" in msg  # what is still needed
    assert _part(dest).stat().st_size == 2 * CHUNK
    monkeypatch.undo()
    assert _dl(server.url("/f.bin"), dest, sha256=SHA).resumed


def test_file_url_and_local_path(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    r1 = _dl(src.as_uri(), tmp_path / "a.bin", sha256=SHA, size=len(PAYLOAD))
    r2 = _dl(str(src), tmp_path / "b.bin", md5=MD5)
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes() == PAYLOAD
    assert r1.sha256 == r2.sha256 == SHA and r2.md5 == MD5
    # resume from a partial local copy
    _part(tmp_path / "c.bin").write_bytes(PAYLOAD[:1234])
    assert _dl(src, tmp_path / "c.bin", sha256=SHA).resumed  # type: ignore[arg-type]
    with pytest.raises(DataError, match="does not exist"):
        _dl(str(tmp_path / "missing"), tmp_path / "d.bin")


def test_local_source_that_is_the_dest_is_never_moved(tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(PAYLOAD)
    with pytest.raises(DataError, match="sha256 mismatch"):
        _dl(str(dest), dest, sha256="1" * 64)
    assert dest.read_bytes() == PAYLOAD


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        download("http://127.0.0.1:1/x", Path("x"), sha256="nothex")
    with pytest.raises(UnsupportedError):
        download("ftp://example.org/x", Path("x"), progress=False)


def test_concurrent_download_of_same_dest_is_refused(tmp_path: Path) -> None:
    import fcntl

    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "f.bin"
    fd = os.open(_part(dest), os.O_WRONLY | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(DataError, match="another process"):
            _dl(str(src), dest)
    finally:
        os.close(fd)


def test_hash_helpers(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(PAYLOAD)
    assert sha256_file(p, chunk=1000) == SHA and md5_file(p) == MD5
    assert normalize_hex(f" {MD5.upper()} ", 32, "md5") == MD5
    assert normalize_hex(None, 32, "md5") is None
    with pytest.raises(ConfigError):
        normalize_hex("abc", 32, "md5")


def test_rich_progress_bar(server: DataServer, tmp_path: Path) -> None:
    r = _dl(server.url("/f.bin"), tmp_path / "f.bin", sha256=SHA, progress=RichProgress())
    assert r.sha256 == SHA


def test_progress_sink_choice() -> None:
    assert isinstance(progress_sink(False), NullProgress)
    assert isinstance(progress_sink(True), NullProgress)  # stderr is not a terminal under pytest
    sink = CallbackProgress(lambda d, t: None)
    assert progress_sink(sink) is sink


# --- MLCommons R2 listings ---------------------------------------------------------------------


def test_parse_uri_and_md5_listing() -> None:
    base = parse_uri_file("https://inference.mlcommons-storage.org/llama3.1_8b/datasets\n")
    assert base == "https://inference.mlcommons-storage.org/llama3.1_8b/datasets"
    md5_text = f"{MD5}  ./cnn_eval.json\n{'b' * 32} *sub dir/x.bin\n\n"
    files = parse_uri_manifest(base + "\n", md5_text)
    assert [(f.path, f.md5) for f in files] == [("cnn_eval.json", MD5), ("sub dir/x.bin", "b" * 32)]
    assert files[1].url == base + "/sub%20dir/x.bin"
    assert files[0].size is None and files[0].sha256 is None
    for bad in ("", "a\nb", "not a url"):
        with pytest.raises(DataError, match=".uri"):
            parse_uri_file(bad)
    for bad_line in (f"{MD5}  ../etc/passwd", f"{MD5}  /abs", "zz  file"):
        with pytest.raises(DataError):
            parse_md5_listing(bad_line, base)
    assert r2_md5_url("https://h/metadata/x-y.uri") == "https://h/metadata/x-y.md5"
    with pytest.raises(ConfigError):
        r2_md5_url("https://h/metadata/x.url")


def test_r2_dataset_end_to_end(tmp_path: Path) -> None:
    other = b"second file\n" * 100
    files = {
        "/metadata/demo.uri": b"BASE/data/demo\n",
        "/data/demo/a.bin": PAYLOAD,
        "/data/demo/nested/b.txt": other,
    }
    with DataServer(files) as srv:
        srv.files["/metadata/demo.uri"] = srv.url("/data/demo").encode() + b"\n"
        srv.files["/metadata/demo.md5"] = (
            f"{MD5}  ./a.bin\n{hashlib.md5(other).hexdigest()}  nested/b.txt\n".encode()
        )
        ds = fetch_r2_dataset(srv.url("/metadata/demo.uri"))
        assert isinstance(ds, R2Dataset) and ds.name == "demo" and ds.default_dir == "demo"
        results = download_r2(ds, tmp_path / "demo", progress=False)
    assert [r.path for r in results] == [tmp_path / "demo/a.bin", tmp_path / "demo/nested/b.txt"]
    assert (tmp_path / "demo/nested/b.txt").read_bytes() == other
    assert all(r.md5 for r in results)
