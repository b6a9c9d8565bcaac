"""The suite's summary table, in the shape of the round's results tables: one row per benchmark
(each accuracy target its own row), one column per scenario, each cell the performance run's
official figure with VALID/INVALID, and the accuracy run's verdict. A pure function of the
stored results (``suite.json`` and each run's ``result.json``), rendered as text, Markdown and
HTML."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from inferlab.core.spec import Scenario
from inferlab.report.compare import metric_of
from inferlab.report.console import labels
from inferlab.results.load import ResultError, load_run
from inferlab.results.models import RunResult
from inferlab.suite.plan import ACCURACY, PERFORMANCE
from inferlab.suite.state import SuiteState

SCENARIO_ORDER = [s.value for s in Scenario]
ACCURACY_WORDS = {
    "pass": "PASS",
    "fail": "FAIL",
    "measured-random-weights": "random weights",
    "n/a-synthetic": "N/A synthetic",
}


def _load(rec: dict[str, Any]) -> RunResult | None:
    run_dir = rec.get("run_dir")
    if not run_dir:
        return None
    try:
        return load_run(Path(run_dir)).result
    except ResultError:
        return None


def _figure(result: RunResult) -> str:
    _, value, unit, _ = metric_of(result)
    validity = result.result.validity if result.result else result.status.upper()
    if value is None:
        return str(validity)
    return f"{value:,.2f} {unit} {validity}".strip()


def _status_text(rec: dict[str, Any] | None) -> str:
    if rec is None:
        return "-"
    status = str(rec.get("status"))
    return {"pending": "not run", "running": "stopped"}.get(status, status)


def table(state: SuiteState) -> dict[str, Any]:
    """``{"columns": [...scenarios], "rows": [{"benchmark", "cells": {scenario: cell}}]}``;
    a cell is ``{"performance", "accuracy", "compliance", "text"}`` (text: the rendered cell)."""
    plan = state.plan
    scenarios = [s for s in SCENARIO_ORDER if any(r.scenario == s for r in plan.runs)]
    rows = []
    for bid in plan.benchmarks:
        cells: dict[str, Any] = {}
        tags: list[str] = []  # SYNTHETIC DATA, RANDOM WEIGHTS, ...: every run's labels
        for scenario in scenarios:
            runs = [r for r in plan.runs if r.benchmark == bid and r.scenario == scenario]
            if not runs:
                continue
            perf = acc = None
            tests: list[str] = []
            for r in runs:
                rec = state.runs.get(r.key)
                result = _load(rec) if rec and rec.get("status") in ("ok", "invalid") else None
                tags += [x for x in (labels(result) if result else []) if x not in tags]
                if r.audit is not None:
                    tests.append(f"{r.audit} {_status_text(rec)}")
                elif r.mode == PERFORMANCE:
                    perf = _figure(result) if result else _status_text(rec)
                elif r.mode == ACCURACY:
                    status = result.accuracy.status if result and result.accuracy else None
                    acc = ACCURACY_WORDS.get(str(status), _status_text(rec))
                    main = result.accuracy.main if result and result.accuracy else None
                    if main is not None and status in ("pass", "fail"):
                        acc = f"{main.metric} {main.value:.3f} {acc}"
            text = f"{perf}; accuracy {acc}"
            if tests:
                text += "; " + ", ".join(tests)
            cells[scenario] = {
                "performance": perf,
                "accuracy": acc,
                "compliance": tests,
                "text": text,
            }
        rows.append({"benchmark": bid, "labels": tags, "cells": cells})
    return {
        "round": plan.round,
        "category": plan.category,
        "division": plan.division,
        "columns": scenarios,
        "rows": rows,
        "skipped": [{"what": s.what, "why": s.why} for s in plan.skipped],
        "quick": bool(state.args.get("quick")),
    }


def _title(t: dict[str, Any]) -> str:
    tag = " [QUICK: not submittable]" if t["quick"] else ""
    return f"inferlab suite: round {t['round']}, {t['category']}, {t['division']}{tag}"


def _name(row: dict[str, Any]) -> str:
    return " ".join([row["benchmark"], *(f"[{x}]" for x in row.get("labels", []))])


def render_text(t: dict[str, Any]) -> str:
    head = ["benchmark", *t["columns"]]
    body = [
        [_name(r), *[r["cells"].get(c, {}).get("text", "-") for c in t["columns"]]]
        for r in t["rows"]
    ]
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    lines = [_title(t)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for row in body:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    lines += [f"skipped: {s['what']}: {s['why']}" for s in t["skipped"]]
    return "\n".join(line.rstrip() for line in lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(t: dict[str, Any]) -> str:
    lines = [f"# {_title(t)}", ""]
    lines.append("| benchmark | " + " | ".join(t["columns"]) + " |")
    lines.append("| --- |" + " --- |" * len(t["columns"]))
    for r in t["rows"]:
        cells = [_md(r["cells"].get(c, {}).get("text", "-")) for c in t["columns"]]
        lines.append(f"| {_md(_name(r))} | " + " | ".join(cells) + " |")
    if t["skipped"]:
        lines += ["", "## Skipped", ""] + [
            f"- {_md(s['what'])}: {_md(s['why'])}" for s in t["skipped"]
        ]
    return "\n".join(lines) + "\n"


def render_html(t: dict[str, Any]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in ["benchmark", *t["columns"]])
    rows = []
    for r in t["rows"]:
        tds = []
        for c in t["columns"]:
            cell = r["cells"].get(c)
            if cell is None:
                tds.append("<td>-</td>")
                continue
            parts = [f"<div>{e(str(cell['performance']))}</div>"]
            parts.append(f"<div>accuracy {e(str(cell['accuracy']))}</div>")
            parts += [f"<div class='t'>{e(x)}</div>" for x in cell["compliance"]]
            tds.append(f"<td>{''.join(parts)}</td>")
        rows.append(f"<tr><th>{e(_name(r))}</th>{''.join(tds)}</tr>")
    skipped = "".join(f"<li>{e(s['what'])}: {e(s['why'])}</li>" for s in t["skipped"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(_title(t))}</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:.4em;vertical-align:top;text-align:left}"
        ".t{color:#555;font-size:90%}</style></head><body>"
        f"<h1>{e(_title(t))}</h1><table><tr>{head}</tr>{''.join(rows)}</table>"
        + (f"<h2>Skipped</h2><ul>{skipped}</ul>" if skipped else "")
        + "</body></html>\n"
    )
