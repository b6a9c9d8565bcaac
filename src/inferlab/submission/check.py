"""``inferlab submission check DIR``: everything the submission checker looks at, with findings
that name the file and the fix. It never crashes: an unexpected problem while checking one part
becomes a finding about that part, and the rest is still checked.

Rules (rules file §2): structure and required files (§2.5), the system description's 35 fields
and 26 non-empty ones, file sizes, seeds and settings equal to the round's (§1.5, §2.3), minimum
duration and sample counts, performance validity, accuracy against the round's targets with
windows (§2.1, §2.2), accuracy log truncated with its hash, dataset coverage, compliance tests
present and passing (§5), required scenarios per category (§2.4), and inferlab's own
"not submittable" flags recorded in each README.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inferlab.core.rounds import (
    FILE_SIZE_LIMIT_BYTES,
    RULES,
    RoundRules,
    round_for_seeds,
)
from inferlab.results.system import MEANINGFUL_FIELDS, REQUIRED_FIELDS
from inferlab.submission.check_result import SEED_KEYS, ResultChecks, _detail_values
from inferlab.submission.findings import CheckReport, Finding
from inferlab.submission.layout import ROUND_MARKER, Layout
from inferlab.submission.stray import stray_entries

log = logging.getLogger(__name__)

__all__ = ["CheckReport", "Finding", "check_tree"]

SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
STATUSES = ("available", "preview", "rdi")


class _Checker(ResultChecks):
    # -- tree ------------------------------------------------------------------------------
    def run(self) -> CheckReport:
        if not self.root.is_dir():
            self.error(
                "no-tree",
                self.root,
                f"{self.root} is not a directory",
                "pass the submission root (the folder holding closed/ or open/)",
            )
            return self.report
        for p in sorted(self.root.iterdir()):
            if p.is_file():
                self.error(
                    "stray-file",
                    p,
                    "a file at the root, outside the division folders",
                    "move it into <division>/<submitter>/documentation/ or delete it",
                )
            elif p.name not in ("closed", "open", "network"):
                self.error(
                    "bad-division",
                    p,
                    f"{p.name!r} is not a division",
                    "use closed/ or open/ (network/ is not built by inferlab)",
                )
            elif p.name == "network":
                self.warn(
                    "network-unchecked",
                    p,
                    "the network division is not checked by inferlab",
                    "use the official checker for network submissions",
                )
            else:
                subs = self.dirs(p)
                if not subs:
                    self.error("empty-division", p, "holds no submitter", "remove it")
                for sub in subs:
                    self.guarded(sub, self.submitter, p.name, sub)
        self.guarded(self.root, self.file_sizes)
        return self.report

    def file_sizes(self) -> None:
        for path in self.root.rglob("*"):
            if path.is_file() and path.stat().st_size > FILE_SIZE_LIMIT_BYTES:
                self.error(
                    "file-too-large",
                    path,
                    f"{path.stat().st_size / 2**20:.1f} MB, over the 50 MB limit",
                    "truncate accuracy logs (inferlab does on build) or leave the file out",
                )

    def detect_round(self, org: Path) -> RoundRules | None:
        if self.forced_round:
            return RULES.get(self.forced_round)
        readme = org / "documentation" / "README.md"
        if readme.is_file():
            m = ROUND_MARKER.search(readme.read_text(errors="replace"))
            if m and m.group(1) in RULES:
                return RULES[m.group(1)]
        for detail in sorted(org.glob("results/*/*/*/performance/run_1/mlperf_log_detail.txt")):
            values = _detail_values(detail)
            found = round_for_seeds(*[int(values.get(k, -1)) for k in SEED_KEYS])
            if found:
                return RULES[found]
        return None

    def submitter(self, division: str, org: Path) -> None:
        rules = self.detect_round(org)
        if rules is None:
            self.error(
                "unknown-round",
                org,
                "cannot tell the round (no 'inferlab-round:' line in documentation/README.md and "
                "no log with a known seed set)",
                "pass --round vX.Y",
            )
            return
        self.report.round = rules.name
        lay = Layout(self.root, division, org.name, rules.layout)
        if division == "closed" and not (
            (org / "calibration.md").is_file()
            or (org / "documentation" / "calibration.md").is_file()
        ):
            self.error(
                "missing-file",
                org / "documentation" / "calibration.md",
                "closed-division submissions need calibration.md",
                "describe your calibration (or say none was used) in documentation/calibration.md",
            )
        other = ("measurements", "compliance", "code") if rules.layout == "v6" else ("src",)
        for name in other:
            if (org / name).exists():
                self.error(
                    "wrong-layout",
                    org / name,
                    f"{name}/ belongs to another round's layout than {rules.name}'s",
                    "rebuild the tree for this round with `inferlab submission build`",
                )
        self.guarded(org, self.stray, org, rules)
        systems = {p.stem: p for p in sorted((org / "systems").glob("*.json"))}
        results = {p.name: p for p in self.dirs(org / "results")}
        if not systems:
            self.error("missing-file", org / "systems", "no system description", "add one")
        for name, path in systems.items():
            desc = self.system(path, division, org.name)
            if name not in results:
                self.error(
                    "system-without-results",
                    path,
                    "no results/ for this system",
                    "remove the file or add its results",
                )
                continue
            category = str((desc or {}).get("system_type") or "")
            self.guarded(results[name], self.system_results, lay, rules, name, category)
        for name in results:
            if name not in systems:
                self.error(
                    "missing-file",
                    org / "systems" / f"{name}.json",
                    "results without a system description",
                    "add systems/<system>.json",
                )

    def stray(self, org: Path, rules: RoundRules) -> None:
        for path, holds in stray_entries(org, rules.layout):
            kind = "folder" if path.is_dir() else "file"
            self.error(
                "stray-file",
                path,
                f"a {kind} the {rules.name} layout does not allow here "
                f"({path.parent.name}/ may hold only {holds})",
                "delete it (notes and extra material go into documentation/)",
            )

    def system(self, path: Path, division: str, submitter: str) -> dict[str, Any] | None:
        try:
            desc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            self.error("bad-json", path, f"not valid JSON: {exc}", "fix the JSON syntax")
            return None
        if not isinstance(desc, dict):
            self.error("bad-json", path, "not a JSON object", "write a JSON object of fields")
            return None
        for key in REQUIRED_FIELDS:
            if key not in desc:
                self.error(
                    "system-field-missing",
                    path,
                    f"field {key!r} is missing",
                    f'add "{key}": ... (docs/submission.md lists the fields)',
                )
            elif key in MEANINGFUL_FIELDS and (not desc[key] or str(desc[key]).strip() == ""):
                # the official checker tests truthiness: a number 0 counts as empty too
                hint = ' (write a zero as the string "0")' if desc[key] == 0 else ""
                self.error(
                    "system-field-empty",
                    path,
                    f"field {key!r} must not be empty{hint}",
                    f'fill "{key}" with this system\'s value',
                )
        for key, want in (("division", division), ("submitter", submitter)):
            if key in desc and str(desc[key]) not in ("", want):
                self.error(
                    "system-field-mismatch",
                    path,
                    f"{key} is {desc[key]!r} but the tree puts it under {want!r}",
                    f'set "{key}": "{want}"',
                )
        st = str(desc.get("system_type", "")).replace(" ", "")
        if st and st not in SYSTEM_TYPES:
            self.error(
                "system-field-invalid",
                path,
                f"system_type {st!r} is not one of {SYSTEM_TYPES}",
                "use datacenter, edge or datacenter,edge",
            )
        status = str(desc.get("status", "")).lower()
        if status and status not in STATUSES:
            self.error(
                "system-field-invalid",
                path,
                f"status {status!r} is not one of {STATUSES}",
                "use available, preview or rdi",
            )
        return desc

    def system_results(self, lay: Layout, rules: RoundRules, system: str, category: str) -> None:
        categories = [c for c in category.replace(" ", "").split(",") if c]
        for bench_dir in self.dirs(lay.org / "results" / system):
            brules = rules.benchmark(bench_dir.name)
            if brules is None:
                others = [r for r, rr in RULES.items() if bench_dir.name in rr.benchmarks]
                self.error(
                    "benchmark-not-in-round",
                    bench_dir,
                    f"round {rules.name} has no benchmark {bench_dir.name!r}"
                    + (f" (it is in {', '.join(others)})" if others else ""),
                    "remove it, or submit it in a round that has it",
                )
                continue
            code = lay.code_dir(bench_dir.name)
            if not code.is_dir():
                self.error(
                    "missing-code",
                    code,
                    "no code directory for this benchmark",
                    "add the implementation (inferlab writes a README with the commands)",
                )
            present = set()
            for scn_dir in self.dirs(bench_dir):
                present.add(scn_dir.name)
                self.report.results_checked += 1
                self.guarded(scn_dir, self.result, lay, rules, brules, system, scn_dir, categories)
            allowed = (
                set().union(*(brules.scenarios(c) for c in categories)) if categories else set()
            )
            for cat in categories:
                missing = [s for s in brules.required.get(cat, ()) if s not in present]
                for scn in missing:
                    self.error(
                        "missing-scenario",
                        bench_dir / scn,
                        f"round {rules.name} requires {scn} for {brules.name} in {cat}",
                        f"run `inferlab run ... --scenario {scn}` (performance, accuracy and "
                        "compliance runs) and rebuild",
                    )
            for scn in sorted(present - allowed) if categories else []:
                self.error(
                    "scenario-not-in-round",
                    bench_dir / scn,
                    f"{scn} is not a {rules.name} scenario of {brules.name} for {category}",
                    "remove it (it can still be reported as a measurement)",
                )


def check_tree(root: Path, round_: str | None = None, runs: Sequence[Path] = ()) -> CheckReport:
    """Check a submission tree; ``round_`` overrides the round the tree says it is for; ``runs``
    (run directories or folders holding them) are where the tree's runs are looked for, to
    recompute each accuracy.txt from its run's full accuracy log."""
    return _Checker(root, round_, runs).run()
