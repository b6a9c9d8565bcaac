"""Parse LoadGen's ``mlperf_log_detail.txt`` / ``mlperf_log_summary.txt``.

Detail log: one record per line, ``:::MLLOG {json}`` (``:::ENDPTS`` for network logs) with
``key``, ``value``, ``time_ms``, ``namespace``, ``event_type`` and
``metadata = {"is_error": bool, "is_warning": bool, "file": str, "line_no": int, "pid", "tid"}``.
Errors use keys ``error_runtime``, ``error_invalid_config``, ``error_invalid_test_settings``,
``error_uncommitted_loadgen_changes``; warnings ``warning_generic_message``. A key may repeat
(``generic_message``, ``loaded_qsl_set``, ``generated_query_count`` per loaded set in accuracy
mode); like the submission checker's ``log_parser`` the FIRST value wins.

Judging a run from the parsed logs is :mod:`inferlab.loadgen.logs`, which re-exports this
module's names.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferlab.core.errors import DataError

log = logging.getLogger(__name__)

DETAIL_LOG_NAME = "mlperf_log_detail.txt"
SUMMARY_LOG_NAME = "mlperf_log_summary.txt"
MARKERS = (":::MLLOG", ":::ENDPTS")


@dataclass(frozen=True)
class LogRecord:
    """One detail-log record (kept for errors and warnings)."""

    key: str
    value: Any
    file: str | None = None
    line_no: int | None = None
    time_ms: float | None = None

    def text(self) -> str:
        where = f" ({self.file}:{self.line_no})" if self.file else ""
        return f"{self.key}: {self.value}{where}"


@dataclass
class DetailLog:
    """Parsed detail log. ``values``: first value per key; ``errors``/``warnings``: one line each
    (``"<key>: <value> (<file>:<line>)"``); ``truncated``: the last line was cut (killed run)."""

    path: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error_records: list[LogRecord] = field(default_factory=list)
    warning_records: list[LogRecord] = field(default_factory=list)
    repeated: dict[str, list[Any]] = field(default_factory=dict)
    truncated: bool = False
    bad_lines: list[int] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def all(self, key: str) -> list[Any]:
        """Every value logged under ``key``, in order."""
        if key in self.repeated:
            return list(self.repeated[key])
        return [self.values[key]] if key in self.values else []


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise DataError(
            f"LoadGen {what} {path} does not exist",
            "check the LoadGen output directory (LogOutputSettings.outdir) of the run",
        )
    return path.read_text(encoding="utf-8", errors="replace")


def parse_detail(path: str | os.PathLike[str], *, strict: bool = True) -> DetailLog:
    """Parse ``mlperf_log_detail.txt``. A cut final line is tolerated (``truncated=True``); a
    corrupt line elsewhere raises :class:`DataError` (``strict``) or is skipped (``bad_lines``)."""
    p = Path(path)
    lines = _read_text(p, "detail log").splitlines()
    detail = DetailLog(path=str(p))
    while lines and not lines[-1].strip():
        lines.pop()
    first = next((ln for ln in lines if ln.strip()), None)
    if first is not None and not first.startswith(MARKERS):
        raise DataError(
            f"{p} is not a LoadGen detail log (first line has no ':::MLLOG' marker)",
            f"point at the run's {DETAIL_LOG_NAME}",
        )
    last = len(lines)
    for number, line in enumerate(lines, start=1):
        marker = next((m for m in MARKERS if line.startswith(m)), None)
        if marker is None:
            if number == last and any(m.startswith(line.strip()) for m in MARKERS):
                detail.truncated = True  # cut inside the marker itself
            continue
        try:
            rec = json.loads(line[len(marker) :])
            key = rec["key"]
            value = rec.get("value")
        except (ValueError, KeyError, TypeError):
            if number == last:
                detail.truncated = True
                log.warning("%s: last line is cut (run killed?); ignoring it", p)
                continue
            if strict:
                raise DataError(
                    f"{p}: line {number} is not a valid LoadGen record",
                    "the log is corrupt; re-run the test",
                ) from None
            detail.bad_lines.append(number)
            continue
        if key in detail.values:
            detail.repeated.setdefault(key, [detail.values[key]]).append(value)
        else:
            detail.values[key] = value
        meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
        if meta.get("is_error") or meta.get("is_warning"):
            record = LogRecord(
                key, value, meta.get("file"), meta.get("line_no"), rec.get("time_ms")
            )
            if meta.get("is_error"):
                detail.error_records.append(record)
                detail.errors.append(record.text())
            else:
                detail.warning_records.append(record)
                detail.warnings.append(record.text())
    return detail


@dataclass
class SummaryLog:
    """Parsed summary log. ``values``: ``key : value`` lines (whitespace-normalised key, first
    wins); ``sections``: bullet items under headers such as ``Recommendations`` or ``Early
    Stopping Result`` (continuation lines joined); ``notes``: other free text."""

    path: str = ""
    values: dict[str, str] = field(default_factory=dict)
    sections: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.values

    @property
    def recommendations(self) -> list[str]:
        return list(self.sections.get("Recommendations", []))

    @property
    def early_stopping(self) -> list[str]:
        """Early-stopping lines (token runs: the TTFT then the TPOT block, each prefixed)."""
        if "Early Stopping Result" in self.sections:
            return list(self.sections["Early Stopping Result"])
        out: list[str] = []
        for name in ("TTFT Early Stopping Result", "TPOT Early Stopping Result"):
            out += [f"{name.split()[0]}: {item}" for item in self.sections.get(name, [])]
        return out


_KV = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")


def parse_summary(path: str | os.PathLike[str]) -> SummaryLog:
    """Parse ``mlperf_log_summary.txt`` (accepts both ``90th`` and ``90.0th`` label styles)."""
    p = Path(path)
    summary = SummaryLog(path=str(p))
    section: str | None = None
    for raw in _read_text(p, "summary log").splitlines():
        line = raw.rstrip()
        text = line.strip()
        if not text or text.startswith("===="):
            section = None
            continue
        if section is not None and line[:1].isspace():
            items = summary.sections[section]
            if text.startswith("*") or not items:
                items.append(text.lstrip("* ").strip())
            else:
                items[-1] = f"{items[-1]} {text}"
            continue
        section = None
        if text.endswith(":") and ":" not in text[:-1]:
            section = " ".join(text[:-1].split())
            summary.sections.setdefault(section, [])
            continue
        match = _KV.match(line)
        if match is None or match.group(1).upper().startswith(("WARNING", "ERROR")):
            summary.notes.append(text)
            continue
        key = " ".join(match.group(1).split())
        summary.values.setdefault(key, match.group(2))
    return summary
