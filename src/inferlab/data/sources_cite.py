"""Citation helpers and record builders shared by the benchmark packages' source tables.

Each benchmark family's table lives in ``inferlab.benchmarks.<family>.sources`` (listed in
:data:`inferlab.data.sources.SOURCE_TABLES`); what several families use lives here.

Citations name ``repo@commit:path``. The commits:
- mlcommons/inference ``b66003e1`` (b66003e10e2db4b8c36a448b0545ec90fcc6e9e9, master 2026-08-20),
  older rounds at tags v2.0 ``33894a19``, v2.1 ``318cb131``, v4.0 ``e39003a9``, v4.1 ``379ee534``;
- mlcommons/mlperf-automations ``20d3d94c`` (20d3d94c4fbbefca1a69f0e2b23295d196fd3e63,
  2026-07-22): the MLCommons download scripts, which publish md5s for many files;
- shared/spec/mlperf-rules.md (the project's rules fact sheet), sections 4, 7 and 8.
Sizes and sha256 of files kept in the mlcommons/inference repository were computed from the git
blobs at b66003e1. Facts from outside MLCommons name their source in the citation.
"""

from __future__ import annotations

from typing import Any

from inferlab.data.sources import BenchmarkSources, Source

INF = "b66003e1"
INF_FULL = "b66003e10e2db4b8c36a448b0545ec90fcc6e9e9"
AUTO = "20d3d94c"
RAW = f"https://raw.githubusercontent.com/mlcommons/inference/{INF_FULL}/"
R2 = "https://inference.mlcommons-storage.org/metadata/"
RULES = "shared/spec/mlperf-rules.md"


def inf(path: str, commit: str = INF) -> str:
    return f"mlcommons/inference@{commit}:{path}"


def auto(script: str, file: str = "meta.yaml") -> str:
    return f"mlcommons/mlperf-automations@{AUTO}:script/{script}/{file}"


def by_auto(script: str, file: str = "meta.yaml") -> str:
    return f"MLCommons ({auto(script, file)})"


def by_blob(path: str) -> str:
    return f"MLCommons (git blob mlcommons/inference@{INF}:{path}; digest computed from it)"


# where the round facts of the current benchmarks come from
ROUNDS = f"{RULES} sections 2.4, 7 and 8; {inf('tools/submission/submission_checker/constants.py')}"


def model_source(model_id: str, file: str, **kw: Any) -> Source:
    """A model file or folder, at ``models/<model_id>/<file>`` under the data root."""
    return Source(id=f"models/{model_id}/{file}", kind="model", **kw)


def calibration_list(
    repo_path: str,
    what: str,
    entries: int,
    size: int,
    sha256: str,
    md5_script: str | None = None,
    md5: str | None = None,
    legacy: bool = False,
    notes: tuple[str, ...] = (),
) -> Source:
    """An MLPerf calibration list from the repository's calibration/ folder, pinned to INF."""
    published = by_blob(repo_path)
    if md5_script:
        published += f"; md5 by {by_auto(md5_script)}"
    return Source(
        id="mlperf-calibration/" + repo_path.removeprefix("calibration/"),
        kind="calibration",
        what=what,
        acquisition="download",
        urls=(RAW + repo_path,),
        size_bytes=size,
        file_count=entries,
        layout=f"a text file, {entries:,} entries, one per line",
        sha256=sha256,
        md5=md5,
        checksum_published_by=published,
        cited_from=(inf(repo_path),) + ((auto(md5_script),) if md5_script else ()),
        legacy=legacy,
        unverified=False,
        notes=("closed division: calibrate only on this set",) + notes,
    )


def accuracy_pair(
    base: str,
    description: str,
    sources: tuple[Source, ...],
    aliases_99: tuple[str, ...],
    aliases_999: tuple[str, ...],
    only_99: dict[str, Any] | None = None,
    **kw: Any,
) -> tuple[BenchmarkSources, BenchmarkSources]:
    """The -99 and -99.9 accuracy variants of one benchmark share their sources; ``only_99``
    holds what differs for the -99 one (its last round)."""
    return (
        BenchmarkSources(f"{base}-99", description, sources, aliases_99, **(kw | (only_99 or {}))),
        BenchmarkSources(f"{base}-99.9", description, sources, aliases_999, **kw),
    )
