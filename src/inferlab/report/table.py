"""Report rows: one flat dict per stored run, a pure function of its result.json, rendered as a
rich table, markdown or JSON. Also finds and loads run directories (docs/report.md)."""

from __future__ import annotations

import glob
import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferlab.core.errors import InferlabError

log = logging.getLogger(__name__)

RESULT_NAME = "result.json"
KNOWN_SCHEMAS = (1,)
GLOB_CHARS = set("*?[")


class ReportError(InferlabError):
    """A run directory that cannot be reported (missing, corrupt or unknown result.json)."""


@dataclass(frozen=True)
class Run:
    """A loaded run: where it was found and its result.json."""

    path: Path
    result: dict[str, Any]


def load_run(run_dir: Path) -> Run:
    """Read ``run_dir/result.json``; :class:`ReportError` naming the directory when it is
    missing, not JSON, not an object or of a schema version this inferlab does not know."""
    path = run_dir / RESULT_NAME
    if not path.is_file():
        raise ReportError(
            f"{run_dir}: no {RESULT_NAME} (not a run directory, or the run has not finished)",
            "point at a run directory, or a folder holding run directories",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReportError(
            f"{run_dir}: {RESULT_NAME} is unreadable or not valid JSON ({exc})",
            "the file is corrupt; re-run the benchmark",
        ) from None
    if not isinstance(data, dict):
        raise ReportError(f"{run_dir}: {RESULT_NAME} is not a JSON object", "re-run")
    version = data.get("schema_version")
    if version not in KNOWN_SCHEMAS:
        raise ReportError(
            f"{run_dir}: {RESULT_NAME} has schema_version {version!r}; this inferlab reads "
            f"{', '.join(map(str, KNOWN_SCHEMAS))}",
            "use the inferlab version that wrote it (see its inferlab_version)",
        )
    return Run(run_dir, data)


def expand(arg: str | Path) -> list[Path]:
    """Run directories named by one argument: a run directory, a folder searched recursively
    for result.json, or a glob pattern of either (expanded here, for quoted patterns)."""
    text = str(arg)
    if GLOB_CHARS & set(text) and not Path(text).exists():
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            raise ReportError(f"{text}: the pattern matches nothing", "check the pattern")
        return [d for m in matches for d in expand(m)]
    p = Path(text)
    if (p / RESULT_NAME).is_file() or (p.is_file() and p.name == RESULT_NAME):
        return [p if p.is_dir() else p.parent]
    if not p.exists():
        raise ReportError(f"{p}: no such directory", "check the path")
    if not p.is_dir():
        raise ReportError(f"{p}: not a directory", "pass a run directory")
    found = sorted({r.parent for r in p.rglob(RESULT_NAME)})
    if not found:
        raise ReportError(
            f"{p}: no {RESULT_NAME} in it or under it (not a run directory, or no run has "
            "finished there)",
            "point at a run directory, or a folder holding run directories",
        )
    return found


def load_runs(args: Iterable[str | Path]) -> tuple[list[Run], list[ReportError]]:
    """Every run named by ``args`` (deduplicated, in order) and the errors of those that could
    not be found or read; callers report the good ones and fail at the end."""
    runs: list[Run] = []
    errors: list[ReportError] = []
    seen: set[Path] = set()
    for arg in args:
        try:
            dirs = expand(arg)
        except ReportError as exc:
            errors.append(exc)
            continue
        for d in dirs:
            key = d.resolve()
            if key in seen:
                continue
            seen.add(key)
            try:
                runs.append(load_run(d))
            except ReportError as exc:
                errors.append(exc)
    return runs, errors


# ---- rows ------------------------------------------------------------------------------------


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def flags(result: dict[str, Any]) -> list[str]:
    """The run's labels, as the end-of-run summary prints them (``report.console.labels``)."""
    from inferlab.report.console import labels

    return labels(result)


def gpu_name(result: dict[str, Any]) -> str | None:
    """The GPU a run used, from the backend's facts or the system description."""
    for value in (
        _get(result, "backend", "cuda_device_name"),
        _get(result, "system", "accelerator_model_name"),
        _get(result, "telemetry", "gpu", "name"),
    ):
        if isinstance(value, str) and value and value != "N/A":
            return value
    gpus = _get(result, "system", "_gpus")
    if isinstance(gpus, list) and gpus and isinstance(gpus[0], dict) and gpus[0].get("name"):
        return str(gpus[0]["name"])
    return None


_ACC_VERDICT = {
    "pass": "PASS",
    "fail": "FAIL",
    "n/a-synthetic": "N/A (synthetic)",
    "measured-random-weights": "no target (random weights)",
}


def _accuracy(result: dict[str, Any]) -> dict[str, Any]:
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
    acc = result.get("accuracy")
    if result.get("mode") != "accuracy":
        return out
    if not isinstance(acc, dict):
        out["verdict"] = "not available"
        return out
    metrics = [m for m in acc.get("metrics") or [] if isinstance(m, dict)]
    out["accuracy_metrics"] = metrics
    main = next((m for m in metrics if "passed" in m), metrics[0] if metrics else None)
    if main is not None:
        name = main.get("metric")
        out.update(
            accuracy_metric="top-1" if name == "acc" else name,
            accuracy=main.get("value"),
            accuracy_unit=main.get("unit"),
            reference=main.get("reference"),
            percent_of_reference=main.get("percent_of_reference"),
            target=main.get("threshold"),
            upper_limit=main.get("upper_limit"),
        )
    status = acc.get("status")
    out["verdict"] = _ACC_VERDICT.get(str(status), str(status) if status else None)
    out["accuracy_note"] = acc.get("note") or None
    return out


def row(run: Run) -> dict[str, Any]:
    """The report row of one run (JSON-ready)."""
    r = run.result
    res: dict[str, Any] = r["result"] if isinstance(r.get("result"), dict) else {}
    status = r.get("status")
    reasons: list[str] = []
    if status in ("failed", "interrupted"):
        err = r.get("error") or {}
        reasons.append(f"{status}: {err.get('message') or 'no message recorded'}")
    if res.get("validity") == "INVALID":
        reasons += [str(x) for x in res.get("invalid_reasons") or []]
    device = _get(r, "config", "device") or _get(r, "backend", "device")
    gpu = gpu_name(r)
    ds = r.get("dataset") or {}
    perf = r.get("mode") == "performance"
    out: dict[str, Any] = {
        "run_dir": str(run.path),
        "status": status,
        "benchmark": _get(r, "benchmark", "id"),
        "scenario": r.get("scenario"),
        "mode": r.get("mode"),
        "dtype": _get(r, "config", "dtype") or _get(r, "backend", "dtype"),
        "device": f"{device} ({gpu})" if gpu and device else device or gpu,
        "backend": _get(r, "config", "backend"),
        "figure_field": res.get("official_field") if perf else None,
        "figure": res.get("value") if perf else None,
        "unit": res.get("unit") if perf else None,
        "validity": res.get("validity"),
        "reasons": reasons,
        "loadgen_reason": res.get("loadgen_reason"),
    }
    out.update(_accuracy(r))
    out.update(
        flags=flags(r),
        not_submittable_because=list(_get(r, "flags", "not_submittable_because") or []),
        round=r.get("round"),
        dataset=ds.get("dataset_id"),
        dataset_count=ds.get("total_count"),
        trace_kept=bool(_get(r, "loadgen", "trace_kept")),
        inferlab_version=r.get("inferlab_version"),
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
