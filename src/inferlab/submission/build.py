"""``inferlab submission build``: stored runs -> a submission tree in the round's layout.

A pure function of the run directories (and the system description): nothing is re-run. The
tree is written into a temporary sibling directory and renamed into place at the end, so an
interrupted build leaves no half tree, and an existing ``--out`` is never overwritten.
Which runs go where: :mod:`~inferlab.submission.selection`; the files of each entry:
:mod:`~inferlab.submission.tree_files`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferlab.core.errors import ConfigError
from inferlab.core.files import atomic_write_json, atomic_write_text
from inferlab.core.rounds import CATEGORIES, DIVISIONS, rules_for
from inferlab.results.load import Run
from inferlab.submission.layout import Layout, safe_name

# the build API, importable from here (explicit re-exports)
from inferlab.submission.selection import AUDITS as AUDITS
from inferlab.submission.selection import Entry as Entry
from inferlab.submission.selection import round_of
from inferlab.submission.selection import select as select
from inferlab.submission.tree_files import SubmissionError as SubmissionError
from inferlab.submission.tree_files import calibration_md, code_readme, write_entry
from inferlab.submission.tree_files import provenance as provenance
from inferlab.submission.tree_files import truncate_accuracy_log as truncate_accuracy_log

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOptions:
    submitter: str
    division: str
    category: str
    out: Path
    system_desc: Path | None = None  # None: the system the runs captured
    system_name: str | None = None
    round: str | None = None


@dataclass
class BuildReport:
    tree: Path
    round: str
    system: str
    entries: list[Entry]
    warnings: list[str]
    skipped: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree": str(self.tree),
            "round": self.round,
            "system": self.system,
            "entries": [e.describe() for e in self.entries],
            "warnings": self.warnings,
            "skipped": self.skipped,
        }


def _check_options(opts: BuildOptions) -> None:
    if opts.division not in DIVISIONS:
        raise ConfigError(
            f"--division {opts.division}: not a division inferlab builds",
            f"use one of {', '.join(DIVISIONS)} (network division: later work)",
        )
    if opts.category not in CATEGORIES:
        raise ConfigError(
            f"--category {opts.category}: unknown", f"use one of {', '.join(CATEGORIES)}"
        )
    if not opts.submitter or safe_name(opts.submitter) != opts.submitter:
        raise ConfigError(
            f"--submitter {opts.submitter!r} cannot be a directory name",
            "use letters, digits, '-', '_' or '.' (e.g. --submitter MyOrg)",
        )
    if opts.out.exists():
        raise ConfigError(
            f"--out {opts.out} already exists; a build never overwrites a tree",
            "choose a new --out directory (or remove the old tree yourself)",
        )


def _system_desc(opts: BuildOptions, runs: Sequence[Run]) -> tuple[dict[str, Any], list[str]]:
    warnings: list[str] = []
    if opts.system_desc is not None:
        try:
            desc = json.loads(opts.system_desc.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"--system-desc {opts.system_desc} does not exist", "check the path"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"--system-desc {opts.system_desc} is not a JSON object: {exc}",
                "pass a systems/<system>.json file (see docs/submission.md)",
            ) from None
        if not isinstance(desc, dict):
            raise ConfigError(
                f"--system-desc {opts.system_desc} is not a JSON object", "see docs/submission.md"
            )
    else:
        captured = next((r.result.system for r in runs if r.result.system), None)
        if not isinstance(captured, dict):
            raise ConfigError(
                "no --system-desc and the runs recorded no system description",
                "pass --system-desc FILE (fields: docs/submission.md)",
            )
        desc = {k: v for k, v in captured.items() if not k.startswith("_")}
        warnings.append(
            "system description taken from what the runs captured; fill the empty fields "
            "(`inferlab submission check` lists them) or pass --system-desc"
        )
    for key, value in list(desc.items()):
        if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
            desc[key] = "0"  # the official checker reads a number 0 as an empty field
    for key, value in (("division", opts.division), ("submitter", opts.submitter)):
        if desc.get(key) not in (None, "", value):
            warnings.append(f"system description {key}={desc.get(key)!r} replaced by {value!r}")
        desc[key] = value
    if desc.get("system_type") in (None, ""):
        desc["system_type"] = opts.category
    elif opts.category not in str(desc["system_type"]).split(","):
        raise ConfigError(
            f"the system description says system_type={desc['system_type']!r} but --category "
            f"is {opts.category}",
            "make them agree",
        )
    return desc, warnings


def build(runs: Sequence[Run], opts: BuildOptions) -> BuildReport:
    _check_options(opts)
    if not runs:
        raise ConfigError("no runs given", "pass run directories (or folders holding them)")
    round_ = round_of(runs, opts.round)
    rules = rules_for(round_)
    entries, warnings, refused = select(runs, round_, opts.category, opts.division)
    if refused and not entries:
        raise SubmissionError(refused[0], "see the other messages above")
    if not entries:
        raise SubmissionError("no run can go into the tree", "pass finished performance runs")
    desc, desc_warnings = _system_desc(opts, [e.performance for e in entries])
    warnings += desc_warnings
    system = safe_name(opts.system_name or str(desc.get("system_name") or "system"))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{opts.out.name}.", dir=opts.out.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the tree is meant to be shared
    try:
        lay = Layout(tmp, opts.division, opts.submitter, rules.layout)
        atomic_write_json(lay.system_json(system), desc)
        for bench in sorted({e.benchmark for e in entries}):
            atomic_write_text(lay.code_dir(bench) / "README.md", code_readme(entries, bench))
        doc = [
            f"# MLPerf Inference {round_} submission of {opts.submitter}",
            "",
            f"inferlab-round: {round_}",
            "",
            f"Built by inferlab from {len(entries)} result(s); check it with "
            "`inferlab submission check`.",
        ]
        atomic_write_text(lay.documentation / "README.md", "\n".join(doc) + "\n")
        if opts.division == "closed":
            atomic_write_text(lay.documentation / "calibration.md", calibration_md(entries))
        for entry in entries:
            write_entry(lay, system, entry, round_)
        os.rename(tmp, opts.out)  # fails if a non-empty --out appeared meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for e in entries:
        warnings += [f"{e.benchmark} {e.scenario}: {n}" for n in e.notes]
    return BuildReport(opts.out, round_, system, entries, warnings, refused)


__all__ = ["BuildOptions", "BuildReport", "build", "select", "truncate_accuracy_log"]
