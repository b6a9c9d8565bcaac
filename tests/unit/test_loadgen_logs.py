"""Tests for inferlab.loadgen.logs on real LoadGen 6.0.17 outputs.

The fixtures under tests/fixtures/loadgen/ were produced by mlperf_loadgen 6.0.17 (PyPI
mlcommons-loadgen) with a trivial Python SUT that answers each sample with the float32 pair
``[qsl_idx % 7, 0.5]`` (optionally after a sleep), a QSL of 16 samples, performance count 8 (10 for
the accuracy run), ``settings.FromConfig(user.conf, "resnet50", scenario)`` and one fresh process
per run. user.conf / SUT per fixture:

- offline_valid: Offline min_duration 100, target_qps 200; SUT sleeps 150 ms.
- offline_min_duration: same, SUT answers at once (run shorter than min_duration).
- server_invalid: Server min_duration 300, target_qps 200, min_query_count 50; SUT sleeps 30 ms
  (> the 15 ms resnet50 Server target latency).
- singlestream_early_stopping: SingleStream min_duration 100, target_latency 5,
  min_query_count 10; SUT sleeps 5 ms (17 queries < the 64 early stopping needs).
- singlestream_valid: min_duration 100, target_latency 1, min_query_count 100; 0.5 ms sleep.
- singlestream_max_queries: min_duration 50, min_query_count 100, max_query_count 70 (LoadGen
  logs an error_runtime record and "min queries" fails).
- multistream_valid: MultiStream min_duration 100, target_latency 1, min_query_count 700.
- accuracy_multistream: MultiStream AccuracyOnly (also holds mlperf_log_accuracy.json).
- llm_server_tpot_short: an `inferlab run llama3.1-8b --quick --scenario Server` (tiny random
  Llama on the generation engine, token streaming, LoadGen 6.0.17, 2026-12-07): 64 queries,
  TTFT/TPOT well within 2000/100 ms, but too few queries for TPOT early stopping. Not trimmed.

Trimmed only by deleting whole records: loadgen_file_sha1, loadgen_git_log_message,
loadgen_build_date_*, logger_* and (except offline_valid, server_invalid) requested_*.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inferlab.core.errors import DataError
from inferlab.loadgen.logs import (
    DETAIL_LOG_NAME,
    SUMMARY_LOG_NAME,
    load_outcome,
    outcome,
    parse_detail,
    parse_summary,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "loadgen"
V61_SEEDS = {
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
    "accuracy_log_rng_seed": 0,
}


def _detail(name: str) -> Path:
    return FIXTURES / name / DETAIL_LOG_NAME


def _summary(name: str) -> Path:
    return FIXTURES / name / SUMMARY_LOG_NAME


def test_detail_first_value_wins_and_warnings() -> None:
    d = parse_detail(_detail("offline_valid"))
    assert d.values["loadgen_version"] == "6.0.17 @ d6147c7eb7"
    assert d["effective_scenario"] == "Offline"
    assert d.get("generic_message") == "Starting performance mode"
    assert d.all("generic_message") == [
        "Starting performance mode",
        "Ending naturally: Minimum query count and test duration met.",
    ]
    assert d["effective_schedule_rng_seed"] == 16159082839903944936  # > int64, kept exact
    assert d.errors == [] and not d.truncated
    assert len(d.warnings) == 1
    assert d.warnings[0].startswith("warning_generic_message: Logging allocation detected")
    assert d.warnings[0].endswith("(logging.cc:818)")
    assert d.warning_records[0].key == "warning_generic_message"


def test_error_record_format() -> None:
    d = parse_detail(_detail("singlestream_max_queries"))
    assert d.errors == [
        "error_runtime: IssueQueryThread 0 Ending early: Max query count reached. query_count 70 "
        "(issue_query_controller.cc:504)"
    ]
    rec = d.error_records[0]
    assert (rec.key, rec.file, rec.line_no) == ("error_runtime", "issue_query_controller.cc", 504)
    assert d["num_errors"] == 1


def test_offline_valid_outcome() -> None:
    o = outcome(parse_detail(_detail("offline_valid")), parse_summary(_summary("offline_valid")))
    assert (o.scenario, o.mode, o.validity) == ("Offline", "PerformanceOnly", "VALID") and o.valid
    assert o.result_field == "result_samples_per_second"
    assert o.result == 101438.0 and o.unit == "samples/s" and o.result_ms is None
    assert o.constraints == {
        "min_duration_met": True,
        "min_queries_met": True,
        "perf_constraints_met": None,
        "early_stopping_met": True,
    }
    assert o.invalid_reasons == []
    assert (o.query_count, o.sample_count) == (1, 24576)
    assert o.duration_s == pytest.approx(0.242276562)
    assert o.seeds == V61_SEEDS
    assert o.effective["effective_samples_per_query"] == 24576
    assert o.effective["requested_offline_expected_qps"] == 200
    assert o.effective["requested_min_query_count"] == 24576
    assert not any(k.startswith("result_") for k in o.effective)
    assert o.loadgen_version == "6.0.17 @ d6147c7eb7"
    assert o.headline() == "Offline PerformanceOnly VALID: 101438 samples/s"


def test_offline_min_duration_reason() -> None:
    o = load_outcome(FIXTURES / "offline_min_duration")
    assert o.validity == "INVALID" and o.result == 411490.0
    assert o.constraints["min_duration_met"] is False
    assert o.invalid_reasons == [
        "min duration not met: ran 0.060 s of 0.100 s; raise the expected QPS (offline "
        "target_qps) so LoadGen builds a larger query"
    ]
    assert o.loadgen_reason == (
        "Increase expected QPS so the loadgen pre-generates a larger (coalesced) query."
    )


def test_server_invalid_outcome() -> None:
    o = load_outcome(FIXTURES / "server_invalid")
    assert (o.scenario, o.validity) == ("Server", "INVALID")
    assert o.result_field == "result_completed_samples_per_sec"
    assert o.result == pytest.approx(167.462)
    assert o.constraints == {
        "min_duration_met": True,
        "min_queries_met": True,
        "perf_constraints_met": False,
        "early_stopping_met": False,
    }
    latency, early = o.invalid_reasons
    assert latency.startswith(
        "Server latency constraint not met: 99.0th percentile 33.6 ms > target 15.0 ms; "
        "even the fastest query took 30.3 ms, so no target_qps can pass"
    )
    assert "57 of 57 queries over the target" in latency
    assert early.startswith("early stopping not met: processed 57 queries, 57 over the 15.0 ms")
    assert "at least 7651 more queries" in early and "only a faster SUT can pass" in early
    assert o.early_stopping == [
        "Run unsuccessful.",
        "Processed 57 queries.",
        "Would need to run at least 7651 more queries, with the run being successful if every "
        "additional query were under latency.",
    ]
    assert o.duration_s == pytest.approx(56 / 184.19)


def test_singlestream_early_stopping_not_met() -> None:
    o = load_outcome(FIXTURES / "singlestream_early_stopping")
    assert (o.scenario, o.validity) == ("SingleStream", "INVALID")
    assert o.constraints["early_stopping_met"] is False
    assert o.constraints["min_duration_met"] is True
    assert o.result_field == "early_stopping_latency_ss"
    assert o.result is None and o.result_ms is None  # LoadGen logs a 0 placeholder
    assert o.invalid_reasons == [
        "early stopping not met: processed 17 queries, need 64; raise min_query_count to at "
        "least 64 (or min_duration) so LoadGen issues enough queries"
    ]
    assert o.query_count == 17


def test_singlestream_valid_figure_in_ns_and_ms() -> None:
    o = load_outcome(FIXTURES / "singlestream_valid")
    assert o.valid and o.invalid_reasons == []
    assert o.result == 759592.0 and o.unit == "ns"
    assert o.result_ms == pytest.approx(0.759592)
    headline = "SingleStream PerformanceOnly VALID: 0.760 ms (early_stopping_latency_ss)"
    assert o.headline() == headline
    assert "Early stopping 90.0th percentile estimate: 759592" in o.early_stopping


def test_min_queries_reason_names_the_error() -> None:
    o = load_outcome(FIXTURES / "singlestream_max_queries")
    assert o.validity == "INVALID"
    assert o.constraints["min_queries_met"] is False
    (reason,) = o.invalid_reasons
    assert reason.startswith("min queries not met: issued 70 queries of 100 required")
    assert "Max query count reached" in reason and "max_query_count" in reason
    assert len(o.errors) == 1


def test_multistream_valid() -> None:
    o = load_outcome(FIXTURES / "multistream_valid")
    assert (o.scenario, o.validity) == ("MultiStream", "VALID")
    assert o.result_field == "early_stopping_latency_ms"
    assert o.result == 527498.0 and o.result_ms == pytest.approx(0.527498)
    assert (o.query_count, o.sample_count) == (700, 5600)
    assert "requested_scenario" not in o.effective  # trimmed from this fixture
    assert o.effective["effective_samples_per_query"] == 8


def test_accuracy_mode_has_no_validity() -> None:
    o = load_outcome(FIXTURES / "accuracy_multistream")
    assert (o.scenario, o.mode) == ("MultiStream", "AccuracyOnly")
    assert o.validity is None and o.result is None and o.result_field is None
    assert o.constraints == {} and o.invalid_reasons == []
    assert (o.query_count, o.sample_count) == (3, 24)  # summed over both loaded sets
    assert o.seeds == V61_SEEDS
    s = parse_summary(_summary("accuracy_multistream"))
    assert s.values == {} and "Result is" not in s
    assert s.notes == ["No warnings encountered during test.", "No errors encountered during test."]


def test_summary_parser_values_and_sections() -> None:
    s = parse_summary(_summary("server_invalid"))
    assert s["Scenario"] == "Server"
    assert s["Completed samples per second"] == "167.46"
    assert s["Result is"] == "INVALID"
    assert s["Performance constraints satisfied"] == "NO"
    assert s["Early stopping satisfied"] == "NO"
    assert s["target_latency (ns)"] == "15000000"
    assert s["99.00 percentile latency (ns)"] == "33619268"
    assert s.recommendations == ["Reduce target QPS to improve latency."]
    assert len(s.early_stopping) == 3
    m = parse_summary(_summary("singlestream_max_queries"))
    assert m.recommendations == [
        "The test exited early, before enough queries were issued. See the detailed log for why "
        "this may have occurred."
    ]
    assert m.early_stopping[-1] == (
        "Not enough queries processed for 99.0th percentile early stopping estimate (would need "
        "to process at least 662 total queries)."
    )
    assert "1 ERROR encountered. See detailed log." in m.notes
    ms = parse_summary(_summary("multistream_valid"))
    assert ms["99.0th percentile latency (ns)"] == "478727"
    assert ms["Min latency (ns)"] == "351388"  # per-query block
    assert "Per-query latency" in ms.sections


def test_summary_accepts_old_percentile_labels(tmp_path: Path) -> None:
    text = _summary("singlestream_valid").read_text().replace("90.0th", "90th")
    path = tmp_path / SUMMARY_LOG_NAME
    path.write_text(text)
    s = parse_summary(path)
    assert s["90th percentile latency (ns)"] == "723595"


def test_truncated_last_line_is_tolerated(tmp_path: Path) -> None:
    lines = _detail("offline_valid").read_text().splitlines(keepends=True)
    path = tmp_path / DETAIL_LOG_NAME
    path.write_text("".join(lines[:-1]) + lines[-1][:40])
    d = parse_detail(path)
    assert d.truncated and "num_errors" not in d and d["result_validity"] == "VALID"
    assert outcome(d).valid


def test_killed_run_has_no_result(tmp_path: Path) -> None:
    lines = _detail("server_invalid").read_text().splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if '"generic_message"' in ln)
    path = tmp_path / DETAIL_LOG_NAME
    path.write_text("".join(lines[: cut + 1]) + lines[cut + 1][:25])
    o = outcome(parse_detail(path))
    assert o.scenario == "Server" and o.validity is None and o.result is None
    assert o.truncated
    assert o.invalid_reasons[0].startswith("no result: the detail log has no result_validity")


def test_corrupt_middle_line(tmp_path: Path) -> None:
    lines = _detail("offline_valid").read_text().splitlines(keepends=True)
    lines[10] = ":::MLLOG {not json\n"
    path = tmp_path / DETAIL_LOG_NAME
    path.write_text("".join(lines))
    with pytest.raises(DataError, match="line 11"):
        parse_detail(path)
    d = parse_detail(path, strict=False)
    assert d.bad_lines == [11] and d["result_validity"] == "VALID"


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        parse_detail(tmp_path / DETAIL_LOG_NAME)
    with pytest.raises(DataError, match="does not exist"):
        parse_summary(tmp_path / SUMMARY_LOG_NAME)
    shutil.copy(_summary("offline_valid"), tmp_path / "x.txt")
    with pytest.raises(DataError, match="not a LoadGen detail log"):
        parse_detail(tmp_path / "x.txt")


def test_outcome_from_detail_only_and_field_override() -> None:
    d = parse_detail(_detail("singlestream_valid"))
    o = outcome(d, result_field="result_90.00_percentile_latency_ns")
    assert o.result == float(d["result_90.00_percentile_latency_ns"])
    assert o.unit == "ns" and o.result_ms == pytest.approx(0.723595)
    assert o.early_stopping[0].startswith("* Processed at least 64 queries (142).")


def test_server_latency_advice_lowers_qps_when_queries_can_fit() -> None:
    d = parse_detail(FIXTURES / "server_invalid" / "mlperf_log_detail.txt")
    d.values["result_min_latency_ns"] = 2_000_000  # the fastest query fits the 15 ms bound
    latency = outcome(d).invalid_reasons[0]
    assert "lower target_qps (now 200) until the 99.0th percentile fits" in latency
    assert "no target_qps can pass" not in latency
    assert "lower target_qps so fewer queries miss the bound" in outcome(d).invalid_reasons[1]


def test_server_early_stopping_with_no_late_query_asks_for_a_longer_run() -> None:
    d = parse_detail(FIXTURES / "server_invalid" / "mlperf_log_detail.txt")
    d.values["result_min_latency_ns"] = 2_000_000
    d.values["result_overlatency_query_count"] = 0
    es = next(r for r in outcome(d).invalid_reasons if "early stopping" in r)
    assert "0 over the 15.0 ms bound" in es
    assert "too short: raise min_query_count to at least" in es
    assert "lower target_qps" not in es


def test_token_latency_early_stopping_names_its_bound_and_the_margin() -> None:
    """Issue 17: a TTFT/TPOT failure is judged on the token latencies and their own bounds (the
    query latency bound is 0 with token latencies, so LoadGen counts every query "over" it)."""
    o = load_outcome(
        FIXTURES / "llm_server_tpot_short", result_field="result_completed_tokens_per_second"
    )
    assert o.validity == "INVALID" and o.result_field == "result_completed_tokens_per_second"
    (reason,) = o.invalid_reasons
    assert reason.startswith("TPOT early stopping not met: processed 64 queries; LoadGen would")
    assert "all under the 100.0 ms TPOT bound" in reason
    assert "the 99th-percentile TPOT 19.1 ms is within it, so the run was too short" in reason
    assert "at least 459" in reason and "over the latency bound" not in reason


def test_the_summary_and_metrics_show_ttft_and_tpot(tmp_path: Path) -> None:
    """Issue 17: an LLM run's summary line and metrics.json carry TTFT/TPOT (p50, p99) and, in
    Server, the bounds they are judged on; a run without token latencies has neither."""
    from tests.unit.test_report_rows import fake_result

    from inferlab.report.console import token_latency_line
    from inferlab.results.metrics import TOKEN_LATENCY_KEYS
    from inferlab.results.models import RunResult

    detail = parse_detail(FIXTURES / "llm_server_tpot_short" / DETAIL_LOG_NAME)
    results = {
        k: v
        for k, v in detail.values.items()
        if k.startswith("result_") and isinstance(v, int | float) and not isinstance(v, bool)
    }  # what the run keeps (runner.finish)
    effective = {
        k: v for k, v in detail.values.items() if k.startswith(("effective_", "requested_"))
    }
    res = RunResult.model_validate(
        fake_result(scenario="Server", loadgen={"results": results, "effective": effective})
    )
    line = token_latency_line(res)
    assert line == (
        "tokens   : TTFT p99 201.7 ms (p50 38.6) vs 2,000 ms; TPOT p99 19.1 ms (p50 17.2) vs 100 ms"
    )
    assert all(k in results for k in TOKEN_LATENCY_KEYS)
    plain = RunResult.model_validate(fake_result(scenario="Server"))
    assert token_latency_line(plain) is None
