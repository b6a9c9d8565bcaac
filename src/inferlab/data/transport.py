"""Where download bytes come from: an http(s) response opened at an offset (``Range``), or a
local file (``file://`` URL or plain path) opened at an offset; which failures are transient.

Used by :mod:`inferlab.data.fetch` (resumable verified downloads) and :mod:`inferlab.data.r2`.
"""

from __future__ import annotations

import http.client
import os
import re
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
        resp: http.client.HTTPResponse = urllib.request.urlopen(req, timeout=timeout)
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
        raise DataError(f"HTTP {e.code} {e.reason} for {url}", fix=fix) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
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
