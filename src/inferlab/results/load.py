"""Find and read stored runs: ``result.json`` of schema_version 1 or 2 as a :class:`RunResult`.

schema_version 1 (inferlab before the typed results) is upgraded on read; what differs:

- ``loadgen.effective``, ``results``, ``seeds``, ``errors``, ``warnings`` were left out when a
  run failed before LoadGen's logs were parsed; version 2 writes them as null.
- an accuracy metric without a target (synthetic data, random weights) had no ``reference``,
  ``threshold``, ``upper_limit``, ``percent_of_reference``, ``passed`` keys; version 2 writes
  them as null (``passed`` null = no verdict).
- sections an older version 1 writer did not record yet (``batching``, ``sample_store``,
  ``replicas``, ``data_checks``, ``audit``, ``worker``, ``telemetry``, ``system``) read as null
  or empty.

Every key and meaning is otherwise the same. A version this inferlab does not know is refused.
"""

from __future__ import annotations

import glob
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from inferlab.core.errors import InferlabError
from inferlab.results.models import SCHEMA_VERSION, RunResult

log = logging.getLogger(__name__)

RESULT_NAME = "result.json"
KNOWN_SCHEMAS = (1, SCHEMA_VERSION)
GLOB_CHARS = set("*?[")


class ResultError(InferlabError):
    """A run directory that cannot be read (missing, corrupt or unknown result.json)."""


@dataclass(frozen=True)
class Run:
    """A loaded run: where it was found, its result, and the schema_version it was stored in."""

    path: Path
    result: RunResult
    stored_version: int = SCHEMA_VERSION


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema_version 1 result.json as version 2 data (see the module's docstring)."""
    # missing keys take the models' defaults (null / empty); nothing was renamed or removed
    return {**data, "schema_version": SCHEMA_VERSION}


def parse_result(data: Any, where: str = "result.json") -> RunResult:
    """Validate result.json content of any known version; :class:`ResultError` otherwise."""
    if not isinstance(data, dict):
        raise ResultError(f"{where} is not a JSON object", "re-run the benchmark")
    version = data.get("schema_version")
    if version not in KNOWN_SCHEMAS:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        raise ResultError(
            f"{where} has schema_version {version!r}; this inferlab reads "
            f"{', '.join(map(str, KNOWN_SCHEMAS))}",
            "upgrade inferlab (pip install -U inferlab) to read it"
            if newer
            else "use the inferlab version that wrote it (see its inferlab_version)",
        )
    if version == 1:
        data = upgrade_v1(data)
    try:
        return RunResult.model_validate(data)
    except ValidationError as exc:
        first = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise ResultError(
            f"{where} (schema_version {version}) does not match its schema: {first}"
            + (f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""),
            "the file was edited or written by a different inferlab "
            f"({data.get('inferlab_version')!r}); re-run the benchmark, or read it with that "
            "version",
        ) from None


def load_run(run_dir: Path) -> Run:
    """Read ``run_dir/result.json``; :class:`ResultError` naming the directory when it is
    missing, not JSON, not an object or of a schema version this inferlab does not know."""
    run_dir = Path(run_dir)
    path = run_dir / RESULT_NAME
    if not path.is_file():
        raise ResultError(
            f"{run_dir}: no {RESULT_NAME} (not a run directory, or the run has not finished)",
            "point at a run directory, or a folder holding run directories",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResultError(
            f"{run_dir}: {RESULT_NAME} is unreadable or not valid JSON ({exc})",
            "the file is corrupt; re-run the benchmark",
        ) from None
    result = parse_result(data, f"{run_dir}: {RESULT_NAME}")
    return Run(run_dir, result, int(data["schema_version"]))


def expand(arg: str | Path) -> list[Path]:
    """Run directories named by one argument: a run directory, a folder searched recursively
    for result.json, or a glob pattern of either (expanded here, for quoted patterns)."""
    text = str(arg)
    if GLOB_CHARS & set(text) and not Path(text).exists():
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            raise ResultError(f"{text}: the pattern matches nothing", "check the pattern")
        return [d for m in matches for d in expand(m)]
    p = Path(text)
    if (p / RESULT_NAME).is_file() or (p.is_file() and p.name == RESULT_NAME):
        return [p if p.is_dir() else p.parent]
    if not p.exists():
        raise ResultError(f"{p}: no such directory", "check the path")
    if not p.is_dir():
        raise ResultError(f"{p}: not a directory", "pass a run directory")
    found = sorted({r.parent for r in p.rglob(RESULT_NAME)})
    if not found:
        raise ResultError(
            f"{p}: no {RESULT_NAME} in it or under it (not a run directory, or no run has "
            "finished there)",
            "point at a run directory, or a folder holding run directories",
        )
    return found


def load_runs(args: Iterable[str | Path]) -> tuple[list[Run], list[ResultError]]:
    """Every run named by ``args`` (deduplicated, in order) and the errors of those that could
    not be found or read; callers report the good ones and fail at the end."""
    runs: list[Run] = []
    errors: list[ResultError] = []
    seen: set[Path] = set()
    for arg in args:
        try:
            dirs = expand(arg)
        except ResultError as exc:
            errors.append(exc)
            continue
        for d in dirs:
            key = d.resolve()
            if key in seen:
                continue
            seen.add(key)
            try:
                runs.append(load_run(d))
            except ResultError as exc:
                errors.append(exc)
    return runs, errors
