"""`inferlab report` and `inferlab compare` on real null-backend runs (short LoadGen settings)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from inferlab.loadgen.logs import parse_detail
from inferlab.report import html, series
from tests.integration.helpers import cli, run_cfg

SHORT = ["loadgen.min_duration=0"]
OFFLINE = [*SHORT, "loadgen.min_query_count=100", "loadgen.target_qps=1000"]
COMMON = {"benchmark": "resnet50", "backend": "null", "count": 64, "calibrate": False}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Five runs under one folder: Offline (no trace), Offline with trace, Server VALID with
    trace, Server INVALID (target_qps far above what a 20 ms batch can serve), accuracy."""
    tmp = tmp_path_factory.mktemp("report")
    out: dict[str, Any] = {"root": tmp / "runs"}
    out["offline"] = run_cfg(tmp, OFFLINE, scenario="Offline", **COMMON)
    out["offline_trace"] = run_cfg(tmp, OFFLINE, scenario="Offline", trace=True, **COMMON)
    out["server_trace"] = run_cfg(
        tmp,
        [*SHORT, "loadgen.min_query_count=600", "loadgen.target_qps=1000"],
        scenario="Server",
        trace=True,
        **COMMON,
    )
    out["server_invalid"] = run_cfg(
        tmp,
        [*SHORT, "loadgen.min_query_count=200", "loadgen.target_qps=5000"],
        scenario="Server",
        null_service_time_ms=20,
        batch_size=8,
        **COMMON,
    )
    out["accuracy"] = run_cfg(tmp, [], scenario="Offline", mode="accuracy", **COMMON)
    assert out["server_invalid"]["status"] == "invalid"
    assert out["server_trace"]["result"]["validity"] == "VALID"
    return out


def _dir(res: dict[str, Any]) -> Path:
    return Path(res["run_dir"])


def test_report_json_rows_for_a_parent_folder(runs: dict[str, Any]) -> None:
    proc = cli("report", str(runs["root"]), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {Path(r["run_dir"]).name: r for r in json.loads(proc.stdout)}
    assert len(rows) == 5
    bad = rows[_dir(runs["server_invalid"]).name]
    assert bad["validity"] == "INVALID" and bad["scenario"] == "Server"
    assert any("latency constraint not met" in x for x in bad["reasons"])
    assert bad["loadgen_reason"] and "SYNTHETIC DATA" in bad["flags"]
    ok = rows[_dir(runs["offline"]).name]
    assert ok["validity"] == "VALID" and ok["figure"] == runs["offline"]["result"]["value"]
    assert ok["unit"] == "samples/s" and ok["flags"][-1] == "NOT SUBMITTABLE"
    acc = rows[_dir(runs["accuracy"]).name]
    assert acc["verdict"] == "N/A (synthetic)" and acc["accuracy_metric"] == "top-1"


def test_report_table_and_markdown(runs: dict[str, Any]) -> None:
    proc = cli("report", str(_dir(runs["server_invalid"])), str(_dir(runs["offline"])))
    assert proc.returncode == 0, proc.stderr
    assert "INVALID" in proc.stdout and "VALID" in proc.stdout
    assert "Server latency constraint not met" in proc.stdout
    md = cli("report", str(runs["root"]), "--format", "markdown")
    assert md.returncode == 0 and md.stdout.startswith("| # | benchmark | scenario |")
    assert "**Why not VALID**" in md.stdout


def test_report_skips_unreadable_runs_and_exits_1(runs: dict[str, Any], tmp_path: Path) -> None:
    good = tmp_path / "good"
    shutil.copytree(_dir(runs["offline"]), good)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "result.json").write_text('{"schema_version": 1, ')
    proc = cli("report", str(tmp_path), "--format", "json")
    assert proc.returncode == 1
    assert f"{corrupt}: result.json is unreadable or not valid JSON" in proc.stderr
    assert [r["run_dir"] for r in json.loads(proc.stdout)] == [str(good)]
    missing = cli("report", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such directory" in missing.stderr


def test_report_html_per_run(runs: dict[str, Any]) -> None:
    traced, plain = _dir(runs["server_trace"]), _dir(runs["offline"])
    proc = cli("report", str(traced), str(plain), "--format", "html")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(traced / "report.html"), str(plain / "report.html")]
    page = (traced / "report.html").read_text()
    for title in ("Query latency histogram", "Query latency CDF", "Throughput over time"):
        assert f'<text class="plottitle" x="360" y="20" text-anchor="middle">{title}' in page
    assert page.count('<svg class="plot"') >= 4
    assert "p99 " in page and "(LoadGen)" in page
    recorded = (traced / "telemetry.csv").is_file()  # written by the runner's sampler
    assert (html.NO_TELEMETRY in page) != recorded
    assert "600 queries, 600 samples from mlperf_log_trace.json" in page
    page = (plain / "report.html").read_text()
    assert html.NO_TRACE in page and html.NO_TRACE_TIME in page
    assert "99.00_percentile_latency" in page and "latency histogram" not in page


def test_trace_latencies_match_loadgens_detail_log(runs: dict[str, Any]) -> None:
    """The trace format facts the report relies on, checked against LoadGen's own figures."""
    for key, scenario in (("server_trace", "Server"), ("offline_trace", "Offline")):
        d = _dir(runs[key])
        data = series.read_trace(d / series.TRACE_NAME, scenario)
        detail = parse_detail(d / "mlperf_log_detail.txt")
        counts = runs[key]["result"]["counts"]
        assert data is not None and data.samples == counts["samples"]
        assert data.skipped_lines == 0
        if scenario == "Server":
            assert data.queries == counts["queries"] and data.per == "query"
            for p in ("50.00", "90.00", "99.00"):
                want = detail[f"result_{p}_percentile_latency_ns"]
                assert data.percentile_ns(float(p) / 100) == want
            assert data.latency_ns.min() == detail["result_min_latency_ns"]
        else:
            assert data.queries == 1 and data.per == "sample"
        assert data.latency_ns.max() == detail["result_max_latency_ns"]


def test_compare_two_runs(runs: dict[str, Any]) -> None:
    a, b = _dir(runs["offline"]), _dir(runs["offline_trace"])
    proc = cli("compare", str(a), str(b))
    assert proc.returncode == 0, proc.stderr
    assert "ratio vs A" in proc.stdout and "noise unknown (one run per side" in proc.stdout
    assert "config.trace" in proc.stdout  # the one config field that differs
    doc = json.loads(
        cli(
            "compare",
            "--a",
            str(a),
            "--a",
            str(b),
            "--b",
            str(b),
            "--b",
            str(a),
            "--format",
            "json",
        ).stdout
    )
    c = doc["comparisons"][0]
    assert c["ratio"] == pytest.approx(1.0) and c["verdict"] == "within noise"
    expect = runs["offline_trace"]["result"]["value"] / runs["offline"]["result"]["value"]
    doc = json.loads(cli("compare", str(a), str(b), "-f", "json").stdout)
    assert doc["comparisons"][0]["ratio"] == pytest.approx(expect)


def test_compare_refuses_another_scenario(runs: dict[str, Any]) -> None:
    proc = cli("compare", str(_dir(runs["offline"])), str(_dir(runs["server_trace"])))
    assert proc.returncode == 2
    assert "cannot compare: scenario differs: 'Offline'" in proc.stderr


V1 = Path(__file__).resolve().parents[1] / "fixtures" / "results" / "v1"


def test_report_and_compare_read_schema_version_1(tmp_path: Path) -> None:
    """A run directory the previous inferlab wrote (result.json schema_version 1) is reported
    and compared with a run of this one (schema_version 2)."""
    old_root = tmp_path / "v1"
    shutil.copytree(V1, old_root)  # the html report writes into the run directory
    (old,) = [p.parent for p in old_root.rglob("result.json")]
    assert json.loads((old / "result.json").read_text())["schema_version"] == 1
    (row,) = json.loads(cli("report", str(old_root), "--format", "json").stdout)
    assert row["benchmark"] == "resnet50" and row["scenario"] == "Offline"
    assert row["figure"] == 9.56504 and row["validity"] == "VALID" and row["dtype"] == "fp32"
    assert row["flags"] == ["SYNTHETIC DATA", "RANDOM WEIGHTS", "QUICK", "NOT SUBMITTABLE"]
    table = cli("report", str(old))
    assert table.returncode == 0 and "9.565 samples/s" in table.stdout, table.stderr
    md = cli("report", str(old), "--format", "markdown")
    assert md.returncode == 0 and "| 1 | resnet50 | Offline | performance | fp32 |" in md.stdout
    page = cli("report", str(old), "--format", "html")
    assert page.returncode == 0, page.stderr
    assert "result_samples_per_second" in (old / "report.html").read_text()

    new = run_cfg(
        tmp_path, OFFLINE, scenario="Offline", benchmark="resnet50", backend="null", calibrate=False
    )
    assert new["schema_version"] == 2
    proc = cli("compare", str(old), new["run_dir"], "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["sides"][0]["values"] == [9.56504] and doc["dataset_count"] == 1024
    diff = {d["key"] for d in doc["env_diff"]}
    assert "backend.backend" in diff and "config.backend" in diff
