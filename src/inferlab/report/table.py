"""Report rows: one flat dict per stored run, a pure function of its result.json, rendered as a
rich table, markdown or JSON (docs/report.md). Runs are found and loaded by results.load."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from typing import Any

from inferlab.results.load import ResultError, Run
from inferlab.results.models import RunResult

log = logging.getLogger(__name__)

#: ReportError is results.load's ResultError (kept under its old name for report callers).
ReportError = ResultError


# ---- rows ------------------------------------------------------------------------------------


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def flags(result: RunResult) -> list[str]:
    """The run's labels, as the end-of-run summary prints them (``report.console.labels``)."""
    from inferlab.report.console import labels

    return labels(result)


def gpu_name(result: RunResult) -> str | None:
    """The GPU a run used, from the backend's facts or the system description."""
    for value in (
        _get(result.backend, "cuda_device_name"),
        _get(result.system, "accelerator_model_name"),
        _get(result.telemetry, "gpu", "name"),
    ):
        if isinstance(value, str) and value and value != "N/A":
            return value
    gpus = _get(result.system, "_gpus")
    if isinstance(gpus, list) and gpus and isinstance(gpus[0], dict) and gpus[0].get("name"):
        return str(gpus[0]["name"])
    return None


_ACC_VERDICT = {
    "pass": "PASS",
    "fail": "FAIL",
    "n/a-synthetic": "N/A (synthetic)",
    "measured-random-weights": "no target (random weights)",
}


def _accuracy(result: RunResult) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(
        (
            "accuracy_metric",
            "accuracy",
            "accuracy_unit",
            "reference",
            "percent_of_reference",
            "target",
            "upper_limit",
            "verdict",
            "accuracy_note",
        )
    )
    out["accuracy_metrics"] = []
    acc = result.accuracy
    if result.mode != "accuracy":
        return out
    if acc is None:
        out["verdict"] = "not available"
        return out
    # JSON-ready, as stored (a metric without a target has null target fields)
    out["accuracy_metrics"] = [m.model_dump(mode="json") for m in acc.metrics]
    main = acc.main
    if main is not None:
        out.update(
            accuracy_metric="top-1" if main.metric == "acc" else main.metric,
            accuracy=main.value,
            accuracy_unit=main.unit,
            reference=main.reference,
            percent_of_reference=main.percent_of_reference,
            target=main.threshold,
            upper_limit=main.upper_limit,
        )
    out["verdict"] = _ACC_VERDICT.get(acc.status, acc.status)
    out["accuracy_note"] = acc.note or None
    return out


def row(run: Run) -> dict[str, Any]:
    """The report row of one run (JSON-ready)."""
    r = run.result
    res = r.result
    status = r.status
    reasons: list[str] = []
    if status in ("failed", "interrupted"):
        message = r.error.message if r.error else ""
        reasons.append(f"{status}: {message or 'no message recorded'}")
    if res is not None and res.validity == "INVALID":
        reasons += list(res.invalid_reasons)
    device = r.config.get("device") or _get(r.backend, "device")
    gpu = gpu_name(r)
    perf = r.mode == "performance"
    out: dict[str, Any] = {
        "run_dir": str(run.path),
        "status": status,
        "benchmark": r.benchmark.id,
        "scenario": r.scenario,
        "mode": r.mode,
        "dtype": r.config.get("dtype") or _get(r.backend, "dtype"),
        "device": f"{device} ({gpu})" if gpu and device else device or gpu,
        "backend": r.config.get("backend"),
        "figure_field": res.official_field if perf and res else None,
        "figure": res.value if perf and res else None,
        "unit": res.unit if perf and res else None,
        "validity": res.validity if res else None,
        "reasons": reasons,
        "loadgen_reason": res.loadgen_reason if res else None,
    }
    out.update(_accuracy(r))
    out.update(
        flags=flags(r),
        not_submittable_because=list(r.flags.not_submittable_because if r.flags else []),
        round=r.round,
        dataset=r.dataset_id,
        dataset_count=r.dataset_count,
        trace_kept=r.loadgen.trace_kept,
        inferlab_version=r.inferlab_version,
    )
    return out


# ---- text cells ------------------------------------------------------------------------------


def fmt_number(v: Any, unit: str | None = None) -> str:
    if not isinstance(v, int | float) or isinstance(v, bool):
        return "n/a" if v is None else str(v)
    if unit == "ms" or (abs(v) < 10 and v != int(v)):
        text = f"{v:,.4g}" if abs(v) < 1 else f"{v:,.3f}"
    else:
        text = f"{v:,.1f}" if abs(v) < 1e5 else f"{v:,.0f}"
    return f"{text} {unit}" if unit else text


def verdict_cell(r: dict[str, Any]) -> str:
    """VALID / INVALID / FAILED / INTERRUPTED, or "-" (accuracy mode)."""
    if r["status"] in ("failed", "interrupted"):
        return str(r["status"]).upper()
    return r["validity"] or "-"


def result_cell(r: dict[str, Any]) -> str:
    return fmt_number(r["figure"], r["unit"]) if r["mode"] == "performance" else "-"


def accuracy_cells(r: dict[str, Any]) -> list[str]:
    """accuracy, reference, % of reference, target, verdict."""
    if r["mode"] != "accuracy":
        return ["-", "-", "-", "-", "-"]
    unit = r["accuracy_unit"] or ""
    value = "n/a"
    if isinstance(r["accuracy"], int | float):
        value = f"{r['accuracy_metric']} {r['accuracy']:.3f}{unit}"
    target = "-"
    if isinstance(r["target"], int | float):
        target = f">= {r['target']:.4f}"
        if isinstance(r["upper_limit"], int | float):
            target += f", <= {r['upper_limit']:.4f}"
    pct = r["percent_of_reference"]
    return [
        value,
        f"{r['reference']:g}" if isinstance(r["reference"], int | float) else "-",
        f"{pct:.2f}%" if isinstance(pct, int | float) else "-",
        target,
        r["verdict"] or "-",
    ]


HEADERS = (
    "#",
    "benchmark",
    "scenario",
    "mode",
    "dtype",
    "device",
    "result",
    "validity",
    "accuracy",
    "reference",
    "% of ref",
    "target",
    "verdict",
    "flags",
)


def cells(i: int, r: dict[str, Any]) -> list[str]:
    return [
        str(i),
        str(r["benchmark"] or "?"),
        str(r["scenario"] or "?"),
        str(r["mode"] or "?"),
        str(r["dtype"] or "-"),
        str(r["device"] or "-"),
        result_cell(r),
        verdict_cell(r),
        *accuracy_cells(r),
        ", ".join(r["flags"]) or "-",
    ]


def notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Per run: its directory, then why it is INVALID / FAILED (one line per reason)."""
    lines = []
    for i, r in enumerate(rows, start=1):
        lines.append(f"[{i}] {r['run_dir']}")
        for reason in r["reasons"]:
            lines.append(f"    {verdict_cell(r)}: {reason}")
        if r["reasons"] and r.get("loadgen_reason"):
            lines.append(f"    LoadGen says: {r['loadgen_reason']}")
    return lines


def render_table(rows: Sequence[dict[str, Any]], width: int = 200) -> str:
    """A rich table of the rows, then the run directories and reasons, as plain text."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=False, header_style="bold")
    for h in HEADERS:
        table.add_column(h, overflow="fold")
    colours = {"VALID": "green", "INVALID": "red", "FAILED": "red", "INTERRUPTED": "yellow"}
    for i, r in enumerate(rows, start=1):
        c = [escape(x) for x in cells(i, r)]
        style = colours.get(c[7])
        if style:
            c[7] = f"[{style}]{c[7]}[/{style}]"
        table.add_row(*c)
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    console.print(table)
    for line in notes(rows):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    return buf.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table of the rows, then the reasons per run."""
    head = [*HEADERS, "run dir"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(rows, start=1):
        lines.append("| " + " | ".join(_md(c) for c in [*cells(i, r), r["run_dir"]]) + " |")
    why = [(i, r) for i, r in enumerate(rows, start=1) if r["reasons"]]
    if why:
        lines += ["", "**Why not VALID**", ""]
        for i, r in why:
            for reason in r["reasons"]:
                lines.append(f"- [{i}] {verdict_cell(r)}: {_md(reason)}")
    return "\n".join(lines) + "\n"


def render_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=2, default=str) + "\n"
