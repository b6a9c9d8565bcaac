"""Report rows, loading and the HTML page from fake result.json contents."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferlab.report import html, series, table
from inferlab.report.table import ReportError
from inferlab.results.load import Run, load_run, load_runs
from inferlab.results.models import RunResult

INVALID_REASON = (
    "Server latency constraint not met: 99.0th percentile 40.0 ms > target 15.0 ms; lower "
    "target_qps (now 2000) until the 99.0th percentile fits"
)


def fake_result(**over: Any) -> dict[str, Any]:
    """result.json content (schema_version 2) with the sections the report reads; ``over``
    replaces keys (dicts are merged one level deep)."""
    res: dict[str, Any] = {
        "schema_version": 2,
        "status": "ok",
        "inferlab_version": "0.1.0",
        "run_dir": "/somewhere/else",
        "started_at": "2026-12-07T20:00:00Z",
        "finished_at": "2026-12-07T20:01:00Z",
        "benchmark": {
            "id": "resnet50",
            "loadgen_name": "resnet50",
            "checker_name": "resnet",
            "variant": {"name": "pytorch", "fmt": "torch-state-dict"},
        },
        "scenario": "Offline",
        "mode": "performance",
        "config": {"backend": "torch", "device": "cuda:0", "dtype": "fp16"},
        "round": "v6.1",
        "dataset": {"dataset_id": "imagenet2012", "total_count": 50000, "synthetic": False},
        "backend": {"device": "cuda:0", "cuda_device_name": "NVIDIA H100 80GB HBM3"},
        "loadgen": {"version": "6.0.17", "trace_kept": False, "effective": {}},
        "result": {
            "official_field": "result_samples_per_second",
            "value": 41234.5,
            "unit": "samples/s",
            "validity": "VALID",
            "invalid_reasons": [],
            "loadgen_reason": None,
        },
        "accuracy": None,
        "flags": {
            "synthetic": False,
            "random_weights": False,
            "quick": False,
            "subset": False,
            "submittable": True,
            "not_submittable_because": [],
        },
        "telemetry": None,
        "system": None,
        "error": None,
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(res.get(key), dict):
            res[key] = {**res[key], **value}
        else:
            res[key] = value
    return res


def accuracy_result(value: float, passed: bool) -> dict[str, Any]:
    metric = {
        "metric": "acc",
        "value": value,
        "unit": "%",
        "reference": 76.46,
        "threshold": 75.6954,
        "upper_limit": None,
        "percent_of_reference": round(100 * value / 76.46, 3),
        "passed": passed,
    }
    return fake_result(
        mode="accuracy",
        status="ok",
        result={"value": None, "validity": None, "official_field": None, "unit": None},
        accuracy={"status": "pass" if passed else "fail", "metrics": [metric], "note": ""},
    )


def as_result(result: dict[str, Any]) -> RunResult:
    """The typed result of fake result.json content (validated as a reader would)."""
    return RunResult.model_validate(result)


def run_of(result: dict[str, Any], path: str = "/runs/r1") -> Run:
    return Run(Path(path), as_result(result))


def test_valid_performance_row() -> None:
    r = table.row(run_of(fake_result()))
    assert r["benchmark"] == "resnet50" and r["scenario"] == "Offline"
    assert r["figure"] == 41234.5 and r["unit"] == "samples/s"
    assert r["figure_field"] == "result_samples_per_second"
    assert r["validity"] == "VALID" and r["reasons"] == []
    assert r["device"] == "cuda:0 (NVIDIA H100 80GB HBM3)" and r["dtype"] == "fp16"
    assert r["flags"] == [] and r["run_dir"] == "/runs/r1"
    c = table.cells(1, r)
    assert c[6] == "41,234.5 samples/s" and c[7] == "VALID" and c[8:13] == ["-"] * 5
    json.dumps(r)  # JSON-ready


def test_invalid_row_lists_every_reason_in_every_format() -> None:
    res = fake_result(
        scenario="Server",
        status="invalid",
        result={
            "official_field": "result_completed_samples_per_sec",
            "value": 1999.2,
            "validity": "INVALID",
            "invalid_reasons": [INVALID_REASON, "early stopping not met: processed 100 queries"],
            "loadgen_reason": "Reduce target QPS to improve latency.",
        },
    )
    r = table.row(run_of(res))
    assert r["validity"] == "INVALID" and len(r["reasons"]) == 2
    text = table.render_table([r], width=160)
    assert "INVALID" in text and "lower target_qps (now 2000)" in text
    assert "LoadGen says: Reduce target QPS" in text
    md = table.render_markdown([r])
    assert "**Why not VALID**" in md and "- [1] INVALID: Server latency constraint" in md
    rows = json.loads(table.render_json([r]))
    assert rows[0]["reasons"][0] == INVALID_REASON


def test_ms_figure_and_failed_run() -> None:
    ss = fake_result(
        scenario="SingleStream",
        result={"official_field": "early_stopping_latency_ss", "value": 0.81234, "unit": "ms"},
    )
    assert table.cells(1, table.row(run_of(ss)))[6] == "0.8123 ms"
    failed = fake_result(
        status="failed", result=None, error={"kind": "RunFailed", "message": "watchdog: stuck"}
    )
    r = table.row(run_of(failed))
    assert table.verdict_cell(r) == "FAILED" and r["reasons"] == ["failed: watchdog: stuck"]
    assert r["figure"] is None and table.cells(1, r)[6] == "n/a"


@pytest.mark.parametrize(
    ("value", "passed", "verdict"), [(76.01, True, "PASS"), (70.0, False, "FAIL")]
)
def test_accuracy_pass_fail(value: float, passed: bool, verdict: str) -> None:
    r = table.row(run_of(accuracy_result(value, passed)))
    assert r["verdict"] == verdict and r["accuracy"] == value
    assert r["reference"] == 76.46 and r["target"] == pytest.approx(75.6954)
    acc, ref, pct, target, v = table.cells(1, r)[8:13]
    assert acc == f"top-1 {value:.3f}%" and ref == "76.46" and target == ">= 75.6954"
    assert pct == f"{100 * value / 76.46:.2f}%" and v == verdict
    assert table.cells(1, r)[6] == "-" and table.verdict_cell(r) == "-"


def test_synthetic_and_shortcut_flags() -> None:
    res = fake_result(
        config={"backend": "null", "device": "cpu", "dtype": "fp32"},
        backend={"device": "cpu"},
        flags={
            "synthetic": True,
            "random_weights": True,
            "quick": True,
            "subset": True,
            "submittable": False,
            "not_submittable_because": ["synthetic data", "null backend", "quick mode"],
        },
    )
    r = table.row(run_of(res))
    assert r["flags"] == ["SYNTHETIC DATA", "NULL BACKEND", "QUICK", "SUBSET", "NOT SUBMITTABLE"]
    res["config"]["backend"] = "torch"
    assert table.flags(as_result(res))[1] == "RANDOM WEIGHTS"
    synth = accuracy_result(0.1, False)
    synth["accuracy"] = {"status": "n/a-synthetic", "metrics": [{"metric": "acc", "value": 0.1}]}
    assert table.row(run_of(synth))["verdict"] == "N/A (synthetic)"


def test_defensive_against_missing_sections() -> None:
    res = fake_result(telemetry={"gpu": None}, system=None, backend=None)
    res["config"] = {}  # a config without device or dtype
    r = table.row(run_of(res))
    assert r["device"] is None and r["dtype"] is None
    res = fake_result(
        backend={"cuda_device_name": None}, system={"accelerator_model_name": "NVIDIA L4"}
    )
    assert table.row(run_of(res))["device"] == "cuda:0 (NVIDIA L4)"


# ---- loading ------------------------------------------------------------------------------


def write_run(root: Path, name: str, result: dict[str, Any] | str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    text = result if isinstance(result, str) else json.dumps(result)
    (d / "result.json").write_text(text)
    return d


def test_load_errors_name_the_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReportError, match="empty: no result.json"):
        load_run(empty)
    bad = write_run(tmp_path, "bad", "{not json")
    with pytest.raises(ReportError, match="bad: result.json is unreadable or not valid JSON"):
        load_run(bad)
    future = write_run(tmp_path, "future", fake_result(schema_version=99))
    with pytest.raises(ReportError, match="future: result.json has schema_version 99") as err:
        load_run(future)
    assert "upgrade inferlab" in err.value.fix
    typo = write_run(tmp_path, "typo", fake_result(flags={"submitable": True}))
    with pytest.raises(ReportError, match="typo: result.json .* does not match its schema"):
        load_run(typo)


def test_parent_folder_glob_and_partial_errors(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(root, "a", fake_result())
    write_run(root / "group", "b", fake_result(scenario="Server"))
    write_run(root, "c", "[]")
    runs, errors = load_runs([root, root / "a"])  # a twice: once
    assert [r.path.name for r in runs] == ["a", "b"]
    assert len(errors) == 1 and "c: result.json is not a JSON object" in str(errors[0])
    runs, errors = load_runs([str(root / "*")])
    assert sorted(r.path.name for r in runs) == ["a", "b"] and len(errors) == 1
    runs, errors = load_runs([tmp_path / "nope", str(tmp_path / "x*")])
    assert (
        runs == [] and "no such directory" in str(errors[0]) and "matches nothing" in str(errors[1])
    )


# ---- HTML ---------------------------------------------------------------------------------


def _plots(page: str) -> int:
    return len(re.findall(r'<svg class="plot"', page))


def test_html_says_what_was_not_recorded(tmp_path: Path) -> None:
    d = write_run(tmp_path, "r", fake_result())
    page = html.render_html([load_run(d)])
    assert html.NO_TRACE in page and html.NO_TRACE_TIME in page
    assert html.NO_TELEMETRY in page and "accuracy not measured" in page
    assert (
        _plots(page) == 0
        and "<script" not in page
        and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


def test_html_accuracy_bar_with_threshold(tmp_path: Path) -> None:
    d = write_run(tmp_path, "r", accuracy_result(76.01, True))
    page = html.render_html([load_run(d)])
    assert _plots(page) == 1
    assert 'class="marker threshold"' in page and "target 75.695%" in page
    assert 'class="marker reference"' in page and ">PASS</span>" in page


def test_html_telemetry_plots(tmp_path: Path) -> None:
    d = write_run(tmp_path, "r", fake_result(telemetry={"gpu": None, "samples": 4}))
    rows = ["time_s,gpu,power_w,temp_c,util_pct,name"]
    rows += [
        f"{t * 0.5},{g},{300 + t + g},{60 + t},{90 + g}%,H100" for t in range(4) for g in (0, 1)
    ]
    (d / "telemetry.csv").write_text("\n".join(rows) + "\n")
    page = html.render_html([load_run(d)])
    assert _plots(page) == 3  # power, temperature, utilisation; the text column is skipped
    assert "power_w (W)" in page and "temp_c (°C)" in page and 'data-name="GPU 1"' in page
    assert html.NO_TELEMETRY not in page and "samples" in page


def test_telemetry_reader_is_tolerant(tmp_path: Path) -> None:
    p = tmp_path / "telemetry.csv"
    p.write_text(
        "timestamp,power.draw [W],junk\n"
        "2026-01-01T00:00:00Z,100.5,x\n2026-01-01T00:00:02Z,,x\n2026-01-01T00:00:03Z,120,x\n"
    )
    tel = series.read_telemetry(p)
    assert tel is not None and list(tel.series) == ["power.draw [W]"]
    assert tel.series["power.draw [W]"][""] == ([0.0, 3.0], [100.5, 120.0])
    (tmp_path / "no_time.csv").write_text("power_w\n1\n")
    assert series.read_telemetry(tmp_path / "no_time.csv") is None


# ---- the trace reader ------------------------------------------------------------------------


def _trace_lines(samples: list[tuple[int, int, float, int]]) -> str:
    """(sample_seq, query_seq, scheduled ts us, complete_ns) as LoadGen writes them."""
    out = ['{"traceEvents":[', '{"name":"IssueQuery","ph":"X","pid":1,"tid":1,"ts":1.0,"dur":2}']
    for seq, q, ts, ns in samples:
        out.append(
            f'{{"name":"Sample","cat":"default","ph":"b","pid":1,"id":{seq},"ts":{ts:.3f},'
            f'"args":{{"sample_seq":{seq},"query_seq":{q},"sample_idx":3,"issue_start_ns":5,'
            f'"complete_ns":{ns}}}}},'
        )
        out.append(f'{{"name":"Sample","cat":"default","ph":"e", "pid":1,"id":{seq},"ts":1}},')
    out.append('{"name":"LogDetail","ph":"X","pid":1,"args":{"key":""result_validity""}},')
    out += ['{"name":"LastTrace"}', "],", '"displayTimeUnit":"ns"}']
    return "\n".join(out) + "\n"


def test_trace_reader_groups_queries_and_uses_loadgens_percentile(tmp_path: Path) -> None:
    samples = []
    for q in range(100):
        for k in range(2):  # two samples per query: the slower one is the query's latency
            samples.append((2 * q + k, q, 1000.0 * q, 1_000_000 + 10_000 * q + 500 * k))
    p = tmp_path / "mlperf_log_trace.json"
    p.write_text(_trace_lines(samples) + '{"name":"Sample","ph":"b","ts":5,"args":{"query_s')
    data = series.read_trace(p, "MultiStream")
    assert data is not None and data.queries == 100 and data.samples == 200
    assert data.per == "query" and data.skipped_lines == 1
    expect = np.sort([1_000_000 + 10_000 * q + 500 for q in range(100)])
    assert np.array_equal(np.sort(data.latency_ns), expect)
    assert data.percentile_ns(0.99) == expect[99] and data.percentile_ns(0.9) == expect[90]
    assert data.done_s[0] == pytest.approx(0.0010005)  # scheduled 0 + 1.0005 ms
    off = series.read_trace(p, "Offline")
    assert off is not None and off.per == "sample" and len(off.latency_ns) == 200
    xs, ys = series.cdf_points(data.latency_ns, max_points=10)
    assert len(xs) == 10 and ys[-1] == 1.0 and xs[-1] == expect[-1] / 1e6
    ot = series.over_time(data, 0.99)
    assert ot.samples_per_s.sum() * ot.bin_s == pytest.approx(200)


def test_trace_without_samples(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_text(_trace_lines([]))
    assert series.read_trace(p, "Server") is None
    d = write_run(tmp_path, "r", fake_result(scenario="Server"))
    (d / "mlperf_log_trace.json").write_text(_trace_lines([]))
    page = html.render_html([load_run(d)])
    assert "holds no sample completions" in page


def test_render_is_pure(tmp_path: Path) -> None:
    res = fake_result()
    d = write_run(tmp_path, "r", res)
    run = load_run(d)
    before = copy.deepcopy(run.result)
    assert html.render_html([run]) == html.render_html([run])
    assert run.result == before == as_result(res)
