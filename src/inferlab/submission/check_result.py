"""The checks of one result directory (benchmark/scenario): measurements, performance log,
accuracy, compliance tests (rules file §2.3, §2.5, §5)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from inferlab.core.rounds import (
    INTERACTIVE,
    MAX_ACCURACY_LOG_BYTES,
    MIN_DURATION_MS,
    MS,
    OFFLINE,
    RESULT_FIELD,
    SERVER,
    BenchmarkRules,
    RoundRules,
    round_for_seeds,
)
from inferlab.loadgen.logs import parse_detail
from inferlab.submission.accuracy_txt import parse_accuracy_txt
from inferlab.submission.check_llm import token_latency_findings
from inferlab.submission.layout import PROVENANCE_BEGIN, PROVENANCE_END, Layout
from inferlab.submission.recompute import RecomputeChecks

log = logging.getLogger(__name__)

SCENARIO_DIRS = ("SingleStream", "MultiStream", "Server", "Offline", "Interactive")
MEASUREMENT_FIELDS = (
    "input_data_types",
    "retraining",
    "starting_weights_filename",
    "weight_data_types",
    "weight_transformations",
)
PERF_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACC_FILES = (*PERF_FILES, "accuracy.txt", "mlperf_log_accuracy.json")
SEED_KEYS: tuple[str, ...] = (
    "effective_qsl_rng_seed",
    "effective_sample_index_rng_seed",
    "effective_schedule_rng_seed",
)


class ResultChecks(RecomputeChecks):
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
            detail = perf / "mlperf_log_detail.txt"
            perf_values = self.guarded(detail, self.performance, detail, rules, b, scenario, closed)
        acc = scn_dir / "accuracy"
        if all([self.need(acc / f) for f in ACC_FILES]):
            self.guarded(acc, self.accuracy, acc, rules, b)
            self.guarded(acc / "accuracy.txt", self.recompute, acc, meas / "README.md", rules, b)
        if closed:
            for test in b.compliance:
                tdir = lay.compliance(system, b.name, scenario, test)
                self.guarded(tdir, self.compliance, tdir, test, rules, b, scenario, perf_values)

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

    def _loadgen_errors(self, path: Path, errors: list[str], compliance: bool = False) -> None:
        for rec in errors:
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
        log_ = parse_detail(detail, strict=False)
        v = log_.values
        self._seeds(detail, v, rules)
        self._loadgen_errors(detail, log_.errors, compliance)
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
        self._settings(detail, v, b, scenario)
        for code, message, fix in token_latency_findings(v, b, scenario):
            self.error(code, detail, message, fix)
        if not isinstance(v.get(RESULT_FIELD.get(scenario, "")), int | float):
            self.error(
                "no-result",
                detail,
                f"no {RESULT_FIELD.get(scenario)} in the log",
                "the run did not finish; rerun it",
            )
        return v

    def _settings(self, detail: Path, v: dict[str, Any], b: BenchmarkRules, scenario: str) -> None:
        """Settings a user.conf can change but a submission may not (mlperf.conf's values)."""
        want = b.latency_percentile.get(scenario)
        got = v.get("effective_target_latency_percentile")
        if want is not None and isinstance(got, int | float) and abs(got - want) > 1e-9:
            self.error(
                "setting-differs",
                detail,
                f"target_latency_percentile is {got}, mlperf.conf's is {want}",
                "remove target_latency_percentile from your user.conf and rerun",
            )
        spq = v.get("effective_samples_per_query")
        if scenario == MS and isinstance(spq, int) and spq != 8:
            self.error(
                "setting-differs",
                detail,
                f"MultiStream samples_per_query is {spq}, mlperf.conf's is 8",
                "remove samples_per_query from your user.conf and rerun",
            )
        if b.equal_issue and v.get("effective_sample_concatenate_permutation") is False:
            self.warn(
                "setting-differs",
                detail,
                "equal-issue mode (sample_concatenate_permutation) is off; mlperf.conf turns it "
                f"on for {b.name} (the current official checker does not enforce it)",
                "remove sample_concatenate_permutation from your user.conf and rerun",
            )

    def accuracy(self, acc: Path, rules: RoundRules, b: BenchmarkRules) -> None:
        detail = acc / "mlperf_log_detail.txt"
        log_ = parse_detail(detail, strict=False)
        v = log_.values
        self._seeds(detail, v, rules)
        self._loadgen_errors(detail, log_.errors)
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
            runnable = test in ("TEST01", "TEST04", "TEST06")
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
        if test == "TEST06":
            from inferlab.submission.compliance_test06 import check_tree_test06

            check_tree_test06(self, tdir)

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
    return parse_detail(path, strict=False).values


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
