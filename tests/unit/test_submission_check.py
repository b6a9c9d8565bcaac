"""The submission checker on trees written here: a clean tree has no finding (in both layouts),
each rule fires on its own defect, and no tree makes it crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inferlab.core.rounds import RULES, SEEDS
from inferlab.results.system import REQUIRED_FIELDS
from inferlab.submission.accuracy_txt import parse_accuracy_txt
from inferlab.submission.check import check_tree
from inferlab.submission.layout import Layout


def _detail(path: Path, values: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        ":::MLLOG " + json.dumps({"key": k, "value": v, "time_ms": 0.0, "metadata": {}})
        for k, v in values.items()
    ]
    path.write_text("\n".join(lines) + "\n")


def _seeds(round_: str) -> dict[str, int]:
    q, s, sch = SEEDS[round_]
    return {
        "effective_qsl_rng_seed": q,
        "effective_sample_index_rng_seed": s,
        "effective_schedule_rng_seed": sch,
    }


def perf_values(round_: str, scenario: str, score: float) -> dict[str, Any]:
    v: dict[str, Any] = {
        "effective_scenario": scenario,
        "effective_test_mode": "PerformanceOnly",
        **_seeds(round_),
        "result_validity": "VALID",
        "effective_min_duration_ms": 600000,
        "effective_performance_sample_count": 1024,
        "early_stopping_met": True,
        "result_min_duration_met": True,
        "result_min_queries_met": True,
    }
    if scenario != "Offline":
        v["effective_target_latency_percentile"] = 0.9 if scenario == "SingleStream" else 0.99
    if scenario == "MultiStream":
        v["effective_samples_per_query"] = 8
    if scenario == "Offline":
        v.update(effective_samples_per_query=24576, result_samples_per_second=score)
    elif scenario == "SingleStream":
        v["early_stopping_latency_ss"] = score
    else:
        v["early_stopping_latency_ms"] = score
    return v


def write_tree(root: Path, round_: str = "v6.1", scenarios: tuple[str, ...] = ()) -> Layout:
    rules = RULES[round_]
    lay = Layout(root, "closed", "Acme", rules.layout)
    desc = {k: f"x {k}" for k in REQUIRED_FIELDS}
    desc.update(division="closed", submitter="Acme", status="available", system_type="edge")
    lay.system_json("box").parent.mkdir(parents=True)
    lay.system_json("box").write_text(json.dumps(desc))
    (lay.code_dir("resnet")).mkdir(parents=True)
    (lay.code_dir("resnet") / "README.md").write_text("how\n")
    lay.documentation.mkdir(parents=True)
    (lay.documentation / "calibration.md").write_text("none\n")
    (lay.documentation / "README.md").write_text(f"inferlab-round: {round_}\n")
    b = rules.benchmarks["resnet"]
    for scn in scenarios or b.required["edge"]:
        score = 1000.0 if scn == "Offline" else 500000.0
        res = lay.results("box", "resnet", scn)
        meas = lay.measurements("box", "resnet", scn)
        meas.mkdir(parents=True, exist_ok=True)
        (meas / "user.conf").write_text("")
        (meas / "README.md").write_text("# result\n")
        if round_ == "v4.1":
            (meas / "mlperf.conf").write_text("")
        fields = ("input_data_types", "retraining", "starting_weights_filename")
        fields += ("weight_data_types", "weight_transformations")
        lay.measurements_json("box", "resnet", scn).write_text(
            json.dumps(dict.fromkeys(fields, "x"))
        )
        for run in (res / "performance/run_1",):
            _detail(run / "mlperf_log_detail.txt", perf_values(round_, scn, score))
            (run / "mlperf_log_summary.txt").write_text("Result is : VALID\n")
        acc = res / "accuracy"
        _detail(
            acc / "mlperf_log_detail.txt",
            {**_seeds(round_), "effective_test_mode": "AccuracyOnly",
             "effective_accuracy_sample_count": 50000},
        )  # fmt: skip
        (acc / "mlperf_log_summary.txt").write_text("\n")
        (acc / "mlperf_log_accuracy.json").write_text("[\n]\n")
        (acc / "accuracy.txt").write_text("accuracy=76.100%, good=38050, total=50000\nhash=ab12\n")
        for test in b.compliance:
            t = lay.compliance("box", "resnet", scn, test)
            _detail(t / "performance/run_1/mlperf_log_detail.txt", perf_values(round_, scn, score))
            (t / "performance/run_1/mlperf_log_summary.txt").write_text("\n")
            (t / "verify_performance.txt").write_text("TEST PASS\n")
            if test == "TEST01":
                (t / "verify_accuracy.txt").write_text("TEST PASS\n")
                (t / "accuracy").mkdir()
                (t / "accuracy/mlperf_log_accuracy.json").write_text("[\n]\n")
                (t / "accuracy/accuracy.txt").write_text("hash=cd34\n")
            if test == "TEST05":
                (t / "verify_performance.txt").write_text("TEST PASS\n")
    return lay


@pytest.mark.parametrize("round_", ["v6.1", "v6.0", "v5.1", "v5.0"])
def test_clean_tree_has_no_finding(tmp_path: Path, round_: str) -> None:
    write_tree(tmp_path, round_)
    report = check_tree(tmp_path)
    assert report.round == round_
    assert [f for f in report.findings if f.severity != "note"] == []
    # no run to recompute accuracy.txt from: said, not silent
    assert {(f.code, f.path.split("/")[-1]) for f in report.notes} == {
        ("accuracy-not-recomputed", "accuracy.txt")
    }
    assert len(report.notes) == 3
    assert report.results_checked == 3


def test_v41_needs_test05_which_inferlab_cannot_run(tmp_path: Path) -> None:
    lay = write_tree(tmp_path, "v4.1")
    import shutil

    for scn in ("SingleStream", "MultiStream", "Offline"):
        shutil.rmtree(lay.compliance("box", "resnet", scn, "TEST05"))
    report = check_tree(tmp_path)
    assert {f.code for f in report.errors} == {"missing-compliance"}
    assert all("TEST05" in f.message and "cannot run" in f.fix for f in report.errors)


def test_layout_of_another_round_is_named(tmp_path: Path) -> None:
    write_tree(tmp_path, "v5.1")
    readme = tmp_path / "closed/Acme/documentation/README.md"
    readme.write_text("inferlab-round: v6.1\n")  # claims v6.1 but has the old layout
    codes = {f.code for f in check_tree(tmp_path).errors}
    assert "wrong-layout" in codes and "seed-mismatch" in codes


def test_round_from_seeds_when_the_tree_does_not_say(tmp_path: Path) -> None:
    write_tree(tmp_path, "v6.0")
    (tmp_path / "closed/Acme/documentation/README.md").write_text("no marker\n")
    assert check_tree(tmp_path).round == "v6.0"
    assert check_tree(tmp_path, "v6.1").codes()[0][0] == "seed-mismatch"


def test_each_rule_fires(tmp_path: Path) -> None:
    lay = write_tree(tmp_path)
    off = lay.results("box", "resnet", "Offline")
    ss = lay.results("box", "resnet", "SingleStream")
    v = perf_values("v6.1", "Offline", 1000.0)
    v.update(effective_samples_per_query=100, effective_performance_sample_count=64)
    _detail(off / "performance/run_1/mlperf_log_detail.txt", v)
    w = perf_values("v6.1", "SingleStream", 500000.0)
    w.update(early_stopping_met=False, result_validity="INVALID")
    _detail(ss / "performance/run_1/mlperf_log_detail.txt", w)
    (off / "accuracy/accuracy.txt").write_text("accuracy=76.100%\n")  # no hash
    (off / "TEST01/verify_accuracy.txt").write_text("TEST FAIL\n")
    (tmp_path / "stray.txt").write_text("x")
    (tmp_path / "closed/Acme/documentation/calibration.md").unlink()
    (lay.measurements_json("box", "resnet", "SingleStream")).write_text('{"retraining": ""}')
    codes = {(f.code, f.path.split("/")[-1]) for f in check_tree(tmp_path).errors}
    assert codes == {
        ("min-queries", "mlperf_log_detail.txt"),  # Offline 100 < 24576 and SS early stopping
        ("performance-sample-count", "mlperf_log_detail.txt"),
        ("result-invalid", "mlperf_log_detail.txt"),
        ("missing-hash", "accuracy.txt"),
        ("compliance-failed", "verify_accuracy.txt"),
        # SingleStream's TEST01/TEST04 files say PASS, but their reference run is now INVALID
        ("compliance-inconsistent", "verify_performance.txt"),
        ("stray-file", "stray.txt"),
        ("missing-file", "calibration.md"),
        ("measurements-field", "measurements.json"),
    }


def test_settings_that_differ_from_mlperf_conf(tmp_path: Path) -> None:
    lay = write_tree(tmp_path)
    ss = lay.results("box", "resnet", "SingleStream")
    ms = lay.results("box", "resnet", "MultiStream")
    v = perf_values("v6.1", "SingleStream", 500000.0)
    v["effective_target_latency_percentile"] = 0.5
    _detail(ss / "performance/run_1/mlperf_log_detail.txt", v)
    w = perf_values("v6.1", "MultiStream", 500000.0)
    w["effective_samples_per_query"] = 4
    _detail(ms / "performance/run_1/mlperf_log_detail.txt", w)
    found = [(f.code, f.path.split("/")[-4], f.message) for f in check_tree(tmp_path).errors]
    assert found == [
        (
            "setting-differs",
            "MultiStream",
            "MultiStream samples_per_query is 4, mlperf.conf's is 8",
        ),
        (
            "setting-differs",
            "SingleStream",
            "target_latency_percentile is 0.5, mlperf.conf's is 0.9",
        ),
    ]


def test_compliance_claim_is_rechecked_against_the_logs(tmp_path: Path) -> None:
    lay = write_tree(tmp_path)
    t04 = lay.compliance("box", "resnet", "Offline", "TEST04")
    # TEST04 40 % faster than the submission run: caching; the file still says TEST PASS
    _detail(t04 / "performance/run_1/mlperf_log_detail.txt", perf_values("v6.1", "Offline", 1400.0))
    errors = check_tree(tmp_path).errors
    assert [(f.code, f.path.split("/")[-2]) for f in errors] == [
        ("compliance-inconsistent", "TEST04")
    ]


def test_garbage_never_crashes(tmp_path: Path) -> None:
    lay = write_tree(tmp_path)
    off = lay.results("box", "resnet", "Offline")
    (off / "performance/run_1/mlperf_log_detail.txt").write_bytes(b"\x00\xff garbage")
    (off / "accuracy/accuracy.txt").write_bytes(b"\xff\xfe")
    lay.system_json("box").write_text("{not json")
    (lay.org / "results/box/resnet/Nonsense").mkdir()
    (lay.org / "results/box/unknown-bench/Offline").mkdir(parents=True)
    report = check_tree(tmp_path)
    codes = {f.code for f in report.errors}
    assert {"unreadable", "bad-json", "bad-scenario", "benchmark-not-in-round"} <= codes
    # the unreadable performance log does not stop the accuracy checks of the same result
    rel = off.relative_to(tmp_path)
    unreadable = [f.path for f in report.errors if f.code == "unreadable"]
    assert unreadable == [f"{rel}/performance/run_1/mlperf_log_detail.txt"]
    assert ("missing-hash", f"{rel}/accuracy/accuracy.txt") in report.codes()
    missing = check_tree(tmp_path / "missing")
    assert missing.codes() == [("no-tree", ".")]
    assert str(tmp_path / "missing") in missing.errors[0].message


def test_accuracy_regexes_follow_the_checker() -> None:
    assert parse_accuracy_txt("accuracy=76.456%, good=38228, total=50000", ["acc"]) == {
        "acc": 76.456
    }
    assert parse_accuracy_txt('{"exact_match": 83.1, "f1": 90.9}', ["F1"]) == {"F1": 90.9}
    text = "{'rouge1': '44.43', 'rouge2': 22.03, 'tokens_per_sample': 294.4}"
    got = parse_accuracy_txt(text, ["ROUGE1", "ROUGE2", "TOKENS_PER_SAMPLE"])
    assert got == {"ROUGE1": 44.43, "ROUGE2": 22.03, "TOKENS_PER_SAMPLE": 294.4}
    # the v4.1 checker did not accept quoted ROUGE values
    assert parse_accuracy_txt(text, ["ROUGE1"], "v4.1") == {}
    assert parse_accuracy_txt("np.float64(44.4)", ["ROUGE1"]) == {}


@pytest.mark.parametrize("round_", ["v6.1", "v5.1", "v4.1"])
def test_stray_files_in_either_layout(tmp_path: Path, round_: str) -> None:
    lay = write_tree(tmp_path, round_)
    before = check_tree(tmp_path).codes()
    off = lay.results("box", "resnet", "Offline")
    stray = [
        lay.org / "results/box/resnet/notes.md",
        off / "performance/run_1/mlperf_log_trace.json",
        lay.compliance("box", "resnet", "Offline", "TEST04") / "audit.config",
        lay.measurements("box", "resnet", "Offline") / "job.json~",
    ]
    for p in stray:
        p.write_text("x")
    (lay.documentation / "extra.pdf").write_text("allowed")
    (lay.code_dir("resnet") / "run.sh").write_text("allowed")
    after = check_tree(tmp_path).codes()
    added = sorted(set(after) - set(before))
    assert added == sorted(("stray-file", str(p.relative_to(tmp_path))) for p in stray)


def test_test04_prints_the_summary_s_figures() -> None:
    """The official TEST04 script prints the summaries' strings: Offline in C++'s default
    format (%g), Server with two decimals; SingleStream/MultiStream 1e9/latency as a float."""
    from inferlab.submission.compliance import verify_performance

    off = perf_values("v6.1", "Offline", 1189437.5)
    v = verify_performance("TEST04", "Offline", off, off, summary_scores=("1.18944e+06", None))
    assert v.text.splitlines()[1:3] == [
        "reference score = 1.18944e+06",
        "test score = 1189437.5",  # no summary text given: the detail value as it is
    ]
    assert v.reference_score == 1189440.0  # compared as the official script compares
    ss = perf_values("v6.1", "SingleStream", 759592)
    v = verify_performance("TEST04", "SingleStream", ss, ss, summary_scores=("x", "y"))
    assert v.text.splitlines()[1] == f"reference score = {1e9 / 759592}"
    # TEST01 reads the detail logs: float(value), whatever the summaries say
    v = verify_performance("TEST01", "Offline", off, off, summary_scores=("1.18944e+06", None))
    assert v.text.splitlines()[1] == "Reference score = 1189437.5"


def test_summary_score_reads_the_summary_or_formats_like_loadgen(tmp_path: Path) -> None:
    from inferlab.submission.compliance_perf import summary_score

    detail = tmp_path / "mlperf_log_detail.txt"
    off = {"effective_scenario": "Offline", "result_samples_per_second": 1189437.5}
    server = {"effective_scenario": "Server", "result_completed_samples_per_sec": 12345.678}
    assert summary_score(detail, off) == "1.18944e+06"  # no summary: LoadGen's %g
    assert summary_score(detail, server) == "12345.68"  # LoadGen's two decimals
    (tmp_path / "mlperf_log_summary.txt").write_text(
        "Scenario : Server\nCompleted samples per second    : 12345.67\n"
    )
    assert summary_score(detail, server) == "12345.67"  # the summary's own string wins
    assert summary_score(detail, {"effective_scenario": "SingleStream"}) is None


def _llm_values(scenario: str, ttft_ms: float, tpot_ms: float) -> dict[str, Any]:
    v = perf_values("v6.1", "Server", 0.0)
    v.update(
        effective_performance_sample_count=13368,
        requested_use_token_latencies=True,
        result_completed_samples_per_sec=3.0,
    )
    v["result_first_token_99.00_percentile_latency_ns"] = int(ttft_ms * 1e6)
    v["result_time_per_output_token_99.00_percentile_ns"] = int(tpot_ms * 1e6)
    return v


@pytest.mark.parametrize(
    ("scenario", "ttft_ms", "tpot_ms", "expect"),
    [
        ("Server", 1999.0, 99.0, None),
        ("Server", 2000.0, 50.0, "token-latency"),  # strictly below, as llm_check
        ("Server", 600.0, 100.5, "token-latency"),
        ("Interactive", 499.0, 29.9, None),
        ("Interactive", 600.0, 20.0, "token-latency"),  # within Server's 2000, not Interactive's
        ("Interactive", 100.0, 31.0, "token-latency"),
    ],
)
def test_llm_ttft_tpot_limits_per_scenario(
    tmp_path: Path, scenario: str, ttft_ms: float, tpot_ms: float, expect: str | None
) -> None:
    """Rules §2.3 (LLM_LATENCY_LIMITS): llama3.1-8b Server 2000/100 ms, Interactive 500/30 ms,
    the 99th percentiles strictly below both."""
    from inferlab.submission.check_result import ResultChecks

    rules = RULES["v6.1"]
    b = rules.benchmarks["llama3.1-8b"]
    detail = tmp_path / "mlperf_log_detail.txt"
    _detail(detail, _llm_values(scenario, ttft_ms, tpot_ms))
    checks = ResultChecks(tmp_path, "v6.1")
    checks.performance(detail, rules, b, scenario, closed=True)
    codes = [f.code for f in checks.report.errors]
    assert codes == ([] if expect is None else [expect])
    if expect:
        (msg,) = [f.message for f in checks.report.errors]
        limits = b.interactive_latencies if scenario == "Interactive" else b.token_latencies
        assert limits is not None and f"(limit {limits[0]:g})" in msg and scenario in msg


def test_llm_without_token_latencies_is_refused(tmp_path: Path) -> None:
    from inferlab.submission.check_result import ResultChecks

    rules = RULES["v6.1"]
    v = _llm_values("Offline", 1.0, 1.0)
    v.update(perf_values("v6.1", "Offline", 100.0), effective_samples_per_query=13368)
    v["effective_performance_sample_count"] = 13368
    v["requested_use_token_latencies"] = False
    detail = tmp_path / "mlperf_log_detail.txt"
    _detail(detail, v)
    checks = ResultChecks(tmp_path, "v6.1")
    checks.performance(detail, rules, rules.benchmarks["llama3.1-8b"], "Offline", closed=True)
    assert [f.code for f in checks.report.errors] == ["token-latencies"]
    # resnet is not an LLM: the same flag is not asked of it
    checks = ResultChecks(tmp_path, "v6.1")
    checks.performance(detail, rules, rules.benchmarks["resnet"], "Offline", closed=True)
    assert "token-latencies" not in [f.code for f in checks.report.errors]


def test_interactive_limits_by_round() -> None:
    """What `inferlab run --scenario Interactive` refuses without (rules §2.3 table)."""
    from inferlab.core.rounds import interactive_latencies

    assert interactive_latencies("llama3.1-8b", "v6.1") == (500.0, 30.0)
    assert interactive_latencies("llama2-70b-99.9", "v6.1") == (450.0, 40.0)
    assert interactive_latencies("llama3.1-8b", "v5.0") is None  # not in that round
    assert interactive_latencies("resnet", "v6.1") is None
