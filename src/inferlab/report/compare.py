"""Compare stored runs side by side: ratios of the official figure (accuracy in accuracy mode)
against the first side, whether a difference is beyond run-to-run noise (bootstrap confidence
interval of the ratio of means), and the environment and config fields that differ. Pure
functions of result.json contents (docs/report.md)."""

from __future__ import annotations

import io
import json
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inferlab.core.errors import InferlabError
from inferlab.report.table import ReportError, fmt_number
from inferlab.results.load import Run, load_runs
from inferlab.results.models import RunResult

RESAMPLES = 10_000
SEED = 0
LEVEL = 0.95
NOISE_UNKNOWN = "noise unknown (one run {where}: rerun with --repeat N or pass several runs)"

#: What two runs must share to be compared: (label, how to read it from the result).
SAME: tuple[tuple[str, Callable[[RunResult], Any]], ...] = (
    ("benchmark", lambda r: r.benchmark.id),
    ("scenario", lambda r: r.scenario),
    ("mode", lambda r: r.mode),
    ("dataset", lambda r: r.dataset_id),
    ("dataset size (total_count)", lambda r: r.dataset_count),
)
#: Sections flattened for the environment diff, in display order.
ENV_SECTIONS = (
    "system",
    "backend",
    "environment",
    "inferlab_version",
    "round",
    "model",
    "benchmark.variant",
    "batching",
    "sample_store",
    "loadgen.version",
    "loadgen.keys",
    "config",
)
ENV_SKIP = {
    "config.out",
    "config.cache_dir",
    "config.compile_cache_dir",
    "config.backend_options.compile_cache_dir",
    "config.quiet",
    "system._sources",
    "system._unfilled",
}


class NotComparable(InferlabError):
    """Runs of a different benchmark, scenario, mode or dataset."""


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a label (A, B, ...) and its runs (repeats)."""

    label: str
    runs: list[Run]


def _get(d: Any, path: Sequence[str]) -> Any:
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def check_comparable(sides: Sequence[Side]) -> None:
    """Raise :class:`NotComparable` naming the first field that differs between any two runs."""
    first = sides[0].runs[0]
    for side in sides:
        for run in side.runs:
            for label, get in SAME:
                a, b = get(first.result), get(run.result)
                if a != b:
                    raise NotComparable(
                        f"cannot compare: {label} differs: {a!r} in {first.path} "
                        f"(side {sides[0].label}) vs {b!r} in {run.path} (side {side.label})",
                        "compare runs of the same benchmark, scenario, mode and dataset",
                    )


def metric_of(result: RunResult) -> tuple[str, float | None, str, bool]:
    """(name, value, unit, higher_is_better): the official figure in performance mode (None for
    a failed run), the main accuracy metric in accuracy mode."""
    if result.mode == "accuracy":
        main = result.accuracy.main if result.accuracy else None
        if main is None:
            return "accuracy", None, "", True
        return main.metric or "accuracy", _num(main.value), main.unit, True
    res = result.result
    unit = (res.unit if res else None) or ""
    ok = res is not None and result.status in ("ok", "invalid")
    value = _num(res.value) if ok and res else None
    field = (res.official_field if res else None) or "result"
    return field, value, unit, unit not in ("ms", "ns")


def _num(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
    return float(v) if ok else None


def bootstrap_ratio_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(b) / mean(a): each side resampled with replacement
    ``resamples`` times (fixed ``seed``)."""
    rng = np.random.default_rng(seed)
    av, bv = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ma = av[rng.integers(0, len(av), size=(resamples, len(av)))].mean(axis=1)
    mb = bv[rng.integers(0, len(bv), size=(resamples, len(bv)))].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = mb / ma
    ratios = ratios[np.isfinite(ratios)]
    if not len(ratios):
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    lo, hi = np.quantile(ratios, [tail, 1 - tail])
    return float(lo), float(hi)


def noise(
    a: Sequence[float], b: Sequence[float], labels: tuple[str, str], **kw: Any
) -> tuple[str, tuple[float, float] | None]:
    """("beyond noise" | "within noise" | "noise unknown (...)", the interval or None).
    Beyond noise when the interval of the ratio of means excludes 1.0; needs 2+ runs per side."""
    single = [lab for lab, v in zip(labels, (a, b), strict=True) if len(v) < 2]
    if single:
        where = "per side" if len(single) == 2 else f"on side {single[0]}"
        return NOISE_UNKNOWN.format(where=where), None
    lo, hi = bootstrap_ratio_ci(a, b, **kw)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "noise unknown (the ratio is undefined)", None
    return ("beyond noise" if lo > 1.0 or hi < 1.0 else "within noise"), (lo, hi)


def _flatten(d: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(d, dict):
        for k, v in d.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(d, list) and any(isinstance(x, dict | list) for x in d):
        for i, v in enumerate(d):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = json.dumps(d) if isinstance(d, list) else d


def env_facts(result: RunResult) -> dict[str, Any]:
    """The environment and config of a run as flat ``dotted.key -> value`` pairs."""
    out: dict[str, Any] = {}
    stored = result.to_json()  # flattened as stored
    for section in ENV_SECTIONS:
        value = _get(stored, section.split("."))
        if section == "loadgen.keys" and isinstance(value, dict):
            for k, meta in value.items():
                if isinstance(meta, dict):
                    out[f"loadgen.keys.{k}"] = f"{meta.get('value')} ({meta.get('source')})"
            continue
        _flatten(value, section, out)
    return {k: v for k, v in out.items() if k not in ENV_SKIP}


def env_diff(sides: Sequence[Side]) -> list[dict[str, Any]]:
    """Every flattened key whose value is not the same in all runs: per side, the value (or
    ``varies: x | y`` when the side's runs disagree; ``-`` when absent)."""
    facts = [[env_facts(r.result) for r in s.runs] for s in sides]
    keys: list[str] = []
    for per_side in facts:
        for f in per_side:
            keys += [k for k in f if k not in keys]
    rank = {s: i for i, s in enumerate(ENV_SECTIONS)}
    keys.sort(key=lambda k: next((rank[s] for s in ENV_SECTIONS if k.startswith(s)), 99))
    out = []
    for key in keys:
        shown: dict[str, str] = {}
        everything = set()
        for side, per_side in zip(sides, facts, strict=True):
            vals = []
            for f in per_side:
                v = "-" if f.get(key) is None else str(f.get(key))
                if v not in vals:
                    vals.append(v)
            everything.update(vals)
            shown[side.label] = vals[0] if len(vals) == 1 else "varies: " + " | ".join(vals)
        if len(everything) > 1:
            out.append({"key": key, "values": shown})
    return out


def compare(
    sides: Sequence[Side], *, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL
) -> dict[str, Any]:
    """The comparison of ``sides`` (the first is the baseline), JSON-ready."""
    if len(sides) < 2 or any(not s.runs for s in sides):
        raise NotComparable("compare needs two sides with at least one run each", "see --help")
    check_comparable(sides)
    first = sides[0].runs[0].result
    name, _, unit, higher = metric_of(first)
    notes: list[str] = []
    side_docs: list[dict[str, Any]] = []
    values: dict[str, list[float]] = {}
    for s in sides:
        vals = []
        for run in s.runs:
            v = metric_of(run.result)[1]
            if v is None:
                notes.append(
                    f"{s.label}: {run.path} has no {name} (status {run.result.status}); left out"
                )
                continue
            vals.append(v)
        invalid = [r for r in s.runs if r.result.validity == "INVALID"]
        if invalid:
            notes.append(
                f"{s.label}: {len(invalid)} of {len(s.runs)} run(s) INVALID: their figure is not "
                "a valid result (see `inferlab report`)"
            )
        values[s.label] = vals
        arr = np.asarray(vals, dtype=float)
        side_docs.append(
            {
                "label": s.label,
                "runs": [str(r.path) for r in s.runs],
                "values": vals,
                "n": len(vals),
                "mean": float(arr.mean()) if len(arr) else None,
                "stdev": float(arr.std(ddof=1)) if len(arr) > 1 else None,
                "validity": [r.result.validity for r in s.runs],
            }
        )
    base = side_docs[0]
    comparisons = []
    for doc in side_docs[1:]:
        ratio = None
        if base["mean"] and doc["mean"] is not None:
            ratio = doc["mean"] / base["mean"]
        verdict, ci = noise(
            values[base["label"]],
            values[doc["label"]],
            (base["label"], doc["label"]),
            resamples=resamples,
            seed=seed,
            level=level,
        )
        if ratio is None:
            verdict, ci = "no ratio (a side has no value)", None
        better = None if ratio is None or ratio == 1 else (ratio > 1) == higher
        comparisons.append(
            {
                "side": doc["label"],
                "baseline": base["label"],
                "ratio": ratio,
                "change_pct": None if ratio is None else (ratio - 1) * 100,
                "better": better,
                "ci": list(ci) if ci else None,
                "verdict": verdict,
            }
        )
    return {
        "benchmark": first.benchmark.id,
        "scenario": first.scenario,
        "mode": first.mode,
        "dataset": first.dataset_id,
        "dataset_count": first.dataset_count,
        "metric": {"name": name, "unit": unit, "higher_is_better": higher},
        "bootstrap": {"resamples": resamples, "seed": seed, "level": level},
        "sides": side_docs,
        "comparisons": comparisons,
        "env_diff": env_diff(sides),
        "notes": notes,
    }


# ---- sides from the command line ---------------------------------------------------------------


def resolve_sides(
    positional: Sequence[str], a: Sequence[str], b: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """``A B [C ...]`` (one argument per side: a run dir, a folder of runs or a glob), or
    ``--a X --a Y --b Z`` (several arguments per side); not both."""
    if a or b:
        if positional:
            raise ReportError(
                "give the sides either as arguments (A B) or with --a/--b, not both",
                "e.g. inferlab compare --a RUN1 --a RUN2 --b RUN3 --b RUN4",
            )
        if not a or not b:
            raise ReportError("--a and --b are both needed", "add the missing side")
        return [("A", list(a)), ("B", list(b))]
    if len(positional) < 2:
        raise ReportError("compare needs two sides", "inferlab compare RUN_A RUN_B")
    if len(positional) > len(string.ascii_uppercase):
        raise ReportError("too many sides", "compare at most 26 sides")
    return [(string.ascii_uppercase[i], [p]) for i, p in enumerate(positional)]


def load_sides(spec: Sequence[tuple[str, Sequence[str]]]) -> list[Side]:
    """Load every side's runs; any unreadable run is an error (a comparison missing a run
    would mislead)."""
    sides = []
    for label, args in spec:
        runs, errors = load_runs(args)
        if errors:
            msgs = "; ".join(e.message for e in errors)
            raise ReportError(f"side {label}: {msgs}", errors[0].fix)
        sides.append(Side(label, runs))
    return sides


# ---- rendering ---------------------------------------------------------------------------------


def _ratio_cells(doc: dict[str, Any], c: dict[str, Any] | None) -> list[str]:
    if c is None:
        return ["baseline", "-", "-"]
    if c["ratio"] is None:
        return ["n/a", "-", c["verdict"]]
    direction = "higher" if c["ratio"] > 1 else "lower" if c["ratio"] < 1 else "equal"
    judged = {True: ", better", False: ", worse"}.get(c["better"], "")
    ratio = f"{c['ratio']:.4f} ({c['change_pct']:+.2f}% {direction}{judged})"
    ci = f"[{c['ci'][0]:.4f}, {c['ci'][1]:.4f}]" if c["ci"] else "-"
    return [ratio, ci, c["verdict"]]


def _side_rows(doc: dict[str, Any]) -> list[list[str]]:
    unit = doc["metric"]["unit"]
    by_side = {c["side"]: c for c in doc["comparisons"]}
    rows = []
    for s in doc["sides"]:
        vals = ", ".join(fmt_number(v) for v in s["values"]) or "-"
        mean = fmt_number(s["mean"], unit) if s["mean"] is not None else "-"
        if s["stdev"] is not None:
            mean += f" ± {fmt_number(s['stdev'])}"
        rows.append(
            [
                s["label"],
                str(len(s["runs"])),
                vals,
                mean,
                *_ratio_cells(doc, by_side.get(s["label"])),
            ]
        )
    return rows


SIDE_HEADERS = ("side", "runs", "values", "mean ± sd", "ratio vs A", "95% CI", "noise")


def _title(doc: dict[str, Any]) -> str:
    m = doc["metric"]
    better = "higher" if m["higher_is_better"] else "lower"
    return (
        f"compare {doc['benchmark']} {doc['scenario']} {doc['mode']} on {doc['dataset']} "
        f"({doc['dataset_count']} samples): {m['name']} ({m['unit']}, {better} is better)"
    )


def _headers(doc: dict[str, Any]) -> list[str]:
    h = list(SIDE_HEADERS)
    h[4] = f"ratio vs {doc['sides'][0]['label']}"
    h[5] = f"{doc['bootstrap']['level'] * 100:g}% CI"
    return h


def render_table(doc: dict[str, Any], width: int = 200) -> str:
    """Plain-text (rich) tables: the sides with ratios and noise verdicts, the environment diff,
    then notes and the runs of each side."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    buf = io.StringIO()
    con = Console(file=buf, width=width, force_terminal=False, color_system=None)
    con.print(_title(doc), markup=False, highlight=False)
    t = Table(header_style="bold")
    for h in _headers(doc):
        t.add_column(h, overflow="fold")
    for r in _side_rows(doc):
        t.add_row(*[escape(c) for c in r])
    con.print(t)
    _env_table(con, doc, Table, escape)
    for n in doc["notes"]:
        con.print(f"note: {n}", markup=False, highlight=False)
    for s in doc["sides"]:
        for path in s["runs"]:
            con.print(f"{s['label']}: {path}", markup=False, highlight=False)
    return buf.getvalue()


def _env_table(con: Any, doc: dict[str, Any], table_cls: Any, escape: Any) -> None:
    if not doc["env_diff"]:
        con.print("environment: no differences in environment, system, backend or config")
        return
    labels = [s["label"] for s in doc["sides"]]
    con.print("environment and config differences:")
    t = table_cls(header_style="bold")
    t.add_column("key", overflow="fold")
    for lab in labels:
        t.add_column(lab, overflow="fold")
    for d in doc["env_diff"]:
        t.add_row(escape(d["key"]), *[escape(d["values"][lab]) for lab in labels])
    con.print(t)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def render_markdown(doc: dict[str, Any]) -> str:
    head = _headers(doc)
    lines = [f"**{_title(doc)}**", "", _md_row(head), "|" + "---|" * len(head)]
    lines += [_md_row(r) for r in _side_rows(doc)]
    labels = [s["label"] for s in doc["sides"]]
    lines.append("")
    if doc["env_diff"]:
        lines += ["**Environment and config differences**", ""]
        lines += [_md_row(["key", *labels]), "|" + "---|" * (len(labels) + 1)]
        lines += [_md_row([d["key"], *[d["values"][x] for x in labels]]) for d in doc["env_diff"]]
    else:
        lines.append("No differences in environment, system, backend or config.")
    if doc["notes"]:
        lines += ["", *[f"- note: {n}" for n in doc["notes"]]]
    lines += ["", *[f"- {s['label']}: `{p}`" for s in doc["sides"] for p in s["runs"]]]
    return "\n".join(lines) + "\n"


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, default=str) + "\n"
