"""``inferlab run``: argv -> RunConfig -> run(s) -> summary.

The config's options (``--scenario``, ``--torch-mode``, ...) are derived from ``RunConfig`` and
the backends' sections (:mod:`inferlab.cli.options`); the options below are the CLI's own: the
YAML file, ``--set``, output, repeats and the peak search."""

from __future__ import annotations

import inspect
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from inferlab.backends.registry import section_classes
from inferlab.cli.common import fail
from inferlab.cli.options import config_options, flags_layer, given_options
from inferlab.config.sections import SECTION
from inferlab.core.errors import InferlabError

INPUT_ERRORS = {"ConfigError", "DataError", "ModelError", "UnsupportedError"}

# --peak-* option -> PeakOptions field
PEAK = {
    "peak_probe_ms": "probe_ms",
    "peak_max_probes": "max_probes",
    "peak_tolerance": "tolerance",
    "peak_start": "start",
    "peak_max": "max_qps",
}


def _compile_panel() -> str | None:
    """The help panel of the backend whose section takes the legacy ``compile`` switch."""
    owner = next((c for c in section_classes() if "compile" in c.flat_keys), None)
    return f"{owner.model_fields['name'].default} backend" if owner else None


def _own_options() -> list[inspect.Parameter]:
    own: list[tuple[str, Any, Any, Any]] = [
        ("config", Path | None, None,
         typer.Option(help="YAML file of RunConfig fields.", metavar="FILE")),
        ("set_", list[str] | None, None,
         typer.Option("--set", metavar="KEY=VALUE",
                      help="Any RunConfig field (a backend's: backend_options.<key>); "
                      "loadgen.<key>=v sets a LoadGen key.")),
        ("compile_", bool, False,
         typer.Option("--compile", help="torch.compile the model (= --torch-mode compile).",
                      rich_help_panel=_compile_panel())),
        ("as_json", bool, False, typer.Option("--json", help="Print result.json.")),
        ("repeat", int, 1,
         typer.Option(min=1, help="Run N times (each its own run dir) and report the spread; "
                      "`inferlab compare` uses repeats to tell a difference from noise.")),
        ("find_peak", bool, False,
         typer.Option("--find-peak", help="Server: find the highest VALID target_qps by short "
                      "probe runs, then confirm it with one normal run (docs/find-peak.md).")),
        ("peak_probe_ms", float | None, None,
         typer.Option(help="--find-peak: min_duration of each probe (ms, 3000).")),
        ("peak_max_probes", int | None, None,
         typer.Option(help="--find-peak: most probe runs (12).")),
        ("peak_tolerance", float | None, None,
         typer.Option(help="--find-peak: stop when lowest INVALID / highest VALID - 1 <= "
                      "this (0.05).")),
        ("peak_start", float | None, None,
         typer.Option(help="--find-peak: first probe rate (QPS); default: calibration.")),
        ("peak_max", float | None, None,
         typer.Option(help="--find-peak: highest rate to probe (QPS).")),
    ]  # fmt: skip
    return [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                          annotation=Annotated[kind, info])
        for name, kind, default, info in own
    ]  # fmt: skip


OPTIONS = config_options()


def run_cmd(ctx: typer.Context, **params: Any) -> None:
    """Run one benchmark in one scenario and mode, in a fresh run directory."""
    from inferlab.config.loader import build_config
    from inferlab.core import registry
    from inferlab.core.errors import ConfigError

    repeat: int = params["repeat"]
    as_json: bool = params["as_json"]
    flags = flags_layer(OPTIONS, params, given_options(ctx))
    if params["compile_"]:
        flags["compile"] = True
    peak = {PEAK[k]: params[k] for k in PEAK if params[k] is not None}
    try:
        flags["benchmark"] = registry.canonical_id(params["benchmark"])
        cfg = build_config(yaml_path=params["config"], flags=flags, sets=params["set_"] or [])
        logging.basicConfig(
            level=logging.WARNING if cfg.quiet else logging.INFO,
            format="%(message)s",
            stream=sys.stderr,
        )
        if params["find_peak"] and repeat > 1:
            raise ConfigError("--repeat does not apply to --find-peak", "drop one of them")
        if params["find_peak"]:
            _run_find_peak(cfg, peak, as_json)
            return
        if peak:
            raise ConfigError(
                "--peak-* options apply only to a peak search", "add --find-peak or drop them"
            )
        results = _runs(cfg, repeat)
    except InferlabError as exc:
        if as_json:
            typer.echo(json.dumps(error_doc(exc), indent=2, default=str))
        fail(exc)
        return
    _report(results, as_json)


def error_doc(exc: InferlabError) -> dict[str, Any]:
    """What ``--json`` prints when no result comes back: bad input before the run (status
    ``error``, no run directory) or a run stopped by a signal (``interrupted``; its result.json
    when the error names the run directory)."""
    run_dir = getattr(exc, "run_dir", None)
    stored = Path(run_dir) / "result.json" if run_dir is not None else None
    if stored is not None and stored.is_file():
        try:
            doc: dict[str, Any] = json.loads(stored.read_text(encoding="utf-8"))
            return doc
        except (OSError, ValueError):
            pass
    interrupted = getattr(exc, "signum", None) is not None
    return {
        "status": "interrupted" if interrupted else "error",
        "run_dir": str(run_dir) if run_dir is not None else None,
        "exit_code": exc.exit_code,
        "error": {"kind": type(exc).__name__, "message": exc.message, "fix": exc.fix},
    }


run_cmd.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter(
            "benchmark",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[str, typer.Argument(help="Benchmark id (see `inferlab ls`).")],
        ),
        *(o.parameter for o in OPTIONS if o.path[0] != SECTION),
        *_own_options(),
        *(o.parameter for o in OPTIONS if o.path[0] == SECTION),
    ]
)


def _runs(cfg: Any, repeat: int) -> list[Any]:
    from inferlab.cli.progress import RunProgress
    from inferlab.report.console import summary
    from inferlab.runner.api import run

    results = []
    for k in range(repeat):
        if repeat > 1:
            typer.echo(f"repeat {k + 1} of {repeat}", err=True)
        with RunProgress(enabled=None if not cfg.quiet else False):
            results.append(run(cfg))
        if repeat > 1 and k + 1 < repeat:
            typer.echo(summary(results[-1]))
    return results


def _report(results: list[Any], as_json: bool) -> None:
    """The summary (or result.json) and the exit code of the last of ``results``."""
    from inferlab.report.console import summary

    result = results[-1]
    err = result.error
    # bad input found by the worker (a checkpoint that does not fit, a corrupt JPEG)
    input_error = result.status == "failed" and err is not None and err.kind in INPUT_ERRORS
    if as_json:  # result.json for every outcome
        docs = [r.to_json() for r in results]
        typer.echo(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2, default=str))
    elif not input_error:
        typer.echo(summary(result))
        if len(results) > 1:
            typer.echo(_repeat_summary(results))
    if input_error and err is not None:
        typer.echo(f"error: {err.message}", err=True)
        typer.echo(f"(failed run recorded in {result.run_dir})", err=True)
        raise typer.Exit(code=2)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(code=1)


def _repeat_summary(results: list[Any]) -> str:
    """Mean, spread and every value of the official figure (or accuracy) over the repeats."""
    import statistics

    from inferlab.report.compare import metric_of

    name, _, unit, _ = metric_of(results[0])
    values = [v for r in results if (v := metric_of(r)[1]) is not None]
    lines = [f"repeats: {len(results)} runs of the same configuration ({name})"]
    if values:
        mean = statistics.fmean(values)
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        cv = f", cv {100 * sd / mean:.2f} %" if mean else ""
        lines.append(
            f"  mean {mean:,.3f} {unit}, sd {sd:,.3f}{cv}, min {min(values):,.3f}, "
            f"max {max(values):,.3f} ({len(values)} with a value)"
        )
    for r in results:
        lines.append(f"  {r.status:11} {metric_of(r)[1]}  {r.run_dir}")
    lines.append("  compare against another set: inferlab compare --a RUN... --b RUN...")
    return "\n".join(lines)


def _run_find_peak(cfg: Any, options: dict[str, Any], as_json: bool) -> None:
    """``run --find-peak``: the search, the probe table (or peak.json) and the exit code."""
    from inferlab.report.console import peak_summary
    from inferlab.runner.peak import PeakInterrupted, PeakOptions, find_peak, peak_ok

    opts = PeakOptions(**options)
    try:
        doc = find_peak(cfg, opts)
    except PeakInterrupted as exc:
        typer.echo(json.dumps(exc.doc, indent=2, default=str) if as_json else peak_summary(exc.doc))
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=exc.exit_code) from None
    typer.echo(json.dumps(doc, indent=2, default=str) if as_json else peak_summary(doc))
    if not peak_ok(doc):
        raise typer.Exit(code=1)
