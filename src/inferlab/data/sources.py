"""Where every benchmark's data and models come from: a typed, cited registry.

Each :class:`Source` says what one thing is (a dataset, a model file, a calibration list, an
auxiliary file), how it is obtained (a plain download, an MLCommons R2 ``.uri`` manifest that
the MLCommons R2 downloader reads, manual steps for data with no public download, or a script
that generates it from other sources), how big it is, which checksums are published and by
whom, where it lands under the data root, and the documents the facts come from.

Data-root layout (docs/data-sources.md)::

    <root>/<dataset-id>/...            datasets, e.g. <root>/my-dataset-val/
    <root>/models/<model-id>/...       models, e.g. <root>/models/my-model/weights.pth
    <root>/mlperf-calibration/...      MLPerf calibration lists (copies of the repo's calibration/)
    <root>/.inferlab/manifest.json     what has been fetched and verified

``unverified`` is True for every fact no download has confirmed. Nothing here was downloaded;
a source is marked verified (``unverified=False``) only where MLCommons publishes its checksum
(``checksum_published_by`` says where), and the fetcher still checks that checksum.

Each benchmark family's table lives in its package, ``inferlab.benchmarks.<family>.sources``
(a ``SOURCES`` tuple of :class:`BenchmarkSources`), and is named in :data:`SOURCE_TABLES` as a
"module:attr" string. This module imports no table: it is torch-free and cheap to import, and
the tables are loaded on first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args

from inferlab.core.errors import ConfigError
from inferlab.core.registry import resolve
from inferlab.data.sizes import SizeTotal, human_bytes

Kind = Literal["dataset", "model", "calibration", "auxiliary"]
Acquisition = Literal["download", "r2-manifest", "manual", "generated"]
KINDS: tuple[str, ...] = get_args(Kind)
ACQUISITIONS: tuple[str, ...] = get_args(Acquisition)
DATA_KINDS: frozenset[str] = frozenset({"dataset", "calibration", "auxiliary"})

MANIFEST_PATH = ".inferlab/manifest.json"
R2_DOWNLOADER_URL = (
    "https://raw.githubusercontent.com/mlcommons/r2-downloader/refs/heads/main/mlc-r2-downloader.sh"
)

_HEX = re.compile(r"^[0-9a-f]+$")
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

# Every benchmark family's table ("module:attr" of a tuple of BenchmarkSources), in the order
# `all_benchmarks()` lists them. Resolved lazily: importing this module imports none of them.
SOURCE_TABLES: tuple[str, ...] = (
    "inferlab.benchmarks.resnet50.sources:SOURCES",
    "inferlab.benchmarks.retinanet.sources:SOURCES",
    "inferlab.benchmarks.ssd.sources:SOURCES",
    "inferlab.benchmarks.bert.sources:SOURCES",
    "inferlab.benchmarks.rnnt.sources:SOURCES",
    "inferlab.benchmarks.unet3d.sources:SOURCES",
    "inferlab.benchmarks.dlrm_v2.sources:SOURCES",
    "inferlab.benchmarks.gptj.sources:SOURCES",
    "inferlab.benchmarks.llama2_70b.sources:SOURCES",
    "inferlab.benchmarks.llama3_1_8b.sources:SOURCES",
    "inferlab.benchmarks.mixtral.sources:SOURCES",
    "inferlab.benchmarks.sdxl.sources:SOURCES",
)


def resolve_ref(ref: str) -> Any:
    """The object a "module:attr" reference names (the module is imported now)."""
    if not _REF.match(ref):
        raise ValueError(f"{ref!r} is not a 'module:attr' reference")
    return resolve(ref)


@dataclass(frozen=True)
class Member:
    """One file inside a multi-file source (an R2 manifest's files, an archive's members)."""

    name: str
    size_bytes: int | None = None
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Source:
    """One thing to fetch: a dataset, a model file or directory, a calibration list, a file
    a benchmark needs beside them. Facts only from ``cited_from``; None where unknown."""

    id: str  # unique; for files and folders it is their path under the data root
    kind: Kind
    what: str  # one line
    acquisition: Acquisition
    cited_from: tuple[str, ...]
    urls: tuple[str, ...] = ()  # download: the file's mirrors, in order; r2-manifest: the .uri
    steps: tuple[str, ...] = ()  # manual / generated: numbered steps, printed as they are
    dest: str | None = None  # path under the data root when it differs from ``id``
    directory: bool = False  # the destination is a folder (an extracted archive, a checkpoint)
    size_bytes: int | None = None  # what is downloaded; None: unknown
    size_approximate: bool = False  # size_bytes is a rounded figure a document states
    installed_bytes: int | None = None  # on disk after extraction, where known
    file_count: int | None = None  # files (or entries, for a list) after extraction
    sample_count: int | None = None  # samples the benchmark's QSL takes from it
    archive: str | None = None  # "tar", "tar.gz", "zip", "pkl.gz"...; None: used as downloaded
    layout: str = ""  # what the destination holds after extraction
    members: tuple[Member, ...] = ()
    sha256: str | None = None
    sha256_prefix: str | None = None  # e.g. torch.hub file names carry the first 8 hex digits
    md5: str | None = None
    checksum_published_by: str | None = None  # who publishes the checksum(s), and where
    licence: str = ""
    gated: bool = False  # needs an account, a licence form or membership
    variant: str | None = None  # models: the benchmark variant it serves ("pytorch", "onnx")
    alternative_to: str | None = None  # another way to get the source with this id
    legacy: bool = False  # only used by retired benchmarks
    unverified: bool = True
    notes: tuple[str, ...] = ()
    # "module:attr" of the function that imports a user's copy (``prepare --from PATH``); see
    # inferlab.data.prepare.Importer. None: --from cannot import this source.
    importer: str | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError(f"source {self.id!r}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with this record (empty when it is well-formed)."""
        out: list[str] = []
        if not self.id or self.id != self.id.strip() or self.id.startswith("/"):
            out.append("id must be a non-empty relative name")
        if self.kind not in KINDS:
            out.append(f"kind {self.kind!r} is not one of {KINDS}")
        if self.acquisition not in ACQUISITIONS:
            out.append(f"acquisition {self.acquisition!r} is not one of {ACQUISITIONS}")
        if self.acquisition in ("download", "r2-manifest") and not self.urls:
            out.append(f"{self.acquisition} needs urls")
        if self.acquisition == "r2-manifest" and not all(u.endswith(".uri") for u in self.urls):
            out.append("r2-manifest urls must be .uri manifests")
        if self.acquisition in ("manual", "generated") and not self.steps:
            out.append(f"{self.acquisition} needs steps")
        if not self.cited_from or not all(c.strip() for c in self.cited_from):
            out.append("cited_from is empty")
        if not self.what.strip():
            out.append("what is empty")
        for name in ("size_bytes", "installed_bytes", "file_count", "sample_count"):
            value = getattr(self, name)
            if value is not None and value < 0:
                out.append(f"{name} is negative")
        if self.size_approximate and self.size_bytes is None:
            out.append("size_approximate without size_bytes")
        for name, length in (("sha256", 64), ("md5", 32)):
            value = getattr(self, name)
            if value is not None and (len(value) != length or not _HEX.match(value)):
                out.append(f"{name} is not {length} lower-case hex digits")
        if self.sha256_prefix is not None and not _HEX.match(self.sha256_prefix):
            out.append("sha256_prefix is not hex")
        if self.has_checksum and not self.checksum_published_by:
            out.append("a checksum without checksum_published_by")
        if not self.unverified and not (
            self.has_checksum
            and self.checksum_published_by
            and "MLCommons" in self.checksum_published_by
        ):
            out.append("unverified=False needs a checksum published by MLCommons")
        if self.alternative_to == self.id:
            out.append("alternative_to names itself")
        if self.importer is not None and not _REF.match(self.importer):
            out.append(f"importer {self.importer!r} is not a 'module:attr' reference")
        return out

    @property
    def path(self) -> str:
        """Where it lands, relative to the data root (folders end with '/')."""
        base = self.dest or self.id
        return base + "/" if self.directory and not base.endswith("/") else base

    @property
    def has_checksum(self) -> bool:
        return bool(
            self.sha256
            or self.md5
            or self.sha256_prefix
            or any(m.md5 or m.sha256 for m in self.members)
        )

    @property
    def is_data(self) -> bool:
        return self.kind in DATA_KINDS

    def checksum_kinds(self) -> list[str]:
        """The checksums known for it: "sha256", "md5", "sha256 prefix 19c8e357", per-file ones."""
        kinds = []
        if self.sha256:
            kinds.append("sha256")
        elif self.sha256_prefix:
            kinds.append(f"sha256 prefix {self.sha256_prefix}")
        if self.md5:
            kinds.append("md5")
        per_file = sum(bool(m.md5 or m.sha256) for m in self.members)
        if per_file:
            kinds.append(f"md5 of {per_file} files")
        return kinds

    def checksum_summary(self) -> str:
        """One short phrase: which checksums exist and whether MLCommons publishes them."""
        kinds = self.checksum_kinds()
        if not kinds:
            if self.acquisition == "r2-manifest":
                return "no checksum here (the R2 downloader checks md5s from the bucket)"
            return "no published checksum"
        who = (self.checksum_published_by or "").split(" (", 1)[0]
        return " + ".join(kinds) + f" published by {who}"

    def size_text(self) -> str:
        if self.size_bytes is None:
            return "size unknown"
        if self.size_bytes == 0 and self.acquisition == "generated":
            return "nothing to download (derived locally)"
        text = human_bytes(self.size_bytes)
        return ("~" + text) if self.size_approximate else text


@dataclass(frozen=True)
class BenchmarkSources:
    """Everything one benchmark needs fetched. The -99/-99.9 pairs share one tuple of sources."""

    benchmark: str
    description: str
    sources: tuple[Source, ...]
    aliases: tuple[str, ...] = ()
    legacy: bool = False  # retired: in neither of the two newest rounds (v6.0, v6.1)
    last_round: str | None = None  # the last round it was in, when not the newest (v6.1)
    legacy_note: str = ""
    cited_from: tuple[str, ...] = ()  # where the round facts come from
    # "module:attr" of a () -> int: the bytes of the preprocessed cache a run of this benchmark
    # builds beside the data (counted by `inferlab check`); None: it builds none
    preprocessed_cache: str | None = None

    def __post_init__(self) -> None:
        if self.preprocessed_cache is not None and not _REF.match(self.preprocessed_cache):
            raise ValueError(f"{self.benchmark}: preprocessed_cache is not a 'module:attr' ref")
        ids = [s.id for s in self.sources]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"{self.benchmark}: duplicate source ids {dupes}")
        for s in self.sources:
            if s.alternative_to is not None and s.alternative_to not in ids:
                raise ValueError(f"{self.benchmark}: {s.id} is an alternative to an unknown id")

    def preprocessed_cache_bytes(self) -> int:
        """The size of the preprocessed cache a run builds (0 when it builds none)."""
        if self.preprocessed_cache is None:
            return 0
        return int(resolve_ref(self.preprocessed_cache)())

    def of_kind(self, kind: str) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if s.kind == kind)

    def source(self, source_id: str) -> Source:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise ConfigError(
            f"{self.benchmark} has no source {source_id!r}",
            f"use one of {', '.join(s.id for s in self.sources)}",
        )

    def model_variants(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.variant for s in self.sources if s.variant))

    def for_options(
        self,
        model_only: bool = False,
        data_only: bool = False,
        variant: str | None = None,
        include_alternatives: bool = False,
    ) -> tuple[Source, ...]:
        """The sources ``inferlab prepare`` would fetch with these options: models only, data
        (datasets, calibration lists, auxiliary files) only, or both; one model variant when
        ``variant`` is given; alternatives (other ways to get the same thing) left out unless
        asked for."""
        if model_only and data_only:
            raise ConfigError(
                "--model-only and --data-only exclude each other", "pass at most one of them"
            )
        if variant is not None and variant not in self.model_variants():
            raise ConfigError(
                f"{self.benchmark} has no model variant {variant!r}",
                f"use one of {', '.join(self.model_variants()) or '(none)'}",
            )
        out = []
        for s in self.sources:
            if model_only and s.kind != "model":
                continue
            if data_only and not s.is_data:
                continue
            if s.alternative_to is not None and not include_alternatives:
                continue
            if variant is not None and s.kind == "model" and s.variant not in (None, variant):
                continue
            out.append(s)
        return tuple(out)

    def total_download_bytes(
        self, model_only: bool = False, data_only: bool = False, variant: str | None = None
    ) -> SizeTotal:
        """The sum of the known download sizes of what :meth:`for_options` selects, with the
        ids of the sources whose size is unknown."""
        chosen = self.for_options(model_only, data_only, variant)
        return SizeTotal(
            known_bytes=sum(s.size_bytes or 0 for s in chosen),
            unknown=tuple(s.id for s in chosen if s.size_bytes is None),
            approximate=tuple(s.id for s in chosen if s.size_approximate),
        )


@cache
def _table() -> dict[str, BenchmarkSources]:
    table: dict[str, BenchmarkSources] = {}
    for ref in SOURCE_TABLES:
        for b in resolve_ref(ref):
            if not isinstance(b, BenchmarkSources):
                raise TypeError(f"{ref} holds {b!r:.60}, not BenchmarkSources")
            if b.benchmark in table:
                raise ValueError(f"benchmark {b.benchmark!r} is in two source tables ({ref})")
            table[b.benchmark] = b
    return table


@cache
def _aliases() -> dict[str, str]:
    table = _table()
    out: dict[str, str] = {}
    for b in table.values():
        for alias in b.aliases:
            key = alias.lower()
            if key in table or (key in out and out[key] != b.benchmark):
                raise ValueError(f"alias {alias!r} is ambiguous")
            out[key] = b.benchmark
    return out


def all_benchmarks() -> list[str]:
    """Every benchmark id the registry covers, in table order."""
    return list(_table())


def canonical_benchmark(name: str) -> str:
    """The benchmark id for an id or alias (case-insensitive); ConfigError if unknown."""
    key = name.strip().lower()
    table = _table()
    if key in table:
        return key
    if key in _aliases():
        return _aliases()[key]
    raise ConfigError(
        f"no data sources known for benchmark {name!r}",
        f"use one of {', '.join(table)}",
    )


def sources_for(benchmark: str) -> BenchmarkSources:
    """The sources of a benchmark, by id or alias (case-insensitive)."""
    return _table()[canonical_benchmark(benchmark)]


def find_source(source_id: str) -> Source:
    """A source by id, whichever benchmark lists it."""
    for b in _table().values():
        for s in b.sources:
            if s.id == source_id:
                return s
    raise ConfigError(f"unknown source {source_id!r}", "see `inferlab prepare BENCHMARK --dry-run`")


def dry_run_lines(
    benchmark: str,
    model_only: bool = False,
    data_only: bool = False,
    variant: str | None = None,
) -> list[str]:
    """What ``inferlab prepare BENCHMARK --dry-run`` prints: each source with how it is
    obtained, its size, its checksums, manual or gated notes and the legacy and unverified
    markers, then the total."""
    b = sources_for(benchmark)
    chosen = b.for_options(model_only, data_only, variant)
    alternatives = [
        s
        for s in b.for_options(model_only, data_only, variant, include_alternatives=True)
        if s.alternative_to is not None
    ]
    head = f"{b.benchmark}: {b.description}"
    if b.legacy:
        head += f" [LEGACY: last round {b.last_round}]"
    elif b.last_round:
        head += f" [last round {b.last_round}]"
    lines = [head]
    if b.legacy_note:
        lines.append(f"  note: {b.legacy_note}")
    lines.append(
        f"  layout: <root>/<dataset-id>/..., <root>/models/<model-id>/..., <root>/{MANIFEST_PATH}"
    )
    if not chosen:
        lines.append("  nothing to fetch with these options")
    for s in chosen:
        lines.extend(_source_lines(s))
    for s in alternatives:
        lines.extend(_source_lines(s, alternative=True))
    total = b.total_download_bytes(model_only, data_only, variant)
    lines.append(f"  total to download: {total.describe()}")
    manual = [s.id for s in chosen if s.acquisition == "manual"]
    if manual:
        lines.append(
            f"  manual: inferlab cannot download {', '.join(manual)}; follow the steps above"
        )
    return lines


def _source_lines(s: Source, alternative: bool = False) -> list[str]:
    flags = []
    if s.gated:
        flags.append("GATED")
    if s.legacy:
        flags.append("legacy")
    flags.append("unverified" if s.unverified else "checksum published by MLCommons")
    label = f"alternative to {s.alternative_to}" if alternative else s.kind
    counted = ""
    if s.file_count is not None:
        counted = f" ({s.file_count:,} {'files' if s.directory else 'entries'})"
    if s.sample_count is not None and s.sample_count != s.file_count:
        counted += f" ({s.sample_count:,} samples)"
    out = [
        f"  - [{label}] {s.id}: {s.acquisition}, {s.size_text()}, {s.checksum_summary()}"
        f" ({', '.join(flags)})",
        f"      {s.what}",
        f"      -> <root>/{s.path}{counted}",
    ]
    if s.installed_bytes is not None:
        out.append(f"      installed size: {human_bytes(s.installed_bytes)}")
    if s.acquisition == "r2-manifest":
        out.append(f"      manifest: {s.urls[0]} (read by the MLCommons R2 downloader)")
    elif s.acquisition == "download":
        mirrors = f" (+{len(s.urls) - 1} mirror)" if len(s.urls) > 1 else ""
        out.append(f"      url: {s.urls[0]}{mirrors}")
    if s.checksum_published_by:
        out.append(f"      checksums from: {s.checksum_published_by}")
    if s.licence:
        out.append(f"      licence: {s.licence}")
    if s.acquisition == "manual":
        out.append("      manual: inferlab cannot fetch this itself; steps:")
    elif s.acquisition == "generated":
        out.append("      generated: steps:")
    out.extend(f"        {i}. {step}" for i, step in enumerate(s.steps, 1))
    out.extend(f"      note: {n}" for n in s.notes)
    return out
