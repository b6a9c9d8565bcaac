"""report.html: one static, offline page (inline CSS and SVG, no script, no network) for one or
more stored runs: the report rows, then per run the latency distribution, throughput and latency
over time (from LoadGen's trace), LoadGen's latency statistics, accuracy against its target and
GPU telemetry. What a run did not record is said, with how to record it (docs/report.md)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from inferlab.core.files import atomic_write_text
from inferlab.core.spec import is_server_like
from inferlab.report import series as ser
from inferlab.report import svg
from inferlab.report.table import HEADERS, cells, row, verdict_cell
from inferlab.results.load import Run
from inferlab.results.models import RunResult

log = logging.getLogger(__name__)

HTML_NAME = "report.html"
#: The latency percentile each scenario is judged at (LoadGen's defaults).
PERCENTILE = {"SingleStream": 0.90, "Server": 0.99, "Interactive": 0.99, "MultiStream": 0.99}
NO_TRACE = "latency distribution not recorded (rerun with --trace)"
NO_TRACE_TIME = "throughput and latency over time not recorded (rerun with --trace)"
NO_TELEMETRY = "no telemetry recorded"
MAX_TELEMETRY_PLOTS = 8

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;
max-width:1100px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
h3{font-size:15px;margin-top:20px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}
.VALID{color:#1a7f37;font-weight:bold}.INVALID,.FAILED{color:#cf222e;font-weight:bold}
.INTERRUPTED{color:#9a6700;font-weight:bold}
.missing{color:#666;font-style:italic}.reasons li{color:#cf222e}
.flag{display:inline-block;background:#fff3cd;border:1px solid #e0c36a;border-radius:3px;
padding:0 4px;margin:1px;font-size:11px}
.wide{overflow-x:auto}
svg.plot{display:block;max-width:100%;height:auto;margin:8px 0 16px 0;font-size:11px}
svg.plot .plottitle{font-size:13px;font-weight:bold}
.caption{font-size:12px;color:#444}
"""


def _p(text: str, cls: str = "missing") -> str:
    return f'<p class="{cls}">{escape(text)}</p>'


def _kv_table(pairs: Sequence[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
        for k, v in pairs
        if v not in (None, "")
    )
    return f'<table class="facts">{body}</table>'


def _ms(ns: float | None) -> str:
    return "n/a" if ns is None else f"{ns / 1e6:,.4g} ms"


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    """The report rows as an HTML table; each row links to its run's section."""
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    out = [f'<div class="wide"><table class="rows"><thead><tr>{head}</tr></thead><tbody>']
    for i, r in enumerate(rows, start=1):
        c = cells(i, r)
        tds = []
        for j, text in enumerate(c):
            if j == 0:
                tds.append(f'<td><a href="#run-{i}">{i}</a></td>')
            elif j == 7:
                tds.append(f'<td class="{escape(verdict_cell(r))}">{escape(text)}</td>')
            elif j == len(c) - 1:
                tds.append("<td>" + "".join(_flag(f) for f in r["flags"]) + "</td>")
            else:
                tds.append(f"<td>{escape(text)}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _flag(text: str) -> str:
    return f'<span class="flag">{escape(text)}</span>'


# ---- LoadGen's own latency statistics -----------------------------------------------------


def detail_latencies(run: Run) -> dict[str, float]:
    """The latency statistics of the detail log (ns), by key; {} when it is missing."""
    from inferlab.core.errors import InferlabError
    from inferlab.loadgen.logs import DETAIL_LOG_NAME, parse_detail

    path = run.path / DETAIL_LOG_NAME
    if not path.is_file():
        return {}
    try:
        detail = parse_detail(path, strict=False)
    except (InferlabError, OSError) as exc:
        log.warning("%s: %s", path, exc)
        return {}
    return {
        k: float(v)
        for k, v in detail.values.items()
        if k.startswith("result_")
        and ("latency" in k or "per_output_token" in k)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
    }


def _pct_key(stats: dict[str, float], p: float) -> tuple[str, float] | None:
    for key in (
        f"result_{p * 100:.2f}_percentile_per_query_latency_ns",
        f"result_{p * 100:.2f}_percentile_latency_ns",
    ):
        if key in stats:
            return key, stats[key]
    return None


def _stats_table(stats: dict[str, float]) -> str:
    rows = [
        (k.removeprefix("result_").removesuffix("_ns"), _ms(v) if k.endswith("_ns") else f"{v:g}")
        for k, v in stats.items()
    ]
    head = "<tr><th>LoadGen statistic (mlperf_log_detail.txt)</th><th>value</th></tr>"
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="latency-stats">{head}{body}</table>'


# ---- sections -----------------------------------------------------------------------------


def _percentile(result: RunResult) -> float | None:
    scenario = result.scenario
    if scenario not in PERCENTILE:
        return None
    eff = result.loadgen.effective or {}
    p = eff.get("effective_target_latency_percentile")
    return float(p) if isinstance(p, int | float) and 0 < p < 1 else PERCENTILE[scenario]


def _markers(run: Run, data: ser.TraceData | None, stats: dict[str, float]) -> list[svg.Marker]:
    r = run.result
    p = _percentile(r)
    out: list[svg.Marker] = []
    if p is not None:
        found = _pct_key(stats, p)
        if found is not None:
            out.append(svg.Marker(found[1] / 1e6, f"p{p * 100:g} {_ms(found[1])} (LoadGen)"))
        elif data is not None and (v := data.percentile_ns(p)) is not None:
            out.append(svg.Marker(v / 1e6, f"p{p * 100:g} {_ms(v)} (trace)"))
    res = r.result
    if r.scenario in ("SingleStream", "MultiStream") and res is not None and res.unit == "ms":
        v = res.value
        if isinstance(v, int | float):
            out.append(svg.Marker(float(v), f"early-stopping estimate {v:,.4g} ms", "reference"))
    eff = r.loadgen.effective or {}
    bound = eff.get("effective_target_latency_ns")
    if is_server_like(r.scenario) and isinstance(bound, int | float) and bound > 0:
        out.append(svg.Marker(bound / 1e6, f"bound {_ms(bound)}", "threshold"))
    return out


def _trace(run: Run) -> tuple[ser.TraceData | None, str | None]:
    path = run.path / ser.TRACE_NAME
    if not path.is_file() or path.stat().st_size == 0:
        return None, NO_TRACE
    try:
        data = ser.read_trace(path, run.result.scenario)
    except OSError as exc:
        return None, f"LoadGen trace unreadable ({exc}); {NO_TRACE}"
    if data is None:
        return None, f"the LoadGen trace holds no sample completions; {NO_TRACE}"
    return data, None


def latency_section(run: Run, data: ser.TraceData | None, missing: str | None) -> str:
    stats = detail_latencies(run)
    out = ["<h3>Latency distribution</h3>"]
    if data is None:
        out.append(_p(missing or NO_TRACE))
    else:
        what, whats = ("query", "queries") if data.per == "query" else ("sample", "samples")
        top = float(data.latency_ns.max()) / 1e6 * 1.5
        every = _markers(run, data, stats)
        markers = [m for m in every if m.value <= top]
        off = [m.label for m in every if m.value > top]
        edges, counts, above = ser.histogram(data.latency_ns)
        out.append(
            svg.histogram(
                f"{what.capitalize()} latency histogram",
                "latency (ms)",
                whats,
                edges.tolist(),
                counts.tolist(),
                markers,
            )
        )
        xs, ys = ser.cdf_points(data.latency_ns)
        out.append(
            svg.line_plot(
                f"{what.capitalize()} latency CDF",
                "latency (ms)",
                f"fraction of {whats}",
                [svg.Series("CDF", xs.tolist(), ys.tolist())],
                markers,
                step=True,
            )
        )
        caption = (
            f"{data.queries:,} queries, {data.samples:,} samples from {ser.TRACE_NAME}; "
            f"latency = scheduled start to completion"
        )
        if data.per == "sample":
            caption += " of each sample (Offline issues one query holding every sample)"
        p = _percentile(run.result)
        if p is not None and (v := data.percentile_ns(p)) is not None:
            found = _pct_key(stats, p)
            caption += f"; p{p * 100:g} from the trace {_ms(v)}"
            if found is not None:
                caption += f" (LoadGen's detail log: {_ms(found[1])})"
        if above:
            caption += f"; {above:,} above the histogram's range (the CDF shows all)"
        if off:
            caption += f"; off the chart (far above every latency): {', '.join(off)}"
        out.append(_p(caption + ".", "caption"))
    if stats:
        out.append(_stats_table(stats))
    elif run.result.mode == "performance":
        out.append(_p("LoadGen detail log has no latency statistics"))
    return "".join(out)


def over_time_section(run: Run, data: ser.TraceData | None) -> str:
    out = ["<h3>Throughput and latency over time</h3>"]
    if data is None:
        out.append(_p(NO_TRACE_TIME))
        return "".join(out)
    p = _percentile(run.result) or 0.99
    ot = ser.over_time(data, p)
    t = ot.t_s.tolist()
    out.append(
        svg.line_plot(
            "Throughput over time",
            "time since the first query (s)",
            "completed samples/s",
            [svg.Series("samples/s", t, ot.samples_per_s.tolist())],
            step=True,
        )
    )
    out.append(
        svg.line_plot(
            "Latency over time",
            "time since the first query (s)",
            "latency (ms)",
            [
                svg.Series("p50", t, ot.p50_ms.tolist()),
                svg.Series(f"p{p * 100:g}", t, ot.pmark_ms.tolist()),
            ],
        )
    )
    out.append(_p(f"bins of {ot.bin_s:.3g} s, by completion time.", "caption"))
    return "".join(out)


def accuracy_section(run: Run) -> str:
    r = run.result
    out = ["<h3>Accuracy</h3>"]
    if r.mode != "accuracy":
        out.append(_p("accuracy not measured (performance run; use --mode accuracy)"))
        return "".join(out)
    acc = r.accuracy
    if acc is None or not acc.metrics:
        out.append(_p("accuracy not available (the run did not finish)"))
        return "".join(out)
    for m in acc.metrics:
        name = "top-1" if m.metric == "acc" else m.metric
        unit = m.unit
        markers = []
        for v, label, kind in (
            (m.threshold, "target", "threshold"),
            (m.upper_limit, "upper limit", "threshold"),
            (m.reference, "reference", "reference"),
        ):
            if isinstance(v, int | float) and math.isfinite(v):
                markers.append(svg.Marker(float(v), f"{label} {v:.5g}{unit}", kind))
        title = f"{name}: measured vs target" if markers else f"{name}: measured (no target)"
        out.append(
            svg.bar_with_lines(
                title, f"{name} ({unit})" if unit else name, [("measured", m.value)], markers
            )
        )
        if markers:
            out.append(_p("(the axis is zoomed around the value, target and reference)", "caption"))
        if m.judged:
            verdict = "PASS" if m.passed else "FAIL"
            pct = m.percent_of_reference
            out.append(
                f'<p class="caption"><span class="{"VALID" if m.passed else "INVALID"}">'
                f"{verdict}</span> {escape(name)} {m.value:.5g}{escape(unit)}"
                + (f" = {pct:.3f}% of reference" if isinstance(pct, int | float) else "")
                + "</p>"
            )
    if acc.note:
        out.append(_p(acc.note, "caption"))
    return "".join(out)


def _telemetry_file(run: Run) -> Path:
    tel = run.result.telemetry
    if isinstance(tel, dict):
        for key in ("csv", "file", "path"):
            name = tel.get(key)
            if isinstance(name, str) and name.endswith(".csv"):
                return run.path / Path(name).name
    return run.path / ser.TELEMETRY_NAME


def _scalars(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(d, dict):
        return [kv for k, v in d.items() for kv in _scalars(v, f"{prefix}{k}.")]
    if isinstance(d, list) or d is None:
        return []
    return [(prefix.rstrip("."), d)]


def telemetry_section(run: Run) -> str:
    out = ["<h3>Telemetry (GPU power, temperature, utilisation)</h3>"]
    path = _telemetry_file(run)
    tel = None
    if path.is_file():
        try:
            tel = ser.read_telemetry(path)
        except (OSError, ValueError) as exc:
            log.warning("%s: %s", path, exc)
    summary = _scalars(run.result.telemetry)[:30]
    if tel is None:
        reason = NO_TELEMETRY if not path.is_file() else f"{NO_TELEMETRY} ({path.name} unreadable)"
        out.append(_p(reason))
    else:
        order = sorted(
            tel.series,
            key=lambda c: next(
                (i for i, w in enumerate(("power", "temp", "util", "mem", "clock")) if w in c),
                9,
            ),
        )
        for col in order[:MAX_TELEMETRY_PLOTS]:
            unit = tel.unit(col)
            lines = [
                svg.Series(f"GPU {g}" if g.isdigit() else g or col, xs, ys)
                for g, (xs, ys) in sorted(tel.series[col].items())
            ]
            out.append(
                svg.line_plot(
                    f"{col} over time",
                    f"time ({tel.time_column}, from the first sample)",
                    f"{col} ({unit})" if unit else col,
                    lines,
                )
            )
        out.append(_p(f"{tel.rows:,} rows from {path.name}.", "caption"))
    if summary:
        out.append(_kv_table(summary))
    return "".join(out)


def _accuracy_text(acc: list[str]) -> str | None:
    value, ref, pct, target, verdict = acc
    if value == "-":
        return None
    extra = [f"{pct} of reference {ref}" if ref != "-" else "", f"target {target}"]
    inside = ", ".join(x for x in extra if x and not x.endswith(" -"))
    return f"{value}" + (f" ({inside})" if inside else "") + (f" {verdict}" if verdict else "")


def run_section(run: Run, index: int, rec: dict[str, Any]) -> str:
    r = run.result
    ds = r.dataset or {}
    head = f"[{index}] {rec['benchmark']} {rec['scenario']} {rec['mode']}"
    out = [f'<section class="run" id="run-{index}"><h2>{escape(head)}</h2>']
    out.append("".join(_flag(f) for f in rec["flags"]))
    c = cells(index, rec)
    out.append(
        _kv_table(
            [
                ("run directory", rec["run_dir"]),
                ("status", r.status),
                ("result", f"{c[6]} ({rec['figure_field']})" if rec["figure_field"] else c[6]),
                ("validity", verdict_cell(rec)),
                ("accuracy", _accuracy_text(c[8:13])),
                ("device", rec["device"]),
                ("backend / dtype", f"{rec['backend']} / {rec['dtype']}"),
                ("dataset", f"{ds.get('dataset_id')} ({ds.get('total_count')} samples)"),
                ("LoadGen", f"{r.loadgen.version} (round {r.round})"),
                ("inferlab", r.inferlab_version),
                ("started / finished", f"{r.started_at} / {r.finished_at}"),
            ]
        )
    )
    if rec["reasons"]:
        items = "".join(f"<li>{escape(x)}</li>" for x in rec["reasons"])
        out.append(f'<h3>Why {escape(verdict_cell(rec))}</h3><ul class="reasons">{items}</ul>')
        if rec.get("loadgen_reason"):
            out.append(_p(f"LoadGen says: {rec['loadgen_reason']}", "caption"))
    if rec["not_submittable_because"]:
        why = "; ".join(rec["not_submittable_because"])
        out.append(_p(f"not submittable: {why}", "caption"))
    data, missing = _trace(run) if r.status in ("ok", "invalid") else (None, NO_TRACE)
    out.append(latency_section(run, data, missing))
    out.append(over_time_section(run, data))
    out.append(accuracy_section(run))
    out.append(telemetry_section(run))
    out.append("</section>")
    return "\n".join(out)


def render_html(runs: Sequence[Run], title: str | None = None) -> str:
    """The whole page for ``runs`` (a pure function of their run directories)."""
    rows = [row(r) for r in runs]
    if title is None:
        title = "inferlab report" + (
            f": {rows[0]['benchmark']} {rows[0]['scenario']} {rows[0]['mode']}"
            if len(rows) == 1
            else f": {len(rows)} runs"
        )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _p(
            "Generated by inferlab from the stored run directories (result.json, LoadGen logs, "
            "trace, telemetry). LoadGen's figures are official; trace-derived plots are "
            "diagnostic.",
            "caption",
        ),
        summary_table(rows),
    ]
    for i, (run, rec) in enumerate(zip(runs, rows, strict=True), start=1):
        parts.append(run_section(run, i, rec))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_html(path: Path, runs: Sequence[Run]) -> Path:
    """Render ``runs`` and write the page atomically to ``path``."""
    atomic_write_text(path, render_html(runs))
    return path
