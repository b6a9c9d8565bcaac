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
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inferlab.core.rounds import (
    FILE_SIZE_LIMIT_BYTES,
    INTERACTIVE,
    MAX_ACCURACY_LOG_BYTES,
    MIN_DURATION_MS,
    OFFLINE,
    RESULT_FIELD,
    RULES,
    SERVER,
    BenchmarkRules,
    RoundRules,
    round_for_seeds,
)
from inferlab.results.system import REQUIRED_FIELDS
from inferlab.submission.accuracy_txt import parse_accuracy_txt
from inferlab.submission.layout import PROVENANCE_BEGIN, PROVENANCE_END, ROUND_MARKER, Layout

log = logging.getLogger(__name__)

ERROR, WARNING = "error", "warning"
SCENARIO_DIRS = ("SingleStream", "MultiStream", "Server", "Offline", "Interactive")
NON_EMPTY_FIELDS = (
    "division",
    "submitter",
    "system_type",
    "status",
    "system_name",
    "number_of_nodes",
    "host_processor_model_name",
    "host_processors_per_node",
    "host_processor_core_count",
    "host_memory_capacity",
    "host_memory_configuration",
    "host_storage_capacity",
    "host_storage_type",
    "host_networking",
    "host_network_card_count",
    "host_networking_topology",
    "accelerators_per_node",
    "accelerator_model_name",
    "accelerator_memory_capacity",
    "accelerator_host_interconnect",
    "accelerator_memory_configuration",
    "accelerator_interconnect",
    "cooling",
    "framework",
    "operating_system",
    "other_software_stack",
)
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
STATUSES = ("available", "preview", "rdi")
MEASUREMENT_FIELDS = (
    "input_data_types",
    "retraining",
    "starting_weights_filename",
    "weight_data_types",
    "weight_transformations",
)
PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACC_FILES = (*PERF_FILES, "accuracy.txt", "mlperf_log_accuracy.json")
SEED_KEYS = ("effective_qsl_rng_seed", "effective_sample_index_rng_seed")
SEED_KEYS += ("effective_schedule_rng_seed",)


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" or "warning"
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
            "findings": [asdict(f) for f in self.findings],
        }


class _Checker:
    def __init__(self, root: Path, round_: str | None) -> None:
        self.root = root
        self.report = CheckReport(root, round_)
        self.forced_round = round_

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

    def guarded(self, path: Path, fn: Callable[[], None]) -> None:
        """Run one check; an unexpected exception becomes a finding, never a crash."""
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the checker must not crash on any tree
            log.debug("check of %s failed", path, exc_info=True)
            self.error(
                "unreadable",
                path,
                f"could not be checked: {type(exc).__name__}: {exc}",
                "fix or regenerate this part of the tree (inferlab submission build)",
            )

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
                    self.guarded(sub, lambda sub=sub, div=p.name: self.submitter(div, sub))
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
            self.guarded(
                results[name], lambda n=name, c=category: self.system_results(lay, rules, n, c)
            )
        for name in results:
            if name not in systems:
                self.error(
                    "missing-file",
                    org / "systems" / f"{name}.json",
                    "results without a system description",
                    "add systems/<system>.json",
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
            elif key in NON_EMPTY_FIELDS and (not desc[key] or str(desc[key]).strip() == ""):
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
                self.guarded(
                    scn_dir,
                    lambda s=scn_dir, b=brules: self.result(lay, rules, b, system, s, categories),
                )
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

    # -- one result ------------------------------------------------------------------------
    def result(
        self,
        lay: Layout,
        rules: RoundRules,
        b: BenchmarkRules,
        system: str,
        scn_dir: Path,
        categories: list[str],
    ) -> None:
        scenario = scn_dir.name
        if scenario not in SCENARIO_DIRS:
            self.error(
                "bad-scenario",
                scn_dir,
                f"{scenario!r} is not a scenario name",
                f"use one of {', '.join(SCENARIO_DIRS)}",
            )
            return
        closed = lay.division == "closed"
        meas = lay.measurements(system, b.name, scenario)
        for name in ("user.conf", "README.md"):
            self.need(meas / name)
        if rules.name == "v4.1":
            self.need(meas / "mlperf.conf", "v4.1 submissions ship mlperf.conf")
        self.measurements(lay.measurements_json(system, b.name, scenario))
        self.provenance(meas / "README.md")
        perf = scn_dir / "performance" / "run_1"
        perf_values: dict[str, Any] | None = None
        if all(self.need(perf / f) for f in PERF_FILES):
            perf_values = self.performance(
                perf / "mlperf_log_detail.txt", rules, b, scenario, closed
            )
        acc = scn_dir / "accuracy"
        if all([self.need(acc / f) for f in ACC_FILES]):
            self.accuracy(acc, rules, b)
        if closed:
            for test in b.compliance:
                self.compliance(
                    lay.compliance(system, b.name, scenario, test),
                    test,
                    rules,
                    b,
                    scenario,
                    perf_values,
                )

    def measurements(self, path: Path) -> None:
        if not self.need(path):
            return
        try:
            doc = json.loads(path.read_text())
        except ValueError as exc:
            self.error("bad-json", path, f"not valid JSON: {exc}", "fix the JSON syntax")
            return
        for key in MEASUREMENT_FIELDS:
            if not isinstance(doc, dict) or not str(doc.get(key, "")).strip():
                self.error(
                    "measurements-field",
                    path,
                    f"field {key!r} is missing or empty",
                    f'fill "{key}"',
                )

    def provenance(self, readme: Path) -> None:
        if not readme.is_file():
            return
        text = readme.read_text(errors="replace")
        start = text.find(PROVENANCE_BEGIN)
        if start < 0:
            return  # not built by inferlab: nothing to read
        end = text.find(PROVENANCE_END, start)
        try:
            doc = json.loads(text[start + len(PROVENANCE_BEGIN) : end])
        except ValueError:
            self.warn(
                "bad-provenance",
                readme,
                "inferlab's provenance block is unreadable",
                "rebuild the tree",
            )
            return
        for kind, run in sorted((doc.get("runs") or {}).items()):
            if not run.get("submittable", False):
                why = "; ".join(run.get("not_submittable_because") or []) or "unknown"
                self.error(
                    "not-submittable",
                    readme,
                    f"the {kind} run was flagged not submittable by inferlab: {why}",
                    "rerun without quick mode/overrides, with the real dataset and weights",
                )

    def _seeds(self, path: Path, values: dict[str, Any], rules: RoundRules) -> None:
        got = tuple(values.get(k) for k in SEED_KEYS)
        if got != rules.seeds:
            other = round_for_seeds(*[int(v) if isinstance(v, int) else -1 for v in got])
            self.error(
                "seed-mismatch",
                path,
                f"seeds {got} are not round {rules.name}'s {rules.seeds}"
                + (f" (they are {other}'s)" if other else ""),
                f"rerun with a LoadGen that serves {rules.name} (docs/rounds.md); seeds cannot "
                "be set in user.conf",
            )

    def _loadgen_errors(self, path: Path, compliance: bool = False) -> None:
        for rec in _detail_errors(path):
            if compliance and "Multiple conf files" in rec:
                continue  # tolerated in compliance logs (rules §1.1)
            self.error(
                "loadgen-error",
                path,
                f"LoadGen logged an error: {rec}",
                "fix the cause and rerun; logs with errors are rejected",
            )

    def performance(
        self,
        detail: Path,
        rules: RoundRules,
        b: BenchmarkRules,
        scenario: str,
        closed: bool,
        compliance: bool = False,
    ) -> dict[str, Any]:
        v = _detail_values(detail)
        self._seeds(detail, v, rules)
        self._loadgen_errors(detail, compliance)
        want = SERVER if scenario == INTERACTIVE else scenario
        if v.get("effective_scenario") not in (None, want):
            self.error(
                "wrong-scenario",
                detail,
                f"the log is a {v.get('effective_scenario')} run, not {want}",
                "put each run under its own scenario directory",
            )
        if v.get("effective_test_mode") not in ("PerformanceOnly", "SubmissionRun"):
            self.error(
                "wrong-mode",
                detail,
                f"test mode {v.get('effective_test_mode')!r}, not a performance run",
                "use a --mode performance run here",
            )
        if v.get("result_validity") != "VALID":
            self.error(
                "result-invalid",
                detail,
                f"LoadGen says {v.get('result_validity')}: " + _invalid_why(v),
                "see `inferlab report` for the run; rerun at a setting LoadGen accepts",
            )
        dur = v.get("effective_min_duration_ms")
        if not isinstance(dur, int | float) or dur < MIN_DURATION_MS:
            self.error(
                "min-duration",
                detail,
                f"effective_min_duration_ms is {dur}, below {MIN_DURATION_MS}",
                "rerun without --quick and without lowering min_duration",
            )
        psc = v.get("effective_performance_sample_count")
        if not isinstance(psc, int) or psc < b.performance_sample_count:
            self.error(
                "performance-sample-count",
                detail,
                f"performance sample count {psc} < {b.performance_sample_count}",
                "use the full dataset; do not override performance_sample_count",
            )
        if scenario == OFFLINE:
            spq = v.get("effective_samples_per_query")
            if closed and (not isinstance(spq, int) or spq < b.offline_min_samples):
                self.error(
                    "min-queries",
                    detail,
                    f"Offline issued {spq} samples, fewer than {b.offline_min_samples}",
                    "rerun without --quick and without lowering min_query_count",
                )
        elif v.get("early_stopping_met") is not True:
            self.error(
                "min-queries",
                detail,
                "early stopping not met: too few queries for the latency estimate",
                "rerun longer (without --quick)",
            )
        if scenario in (SERVER, INTERACTIVE) and b.server_latency_ns is not None:
            lat = v.get("effective_target_latency_ns")
            if isinstance(lat, int | float) and lat > b.server_latency_ns:
                self.error(
                    "latency-constraint",
                    detail,
                    f"target latency {lat} ns above the {b.server_latency_ns} ns bound",
                    "do not raise target_latency in user.conf",
                )
        if not isinstance(v.get(RESULT_FIELD.get(want, "")), int | float):
            self.error(
                "no-result",
                detail,
                f"no {RESULT_FIELD.get(want)} in the log",
                "the run did not finish; rerun it",
            )
        return v

    def accuracy(self, acc: Path, rules: RoundRules, b: BenchmarkRules) -> None:
        detail = acc / "mlperf_log_detail.txt"
        v = _detail_values(detail)
        self._seeds(detail, v, rules)
        self._loadgen_errors(detail)
        if v.get("effective_test_mode") != "AccuracyOnly":
            self.error(
                "wrong-mode",
                detail,
                f"test mode {v.get('effective_test_mode')!r}, not an accuracy run",
                "use a --mode accuracy run here",
            )
        covered = v.get("effective_accuracy_sample_count", v.get("qsl_reported_total_count"))
        if covered != b.dataset_size:
            self.error(
                "accuracy-coverage",
                detail,
                f"the accuracy run covered {covered} samples, not the {b.dataset_size:,} "
                "of the dataset",
                "run accuracy on the whole dataset (no --count)",
            )
        log_path = acc / "mlperf_log_accuracy.json"
        if log_path.stat().st_size > MAX_ACCURACY_LOG_BYTES:
            self.error(
                "untruncated-accuracy-log",
                log_path,
                f"{log_path.stat().st_size:,} bytes: not truncated (limit "
                f"{MAX_ACCURACY_LOG_BYTES:,})",
                "build the tree with `inferlab submission "
                "build`, which truncates it and records its hash",
            )
        txt = acc / "accuracy.txt"
        text = txt.read_text(errors="replace")
        if not re.search(r"^hash=[\w\d]+$", text, re.MULTILINE):
            self.error(
                "missing-hash",
                txt,
                "no 'hash=' line (sha256 of the full accuracy log)",
                "build the tree with `inferlab submission build`",
            )
        values = parse_accuracy_txt(text, [t.metric for t in b.targets], rules.name)
        for t in b.targets:
            value = values.get(t.metric)
            if value is None:
                self.error(
                    "accuracy-missing",
                    txt,
                    f"no {t.metric} value found",
                    "accuracy.txt must be the accuracy script's output",
                )
                continue
            lo, hi = t.threshold, t.upper_limit
            if lo is not None and value < lo:
                self.error(
                    "accuracy-below-target",
                    txt,
                    f"{t.metric} = {value:g} is below the {rules.name} target {lo:.6g} "
                    f"({t.lower} x {t.reference})",
                    "use the reference weights and precision settings that reach the target",
                )
            if hi is not None and value > hi:
                self.error(
                    "accuracy-above-limit",
                    txt,
                    f"{t.metric} = {value:g} is above the upper limit {hi:.6g}",
                    "the output must stay inside the round's window",
                )

    def compliance(
        self,
        tdir: Path,
        test: str,
        rules: RoundRules,
        b: BenchmarkRules,
        scenario: str,
        ref: dict[str, Any] | None,
    ) -> None:
        if not tdir.is_dir():
            runnable = test in ("TEST01", "TEST04")
            self.error(
                "missing-compliance",
                tdir,
                f"{test} is required for {b.name} in {rules.name} and its directory is missing",
                f"run `inferlab run {_inferlab_id(b)} --scenario {scenario} --audit {test}` "
                "and rebuild"
                if runnable
                else f"inferlab cannot run {test} yet; run the official compliance test",
            )
            return
        if test in ("TEST01", "TEST04"):
            perf = tdir / "performance" / "run_1"
            if all(self.need(perf / f) for f in PERF_FILES):
                v = self.performance(
                    perf / "mlperf_log_detail.txt",
                    rules,
                    b,
                    scenario,
                    closed=False,
                    compliance=True,
                )
                if ref is not None:
                    self._recheck(tdir, test, scenario, ref, v)
            vp = tdir / "verify_performance.txt"
            if self.need(vp) and "TEST PASS" not in vp.read_text(errors="replace"):
                self.error(
                    "compliance-failed",
                    vp,
                    f"{test} performance verification failed",
                    f"see {vp.name}; fix the SUT and rerun {test}",
                )
        if test == "TEST01":
            va = tdir / "verify_accuracy.txt"
            if self.need(va) and "TEST PASS" not in va.read_text(errors="replace"):
                self._test01_fallback(tdir, b)
            self.need(tdir / "accuracy" / "mlperf_log_accuracy.json")

    def _recheck(
        self, tdir: Path, test: str, scenario: str, ref: dict[str, Any], got: dict[str, Any]
    ) -> None:
        from inferlab.submission.compliance import verify_performance

        verdict = verify_performance(
            test, SERVER if scenario == INTERACTIVE else scenario, ref, got
        )
        claimed = "TEST PASS" in _read(tdir / "verify_performance.txt")
        if claimed and not verdict.passed:
            self.error(
                "compliance-inconsistent",
                tdir / "verify_performance.txt",
                f"says TEST PASS but the logs fail it: {'; '.join(verdict.reasons)}",
                f"rerun {test} and rebuild",
            )

    def _test01_fallback(self, tdir: Path, b: BenchmarkRules) -> None:
        acc = tdir / "accuracy"
        base, comp = acc / "baseline_accuracy.txt", acc / "compliance_accuracy.txt"
        if not (base.is_file() and comp.is_file()):
            self.error(
                "compliance-failed",
                tdir / "verify_accuracy.txt",
                "TEST01 accuracy check failed and no baseline/compliance accuracy files "
                "are present",
                "make the SUT deterministic, or add baseline_accuracy.txt "
                "and compliance_accuracy.txt (rules §5)",
            )
            return
        from inferlab.submission.compliance import accuracy_delta_ok

        metrics = [t.metric for t in b.targets]
        ok, msgs = accuracy_delta_ok(
            parse_accuracy_txt(_read(base), metrics),
            parse_accuracy_txt(_read(comp), metrics),
            b.delta_percent,
        )
        if not ok:
            self.error(
                "compliance-failed",
                comp,
                "TEST01 accuracy differs too much: " + "; ".join(msgs),
                "fix the SUT's non-determinism",
            )


def _inferlab_id(b: BenchmarkRules) -> str:
    from inferlab.core import registry

    try:
        return registry.canonical_id(b.name)
    except Exception:  # noqa: BLE001 - a benchmark inferlab does not run: its LoadGen name
        return b.loadgen_name


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def _detail_values(path: Path) -> dict[str, Any]:
    from inferlab.loadgen.logs import parse_detail

    return parse_detail(path, strict=False).values


def _detail_errors(path: Path) -> Iterator[str]:
    from inferlab.loadgen.logs import parse_detail

    yield from parse_detail(path, strict=False).errors


def _invalid_why(v: dict[str, Any]) -> str:
    why = [
        text
        for key, text in (
            ("result_min_duration_met", "min duration not met"),
            ("result_min_queries_met", "min queries not met"),
            ("result_perf_constraints_met", "latency constraint not met"),
            ("early_stopping_met", "early stopping not met"),
        )
        if v.get(key) is False
    ]
    return ", ".join(why) or "see the summary log"


def check_tree(root: Path, round_: str | None = None) -> CheckReport:
    """Check a submission tree; ``round_`` overrides the round the tree says it is for."""
    return _Checker(root, round_).run()
