"""Where download bytes come from: an http(s) response opened at an offset (``Range``), or a
local file (``file://`` URL or plain path) opened at an offset; which failures are transient,
which mean the host (or the proxy) cannot be reached at all, and which are the URL's own
(:class:`MirrorFailed`: another mirror of the same file may still work).

Used by :mod:`inferlab.data.fetch` (resumable verified downloads) and :mod:`inferlab.data.r2`.
"""

from __future__ import annotations

import errno
import http.client
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from inferlab.core.errors import DataError, UnsupportedError

_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


class Transient(Exception):
    """A failure worth retrying; the .part is kept."""


class Unreachable(Transient):
    """The host, or the proxy in between, cannot be reached: its name does not resolve, the
    connection is refused, not answered within the timeout, or there is no route. ``reason`` is
    the short cause, e.g. "connection refused: 127.0.0.1:9". The next mirror is tried instead
    of this one again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MirrorFailed(DataError):
    """One URL of a file failed in a way that another mirror of the file may not: the host
    cannot be reached (``unreachable``), an HTTP error, retries without progress. ``reason`` is
    the short cause; ``kept`` the bytes of the partial file ``part`` kept for a resume."""

    def __init__(
        self,
        message: str,
        fix: str,
        *,
        url: str,
        reason: str,
        unreachable: bool = False,
        kept: int = 0,
    ) -> None:
        super().__init__(message, fix)
        self.url, self.reason, self.unreachable, self.kept = url, reason, unreachable, kept
        self.part: Path | None = None


_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}


def open_url(req: urllib.request.Request, timeout: float) -> http.client.HTTPResponse:
    """``urlopen`` with the proxy settings as they are now (``urlopen``'s own opener keeps those
    of its first call), so that :func:`proxy_for` names the proxy that was used."""
    resp: http.client.HTTPResponse = urllib.request.build_opener().open(req, timeout=timeout)
    return resp


def proxy_for(url: str) -> str | None:
    """The proxy urllib sends ``url`` through (HTTPS_PROXY, HTTP_PROXY, ...), or None."""
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def unreachable_reason(exc: BaseException, url: str) -> str | None:
    """Why ``url``'s host (or its proxy) cannot be reached, from what ``urlopen`` raised; None
    for any other failure (an HTTP error, a TLS error, a dropped connection)."""
    if not isinstance(exc, urllib.error.URLError):
        return None  # urlopen wraps what connecting raises; a bare timeout is a slow answer
    cause = exc.reason
    proxy = proxy_for(url)
    target = urllib.parse.urlsplit(proxy if proxy else url)
    if proxy and "//" not in proxy:  # "host:port" without a scheme
        target = urllib.parse.urlsplit("http://" + proxy)
    host = target.hostname or "?"
    port = target.port or (443 if target.scheme == "https" else 80)
    who = f"proxy {host}" if proxy else host
    if isinstance(cause, socket.gaierror):
        return f"name resolution failed: {who}"
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused: {who}:{port}"
    if isinstance(cause, TimeoutError):
        return f"no answer to connect: {who}:{port}"
    if isinstance(cause, OSError) and cause.errno in _NO_ROUTE:
        return f"no route to {who}: {cause.strerror}"
    return None


class Body(Protocol):
    def read(self, n: int, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass
class Stream:
    body: Body
    start: int  # offset of the first byte the stream yields
    total: int | None  # size of the whole resource, when known


class RangeNotSatisfiable(Exception):
    def __init__(self, total: int | None) -> None:
        super().__init__(total)
        self.total = total


def local_path(url: str) -> Path | None:
    """The local path of a file:// URL or a plain path; None for http(s); error otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise UnsupportedError(f"file URL with a host: {url}", fix="use file:///absolute/path")
        return Path(urllib.request.url2pathname(parts.path))
    if parts.scheme == "" or len(parts.scheme) == 1:  # a path (or a Windows drive letter)
        return Path(url)
    raise UnsupportedError(
        f"cannot download {url!r}: scheme {parts.scheme!r}",
        fix="use an http(s):// or file:// URL, or a local path",
    )


def open_http(url: str, offset: int, headers: Mapping[str, str], timeout: float) -> Stream:
    req_headers = {"Accept-Encoding": "identity", "User-Agent": "inferlab", **headers}
    if offset:
        req_headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=req_headers)
    try:
        resp = open_url(req, timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:
            m = re.fullmatch(r"bytes \*/(\d+)", (e.headers.get("Content-Range") or "").strip())
            raise RangeNotSatisfiable(int(m.group(1)) if m else None) from None
        if e.code in _TRANSIENT_HTTP:
            raise Transient(f"HTTP {e.code} {e.reason}") from None
        fix = "check the URL (the file may have moved)"
        if e.code in (401, 403):
            fix = "the source needs authentication or has moved; check access to the URL"
        reason = f"HTTP {e.code} {e.reason}"
        raise MirrorFailed(f"{reason} for {url}", fix, url=url, reason=reason) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        unreachable = unreachable_reason(e, url)
        if unreachable is not None:
            raise Unreachable(unreachable) from None
        raise Transient(f"cannot reach {url}: {getattr(e, 'reason', e)}") from None
    length = resp.headers.get("Content-Length")
    if resp.status == 206:
        content_range = (resp.headers.get("Content-Range") or "").strip()
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", content_range)
        if m is None or int(m.group(1)) != offset:
            resp.close()
            raise BadRange(content_range)
        return Stream(resp, offset, None if m.group(3) == "*" else int(m.group(3)))
    if resp.status == 200:
        return Stream(resp, 0, int(length) if length and length.isdigit() else None)
    resp.close()
    raise DataError(f"unexpected HTTP {resp.status} for {url}", fix="check the URL")


class BadRange(Exception):
    """A 206 whose Content-Range does not start where asked: restart from zero."""


def open_local(path: Path, offset: int) -> Stream:
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path} does not exist", fix="check the path") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}", fix="check the path and its permissions") from e
    total = os.fstat(fh.fileno()).st_size
    start = offset if offset <= total else 0
    fh.seek(start)
    return Stream(fh, start, total)
