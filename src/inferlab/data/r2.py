"""MLCommons R2 datasets: the ``.uri`` + ``.md5`` listings read by ``mlc-r2-downloader.sh``.

Format, as implemented by https://github.com/mlcommons/r2-downloader (``mlc-r2-downloader.sh``;
checked against the 2025 script, which reads ``<name>.uri``, and its earlier ``<name>.url``
form, which is the same file under another extension):

* ``https://<host>/<dir>/<name>.uri`` holds one line: the dataset's base URL, e.g.
  ``https://inference.mlcommons-storage.org/metadata/llama3-1-8b-cnn-eval.uri`` ->
  ``https://inference.mlcommons-storage.org/llama3.1_8b/datasets``.
* ``https://<host>/<dir>/<name>.md5`` (same folder, same name) is ``md5sum`` output: one
  ``<32 hex digits><whitespace><relative path>`` line per file, the path optionally starting with
  ``./`` (``md5sum``'s binary-mode ``*`` marker is accepted too).
* File ``P`` is fetched from ``<base URL>/P`` and stored at ``<download dir>/P``; every file is
  checked against its md5. Without ``-d`` the script downloads a single-file dataset into the
  current directory and a multi-file one into a folder named after the base URL's last component.

The listing has no sizes or sha256s, so :class:`RemoteFile` leaves them ``None``. Buckets behind
Cloudflare Access need a ``cf-access-token`` header (``headers=``); obtaining one (``cloudflared
access login``) is out of scope here.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inferlab.core.errors import ConfigError, DataError
from inferlab.data.fetch import DownloadResult, download
from inferlab.data.progress import ProgressSink
from inferlab.data.transport import MirrorFailed, local_path, open_url, unreachable_reason


@dataclass(frozen=True)
class RemoteFile:
    """One file of a remote listing: where it is, where it goes (POSIX, relative), what it is."""

    url: str
    path: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class R2Dataset:
    """A dataset published for the MLCommons R2 downloader (``mlc-r2-downloader.sh``)."""

    name: str  # <name>.uri
    base_url: str  # the .uri file's content
    files: tuple[RemoteFile, ...]

    @property
    def default_dir(self) -> str:
        """Where the MLCommons script puts it without ``-d``: ``.`` for a single file, else the
        last component of the base URL."""
        return "." if len(self.files) == 1 else self.base_url.rstrip("/").rsplit("/", 1)[-1]


def parse_uri_file(text: str) -> str:
    """The dataset base URL held by an R2 ``<name>.uri`` file (one URL line)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) != 1 or urllib.parse.urlsplit(lines[0]).scheme not in ("http", "https", "file"):
        raise DataError(
            f"not an MLCommons R2 .uri file (expected one URL line, got {text[:80]!r})",
            fix="pass the URL of the dataset's .uri metadata file",
        )
    return lines[0].rstrip("/")


_MD5_LINE = re.compile(r"([0-9a-fA-F]{32})[ \t]+\*?(.+)")


def _safe_relpath(rel: str) -> str:
    rel = rel.removeprefix("./")
    parts = rel.split("/")
    if not rel or rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
        raise DataError(f"unsafe path {rel!r} in a download listing", fix="check the source")
    return rel


def parse_md5_listing(text: str, base_url: str) -> list[RemoteFile]:
    """``md5sum`` lines (``<32 hex>  [./|*]relative/path``) -> files under ``base_url``."""
    files = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _MD5_LINE.fullmatch(line.rstrip("\r\n"))
        if m is None:
            raise DataError(
                f"line {n} of an .md5 listing is not 'md5  path': {line[:80]!r}",
                fix="check the source",
            )
        rel = _safe_relpath(m.group(2))
        url = f"{base_url.rstrip('/')}/{urllib.parse.quote(rel, safe='/')}"
        files.append(RemoteFile(url=url, path=rel, md5=m.group(1).lower()))
    return files


def parse_uri_manifest(uri_text: str, md5_text: str) -> list[RemoteFile]:
    """An R2 dataset's files from its ``<name>.uri`` text and its sibling ``<name>.md5`` text."""
    return parse_md5_listing(md5_text, parse_uri_file(uri_text))


def r2_md5_url(uri_url: str) -> str:
    """The ``<name>.md5`` listing next to ``<name>.uri``."""
    parts = urllib.parse.urlsplit(uri_url)
    if not parts.path.endswith(".uri"):
        raise ConfigError(f"{uri_url} does not end with .uri", fix="pass the dataset's .uri URL")
    return urllib.parse.urlunsplit(parts._replace(path=parts.path[: -len(".uri")] + ".md5"))


def _read_small(url: str, headers: Mapping[str, str], timeout: float, limit: int) -> str:
    local = local_path(url)
    try:
        if local is not None:
            with open(local, "rb") as fh:
                blob = fh.read(limit + 1)
        else:
            req = urllib.request.Request(url, headers={"User-Agent": "inferlab", **headers})
            with open_url(req, timeout) as resp:
                blob = resp.read(limit + 1)
    except urllib.error.HTTPError as e:
        reason = f"HTTP {e.code} {e.reason}"
        fix = "check the URL"
        raise MirrorFailed(f"cannot read {url}: {reason}", fix, url=url, reason=reason) from None
    except (OSError, urllib.error.URLError, http.client.HTTPException) as e:
        unreachable = unreachable_reason(e, url)
        if unreachable is not None:
            raise MirrorFailed(
                f"cannot read {url} ({unreachable})",
                "check the network and the proxy settings (HTTPS_PROXY, HTTP_PROXY), then rerun",
                url=url,
                reason=unreachable,
                unreachable=True,
            ) from None
        raise DataError(f"cannot read {url}: {e}", fix="check the URL and the network") from e
    if len(blob) > limit:
        raise DataError(f"{url} is larger than {limit} bytes", fix="check the URL")
    return blob.decode("utf-8")


def fetch_r2_dataset(
    uri_url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 60
) -> R2Dataset:
    """Read ``<name>.uri`` and ``<name>.md5`` and list the dataset's files."""
    hdrs = dict(headers or {})
    base = parse_uri_file(_read_small(uri_url, hdrs, timeout, 1 << 16))
    files = parse_md5_listing(_read_small(r2_md5_url(uri_url), hdrs, timeout, 1 << 28), base)
    name = urllib.parse.urlsplit(uri_url).path.rsplit("/", 1)[-1][: -len(".uri")]
    return R2Dataset(name=name, base_url=base, files=tuple(files))


def download_r2(
    dataset: R2Dataset | str,
    dest_dir: Path,
    *,
    progress: bool | ProgressSink = True,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60,
    retries: int = 3,
) -> list[DownloadResult]:
    """Download every file of an R2 dataset into ``dest_dir/<relative path>``, md5-verified."""
    if isinstance(dataset, R2Dataset):
        ds = dataset
    else:
        ds = fetch_r2_dataset(dataset, headers=headers, timeout=timeout)
    results = []
    for f in ds.files:
        results.append(
            download(
                f.url,
                Path(dest_dir) / f.path,
                md5=f.md5,
                sha256=f.sha256,
                size=f.size,
                progress=progress,
                headers=headers,
                timeout=timeout,
                retries=retries,
            )
        )
    return results
