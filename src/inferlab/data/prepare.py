"""``inferlab prepare BENCHMARK``: fetch, import and verify what a benchmark needs.

For each source of the benchmark (``inferlab.data.sources``, filtered by --model-only /
--data-only / --variant):

* already in the manifest and unchanged (size, mtime, file count) -> nothing to do, said so;
* ``download``: resumable, checksum-verified download (``data.fetch``), archives extracted
  safely (``data.extract``) into ``<root>/<dest>``;
* ``r2-manifest``: every file of the MLCommons R2 listing, md5-verified;
* ``manual`` / ``generated``: the precise steps are printed; a file the user already put in
  place is verified (checksum when published, else size) and recorded;
* ``--from PATH``: a source that declares an importer (``Source.importer``, "module:attr" of an
  :class:`Importer` in the benchmark's package) imports the user's copy from PATH; ``--from``
  on a dataset that declares none is refused;

and records what it verified in ``<root>/.inferlab/manifest.json``. Nothing is marked verified
that was not checked; a published checksum that does not match stops with the file kept aside.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from inferlab.core.errors import DataError, InferlabError
from inferlab.data.manifest import Manifest, describe
from inferlab.data.sizes import human_bytes
from inferlab.data.sources import R2_DOWNLOADER_URL, BenchmarkSources, Source, resolve_ref

log = logging.getLogger(__name__)
T = TypeVar("T")

DONE, FETCHED, IMPORTED, MANUAL, SKIPPED, FAILED = (
    "already prepared",
    "fetched",
    "imported",
    "manual steps needed",
    "skipped",
    "failed",
)
_HASH_LIMIT = 64 << 30  # folders larger than this are recorded by size + count, not hashed
_EXTRACT_LIMIT = 4 << 40


Record = Callable[[str, str], None]
"""Records the source in the manifest: ``record(origin, verification)``."""


class Importer(Protocol):
    """What ``Source.importer`` names: imports a user's copy of ``source`` from ``from_path``
    into ``root`` (at ``source.path``), checks it, calls ``record`` once it is complete, and
    returns the line ``prepare`` reports. ``options`` holds the importer options given
    (``devkit``). Raises an :class:`InferlabError` (with its fix) for a copy it cannot use."""

    def __call__(
        self,
        source: Source,
        root: Path,
        from_path: Path,
        record: Record,
        options: Mapping[str, Path],
    ) -> str: ...


@dataclass
class Item:
    id: str
    action: str
    detail: str = ""
    steps: tuple[str, ...] = ()
    fix: str = ""


@dataclass
class PrepareResult:
    benchmark: str
    root: Path
    items: list[Item] = field(default_factory=list)

    @property
    def failed(self) -> list[Item]:
        return [i for i in self.items if i.action == FAILED]

    @property
    def manual(self) -> list[Item]:
        return [i for i in self.items if i.action == MANUAL]

    @property
    def noop(self) -> bool:
        return all(i.action in (DONE, SKIPPED) for i in self.items)

    def exit_code(self) -> int:
        """0: all prepared; 1: something failed; 3: manual steps remain."""
        return 1 if self.failed else 3 if self.manual else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "root": str(self.root),
            "items": [i.__dict__ for i in self.items],
            "exit_code": self.exit_code(),
        }


def _dest(source: Source) -> str:
    return source.path.rstrip("/")


def _checksums(source: Source) -> dict[str, Any]:
    return {"sha256": source.sha256, "md5": source.md5, "size": source.size_bytes}


def _record(manifest: Manifest, root: Path, source: Source, origin: str, verification: str) -> None:
    rel = _dest(source)
    big = (source.installed_bytes or source.size_bytes or 0) > _HASH_LIMIT
    entry = describe(
        root, rel, id=source.id, source=origin, verification=verification, hash=not big
    )
    manifest.record(entry)
    manifest.save()


def _verify_in_place(path: Path, source: Source) -> str | None:
    """A file the user put in place: None when it checks out, else why not."""
    from inferlab.data.hashing import md5_file, sha256_file

    if source.size_bytes is not None and not source.size_approximate:
        size = path.stat().st_size
        if size != source.size_bytes:
            return f"{path} has {size:,} bytes, expected {source.size_bytes:,}"
    digest = sha256_file(path) if source.sha256 or source.sha256_prefix else None
    if source.sha256 and digest != source.sha256:
        return f"{path}: sha256 differs from the published {source.sha256[:16]}..."
    if source.md5 and md5_file(path) != source.md5:
        return f"{path}: md5 differs from the published {source.md5}"
    if source.sha256_prefix and not (digest or "").startswith(source.sha256_prefix):
        return f"{path}: sha256 does not start with {source.sha256_prefix} (its file name's)"
    return None


def _from_mirrors(source: Source, by_hand: str, fetch: Callable[[str], T]) -> tuple[str, T]:
    """``fetch(url)`` for each of the source's URLs in turn until one works: (url, result).
    A mirror that fails for its own reasons (unreachable, an HTTP error, retries without
    progress: ``MirrorFailed``) passes to the next; other errors (a checksum, a full disk)
    stop. When all fail, one error says why each failed, and, when no host could be reached
    at all, that the network or the proxy is the likely cause, and ``by_hand``: how to download
    it by hand to where prepare finds and verifies it."""
    from inferlab.data.transport import MirrorFailed, proxy_for

    failures: list[MirrorFailed] = []
    for i, url in enumerate(source.urls):
        try:
            return url, fetch(url)
        except MirrorFailed as exc:
            failures.append(exc)
            if i + 1 < len(source.urls):
                log.warning("%s: %s; trying the next mirror", source.id, exc.reason)
    if len(failures) == 1 and not failures[0].unreachable:
        raise failures[0]
    last = failures[-1]
    note = f"; {last.kept} bytes kept in {last.part} for a resume" if last.kept else ""
    if all(f.unreachable for f in failures):
        reasons = "; ".join(dict.fromkeys(f.reason for f in failures))
        proxies = sorted({p for u in source.urls if (p := proxy_for(u))})
        via = f"; now {', '.join(proxies)}" if proxies else ""
        raise DataError(
            f"no mirror of {source.id} could be reached ({reasons}){note}",
            f"check the network and the proxy settings (HTTPS_PROXY, HTTP_PROXY{via}) and "
            f"rerun, or {by_hand}",
        )
    reasons = "; ".join(f"{f.url}: {f.reason}" for f in failures)
    raise DataError(
        f"no mirror of {source.id} worked ({reasons}){note}",
        f"rerun later, or {by_hand}",
    )


def _download(source: Source, root: Path, progress: bool) -> tuple[str, str]:
    """Download ``source`` (from its first mirror that works) and extract an archive; returns
    the mirror used and what was verified."""
    from inferlab.data.extract import safe_extract
    from inferlab.data.fetch import download

    dest = root / _dest(source)
    if not source.archive or not source.directory:
        url, _ = _from_mirrors(
            source,
            f"download {source.urls[0]} by hand to {dest}",
            lambda u: download(u, dest, **_checksums(source), progress=progress),
        )
        return url, "sha256" if source.sha256 else "md5" if source.md5 else "size"
    staging = root / ".inferlab" / "downloads" / Path(source.urls[0].split("?")[0]).name
    staging.parent.mkdir(parents=True, exist_ok=True)
    url, _ = _from_mirrors(
        source,
        f"download {source.urls[0]} by hand to {staging}",
        lambda u: download(u, staging, **_checksums(source), progress=progress),
    )
    if dest.exists() and any(dest.iterdir()):
        shutil.rmtree(dest)  # not in the manifest (checked before): a stale or partial copy
    safe_extract(
        staging,
        dest,
        max_total_bytes=source.installed_bytes * 2 if source.installed_bytes else _EXTRACT_LIMIT,
        max_files=(source.file_count or 10_000_000) + 1000,
    )
    staging.unlink()
    return url, "archive checksum + safe extraction"


def prepare_sources(
    bs: BenchmarkSources,
    root: Path,
    sources: Sequence[Source],
    *,
    from_path: Path | None = None,
    devkit: Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = log.info,
) -> PrepareResult:
    """Prepare ``sources`` (of benchmark ``bs``) under ``root``; see the module docstring.
    ``devkit`` is an importer option, passed to the importer of a source that ``--from``
    imports."""
    options = {"devkit": devkit} if devkit is not None else {}
    root.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(root)
    result = PrepareResult(bs.benchmark, root)
    for s in sources:
        entry = manifest.get(s.id)
        if entry is not None and from_path is None:
            check = manifest.quick_check(entry)
            if check.ok:
                result.items.append(Item(s.id, DONE, f"verified {entry.verified_at}"))
                continue
            echo(f"{s.id}: changed since it was verified ({check.detail}); preparing again")
        try:
            result.items.append(_prepare_one(bs, s, root, manifest, from_path, options, progress))
        except InferlabError as exc:
            result.items.append(Item(s.id, FAILED, exc.message, fix=exc.fix or ""))
        except KeyboardInterrupt:
            result.items.append(Item(s.id, FAILED, "interrupted", fix="rerun: downloads resume"))
            raise
    return result


def _prepare_one(
    bs: BenchmarkSources,
    s: Source,
    root: Path,
    manifest: Manifest,
    from_path: Path | None,
    options: Mapping[str, Path],
    progress: bool,
) -> Item:
    dest = root / _dest(s)
    if from_path is not None and s.importer is not None:
        importer: Importer = resolve_ref(s.importer)
        return _import(importer, s, root, manifest, from_path, options)
    if s.acquisition == "download":
        url, how = _download(s, root, progress)
        _record(manifest, root, s, url, how)
        return Item(s.id, FETCHED, f"{human_bytes(dest_size(dest))} at {dest}")
    if s.acquisition == "r2-manifest":
        from inferlab.data.r2 import download_r2

        url, files = _from_mirrors(
            s,
            f"run bash <(curl -s {R2_DOWNLOADER_URL}) -d {dest} {s.urls[0]} where the network "
            "works and copy the files into place",
            lambda u: download_r2(u, dest, progress=progress),
        )
        _record(manifest, root, s, url, "md5 per file (R2 listing)")
        return Item(s.id, FETCHED, f"{len(files)} file(s) at {dest}")
    # manual / generated
    if from_path is not None and s.kind == "dataset":
        importable = [x.id for x in bs.sources if x.importer is not None]
        raise DataError(
            f"--from cannot import {s.id}: it declares no importer"
            + (f" ({bs.benchmark} declares one for {', '.join(importable)})" if importable else ""),
            f"put the files at {dest} and rerun prepare to verify them",
        )
    if dest.is_file():
        problem = _verify_in_place(dest, s)
        if problem is not None:
            raise DataError(problem, f"replace {dest} with the file the steps below name")
        _record(
            manifest,
            root,
            s,
            f"user-provided at {dest}",
            "published checksum" if s.has_checksum else "size",
        )
        return Item(s.id, IMPORTED, f"verified the file already at {dest}")
    return Item(s.id, MANUAL, f"{s.what}: no public download", steps=s.steps)


def _import(
    importer: Importer,
    s: Source,
    root: Path,
    manifest: Manifest,
    from_path: Path,
    options: Mapping[str, Path],
) -> Item:
    """Import the user's copy of ``s`` at ``from_path`` with the importer it declares."""

    def record(origin: str, verification: str) -> None:
        _record(manifest, root, s, origin, verification)

    return Item(s.id, IMPORTED, importer(s, root, from_path, record, options))


def dest_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def prepare(
    benchmark: str,
    root: Path,
    *,
    model_only: bool = False,
    data_only: bool = False,
    variant: str | None = None,
    from_path: Path | None = None,
    devkit: Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = log.info,
) -> PrepareResult:
    from inferlab.data.sources import sources_for

    bs = sources_for(benchmark)
    if from_path is not None and model_only:
        raise DataError("--from imports data; it cannot go with --model-only", "drop one")
    chosen = bs.for_options(model_only, data_only, variant)
    return prepare_sources(
        bs, root, chosen, from_path=from_path, devkit=devkit, progress=progress, echo=echo
    )
