"""Findings of the submission checker: each names a file (relative to the tree root), what is
wrong and the fix."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ERROR, WARNING, NOTE = "error", "warning", "note"


@dataclass(frozen=True)
class Finding:
    severity: str  # "error", "warning" or "note" (what was not checked, or checked and fine)
    code: str  # stable identifier, e.g. "missing-file", "seed-mismatch"
    path: str  # relative to the tree root
    message: str
    fix: str


@dataclass
class CheckReport:
    root: Path
    round: str | None
    findings: list[Finding] = field(default_factory=list)
    results_checked: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == NOTE]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> list[tuple[str, str]]:
        """(code, path) of every error, sorted: what tests compare."""
        return sorted((f.code, f.path) for f in self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "round": self.round,
            "ok": self.ok,
            "results_checked": self.results_checked,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "notes": len(self.notes),
            "findings": [asdict(f) for f in self.findings],
        }


class CheckerBase:
    """Findings and the small helpers every check uses."""

    def __init__(self, root: Path, round_: str | None, runs: Sequence[Path] = ()) -> None:
        self.root = root
        self.report = CheckReport(root, round_)
        self.forced_round = round_
        self.runs = tuple(Path(p) for p in runs)  # where to find the runs a tree came from

    # -- helpers ---------------------------------------------------------------------------
    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root)) or "."
        except ValueError:
            return str(path)

    def add(self, severity: str, code: str, path: Path, message: str, fix: str) -> None:
        self.report.findings.append(Finding(severity, code, self.rel(path), message, fix))

    def error(self, code: str, path: Path, message: str, fix: str) -> None:
        self.add(ERROR, code, path, message, fix)

    def warn(self, code: str, path: Path, message: str, fix: str) -> None:
        self.add(WARNING, code, path, message, fix)

    def note(self, code: str, path: Path, message: str, fix: str) -> None:
        self.add(NOTE, code, path, message, fix)

    def guarded(self, path: Path, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)``, one check, and return its value; an unexpected exception becomes
        a finding about ``path`` (and None), never a crash."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the checker must not crash on any tree
            log.debug("check of %s failed", path, exc_info=True)
            self.error(
                "unreadable",
                path,
                f"could not be checked: {type(exc).__name__}: {exc}",
                "fix or regenerate this part of the tree (inferlab submission build)",
            )
            return None

    def need(self, path: Path, why: str = "") -> bool:
        if path.is_file():
            return True
        self.error(
            "missing-file",
            path,
            f"required file is missing{': ' + why if why else ''}",
            "rebuild the tree with `inferlab submission build` from runs that have it",
        )
        return False

    @staticmethod
    def dirs(path: Path) -> list[Path]:
        return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
