"""The `inferlab` command line: argv -> RunConfig, nothing else."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from inferlab.core.errors import InferlabError

INPUT_ERRORS = {"ConfigError", "DataError", "ModelError", "UnsupportedError"}

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run MLPerf Inference benchmarks end to end with the official LoadGen.",
)


def _fail(exc: InferlabError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=exc.exit_code)


@app.command("ls")
def ls_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List benchmarks with their scenarios, metrics and accuracy targets."""
    from inferlab.core import registry

    rows = []
    for bid in registry.benchmark_ids():
        spec = registry.get(bid)
        newest = sorted(spec.targets)[-1]
        targets = []
        for t in spec.targets_for(newest):
            text = f"{t.metric} >= {t.threshold:.4g} ({t.lower} x {t.reference})"
            if t.upper_limit is not None:
                text += f", <= {t.upper_limit:.4g}"
            targets.append(text)
        rows.append(
            {
                "id": spec.id,
                "loadgen": spec.loadgen_name,
                "checker": spec.checker_name,
                "scenarios": [s.value for s in spec.scenarios],
                "unsubmittable": {s.value: why for s, why in spec.unsubmittable.items()},
                "metrics": list(spec.metrics),
                "targets": targets,
                "round": newest,
                "dataset": f"{spec.dataset_id} ({spec.dataset_size:,})",
                "variants": [f"{v.name} ({v.fmt})" for v in spec.variants],
                "description": spec.description,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['id']}  —  {r['description']}")
        marked = [
            f"{s} (measurement, not submittable)" if s in r["unsubmittable"] else s
            for s in r["scenarios"]
        ]
        typer.echo(f"  scenarios : {', '.join(marked)}")
        typer.echo(f"  metrics   : {', '.join(r['metrics'])}")
        typer.echo(f"  target    : {'; '.join(r['targets'])}  [round {r['round']}]")
        typer.echo(f"  dataset   : {r['dataset']}")
        typer.echo(f"  variants  : {', '.join(r['variants'])}")
        typer.echo(f"  names     : loadgen {r['loadgen']}, checker {r['checker']}")


@app.command("run")
def run_cmd(
    benchmark: Annotated[str, typer.Argument(help="Benchmark id, e.g. resnet50 (see `ls`).")],
    scenario: Annotated[
        str | None, typer.Option(help="SingleStream, MultiStream, Offline or Server.")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="performance or accuracy.")] = None,
    dtype: Annotated[
        str | None, typer.Option(help="fp32, tf32, fp16, bf16, int8 or fp8 (8-bit: calibrated).")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help="cpu, cuda, cuda:N, cuda:0,1,... or cuda:all (one replica per GPU)."),
    ] = None,
    backend: Annotated[str | None, typer.Option(help="torch, onnxruntime or null.")] = None,
    count: Annotated[int | None, typer.Option(help="QSL size: use the first N samples.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data root holding <dataset-id>/ (env INFERLAB_DATA_DIR).")
    ] = None,
    dataset_path: Annotated[Path | None, typer.Option(help="One dataset directory.")] = None,
    model_path: Annotated[Path | None, typer.Option(help="Model checkpoint file.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where run directories go (runs/).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file of RunConfig fields.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Short, non-submittable run.")] = False,
    user_conf: Annotated[Path | None, typer.Option(help="Your LoadGen user.conf.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="key=value; loadgen.<key>=v sets a LoadGen key."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Largest batch (default: per benchmark, scenario, device).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for the backend.")] = None,
    variant: Annotated[str | None, typer.Option(help="Model variant (see `ls`).")] = None,
    audit_config: Annotated[
        Path | None, typer.Option(help="A compliance audit.config to apply.")
    ] = None,
    audit: Annotated[
        str | None,
        typer.Option(
            help="Run a compliance test: TEST01 or TEST04 (performance mode; its audit.config "
            "goes into the run directory; docs/submission.md)."
        ),
    ] = None,
    trace: Annotated[bool, typer.Option("--trace", help="Keep LoadGen's trace log.")] = False,
    no_calibrate: Annotated[
        bool, typer.Option("--no-calibrate", help="Skip the calibration before the test.")
    ] = False,
    padding: Annotated[
        str | None,
        typer.Option(help="Variable-length inputs: batch (pad to the batch's longest) or max."),
    ] = None,
    max_batch_tokens: Annotated[
        int | None, typer.Option(help="Token budget per batch (count x longest).")
    ] = None,
    compile_: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    torch_mode: Annotated[
        str | None,
        typer.Option(help="torch backend: eager, compile, max-autotune or cudagraph."),
    ] = None,
    fold_bn: Annotated[
        bool | None,
        typer.Option(
            "--fold-bn/--no-fold-bn", help="Fold batch-norm into convs (default: on CUDA)."
        ),
    ] = None,
    channels_last: Annotated[
        bool | None,
        typer.Option(
            "--channels-last/--no-channels-last", help="NHWC for image models (default: on CUDA)."
        ),
    ] = None,
    sample_store: Annotated[
        str | None,
        typer.Option(help="Where samples live: auto, device (uint8 on the GPU) or host."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print result.json.")] = False,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run N times (each its own run dir) and report the spread; "
            "`inferlab compare` uses repeats to tell a difference from noise.",
        ),
    ] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary.")] = False,
    find_peak: Annotated[
        bool,
        typer.Option(
            "--find-peak",
            help="Server: find the highest VALID target_qps by short probe runs, then confirm "
            "it with one normal run (docs/find-peak.md).",
        ),
    ] = False,
    peak_probe_ms: Annotated[
        float | None, typer.Option(help="--find-peak: min_duration of each probe (ms, 3000).")
    ] = None,
    peak_max_probes: Annotated[
        int | None, typer.Option(help="--find-peak: most probe runs (12).")
    ] = None,
    peak_tolerance: Annotated[
        float | None,
        typer.Option(
            help="--find-peak: stop when lowest INVALID / highest VALID - 1 <= this (0.05)."
        ),
    ] = None,
    peak_start: Annotated[
        float | None,
        typer.Option(help="--find-peak: first probe rate (QPS); default: calibration."),
    ] = None,
    peak_max: Annotated[
        float | None, typer.Option(help="--find-peak: highest rate to probe (QPS).")
    ] = None,
) -> None:
    """Run one benchmark in one scenario and mode, in a fresh run directory."""
    from inferlab.config.loader import build_config

    flags: dict[str, Any] = {
        "benchmark": benchmark,
        "scenario": scenario,
        "mode": mode,
        "dtype": dtype,
        "device": device,
        "backend": backend,
        "count": count,
        "data_dir": data_dir,
        "dataset_path": dataset_path,
        "model_path": model_path,
        "out": out,
        "user_conf": user_conf,
        "batch_size": batch_size,
        "threads": threads,
        "variant": variant,
        "audit_config": audit_config,
        "audit": audit.strip().upper() if audit else None,
        "padding": padding,
        "max_batch_tokens": max_batch_tokens,
        "torch_mode": torch_mode,
        "fold_bn": fold_bn,
        "channels_last": channels_last,
        "sample_store": sample_store,
    }
    if compile_:
        flags["compile"] = True
    if quick:
        flags["quick"] = True
    if trace:
        flags["trace"] = True
    if no_calibrate:
        flags["calibrate"] = False
    if quiet:
        flags["quiet"] = True
    try:
        if scenario is not None:
            from inferlab.core.spec import Scenario

            flags["scenario"] = Scenario.parse(scenario).value
        from inferlab.core import registry

        flags["benchmark"] = registry.canonical_id(benchmark)
        cfg = build_config(yaml_path=config, flags=flags, sets=set_ or [])
        logging.basicConfig(
            level=logging.WARNING if cfg.quiet else logging.INFO,
            format="%(message)s",
            stream=sys.stderr,
        )
        peak_flags = {
            "probe_ms": peak_probe_ms,
            "max_probes": peak_max_probes,
            "tolerance": peak_tolerance,
            "start": peak_start,
            "max_qps": peak_max,
        }
        if find_peak and repeat > 1:
            from inferlab.core.errors import ConfigError

            raise ConfigError("--repeat does not apply to --find-peak", "drop one of them")
        if find_peak:
            _run_find_peak(cfg, {k: v for k, v in peak_flags.items() if v is not None}, as_json)
            return
        given = [k for k, v in peak_flags.items() if v is not None]
        if given:
            from inferlab.core.errors import ConfigError

            raise ConfigError(
                "--peak-* options apply only to a peak search", "add --find-peak or drop them"
            )
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
        result = results[-1]
    except InferlabError as exc:
        _fail(exc)
        return
    err = result.get("error") or {}
    if result["status"] == "failed" and err.get("kind") in INPUT_ERRORS:
        # bad input found by the worker (a checkpoint that does not fit, a corrupt JPEG)
        typer.echo(f"error: {err['message']}", err=True)
        typer.echo(f"(failed run recorded in {result['run_dir']})", err=True)
        raise typer.Exit(code=2)
    if as_json:
        typer.echo(json.dumps(result if repeat == 1 else results, indent=2, default=str))
    else:
        typer.echo(summary(result))
        if repeat > 1:
            typer.echo(_repeat_summary(results))
    if any(r["status"] == "failed" for r in results):
        raise typer.Exit(code=1)


def _repeat_summary(results: list[dict[str, Any]]) -> str:
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
        lines.append(f"  {r['status']:11} {metric_of(r)[1]}  {r['run_dir']}")
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


def _data_root(data_dir: Path | None) -> Path | None:
    import os

    from inferlab.config.loader import ENV_DATA_DIR

    if data_dir is not None:
        return data_dir
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env) if env else None


@app.command("prepare")
def prepare_cmd(
    benchmark: Annotated[str, typer.Argument(help="Benchmark id, e.g. resnet50, llama2-70b-99.")],
    data_dir: Annotated[
        Path | None, typer.Option(help="Data root (env INFERLAB_DATA_DIR); default ./data.")
    ] = None,
    model_only: Annotated[bool, typer.Option("--model-only", help="Models only.")] = False,
    data_only: Annotated[bool, typer.Option("--data-only", help="Data only.")] = False,
    variant: Annotated[str | None, typer.Option(help="One model variant (e.g. onnx).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be fetched and its size.")
    ] = False,
    from_: Annotated[
        Path | None,
        typer.Option("--from", help="Import a copy you have (ImageNet val folder or tar)."),
    ] = None,
    devkit: Annotated[
        Path | None, typer.Option(help="ILSVRC2012_devkit_t12.tar.gz: labels for --from.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Fetch, import and verify a benchmark's data and models (a second run is a no-op).

    Exit codes: 0 prepared, 1 something failed, 2 bad input, 3 manual steps remain."""
    from inferlab.data.sources import dry_run_lines

    try:
        if dry_run:
            for line in dry_run_lines(benchmark, model_only, data_only, variant):
                typer.echo(line)
            return
        from inferlab.data.prepare import prepare

        root = _data_root(data_dir) or Path("data")
        logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
        res = prepare(
            benchmark,
            root,
            model_only=model_only,
            data_only=data_only,
            variant=variant,
            from_path=from_,
            devkit=devkit,
            progress=not quiet and sys.stderr.isatty(),
            echo=lambda m: typer.echo(m, err=True),
        )
    except InferlabError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(res.as_dict(), indent=2, default=str))
    else:
        for item in res.items:
            typer.echo(f"{item.id}: {item.action}" + (f" - {item.detail}" if item.detail else ""))
            for k, step in enumerate(item.steps, start=1):
                typer.echo(f"    {k}. {step}")
            if item.fix:
                typer.echo(f"    fix: {item.fix}")
        if res.noop:
            typer.echo(
                f"nothing to do: everything for {res.benchmark} is already prepared "
                f"under {res.root}"
            )
    raise typer.Exit(code=res.exit_code())


@app.command("check")
def check_cmd(
    benchmark: Annotated[str | None, typer.Argument(help="Benchmark to check data for.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data root (env INFERLAB_DATA_DIR).")
    ] = None,
    backend: Annotated[str, typer.Option(help="torch, onnxruntime or null.")] = "torch",
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N, cuda:0,1 ...")] = "cpu",
    verify_full: Annotated[
        bool, typer.Option("--verify-full", help="Re-hash data and models (slow).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Preflight in seconds: Python, LoadGen, torch/CUDA/driver/GPU memory, disk space, the
    benchmark's data and models against what `prepare` verified. Exit 1 on any failure."""
    from inferlab.runner.preflight import FAIL, preflight

    try:
        if benchmark is not None:
            from inferlab.data.sources import canonical_benchmark

            benchmark = canonical_benchmark(benchmark)
        rep = preflight(
            benchmark,
            data_dir=_data_root(data_dir),
            backend=backend,
            device=device,
            verify_full=verify_full,
        )
    except InferlabError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(rep.as_dict(), indent=2))
    else:
        for c in rep.checks:
            typer.echo(f"[{c.status:4}] {c.name}: {c.detail}")
            if c.fix and c.status == FAIL:
                typer.echo(f"       fix: {c.fix}")
        typer.echo("preflight: OK" if rep.ok else "preflight: FAILED")
    if not rep.ok:
        raise typer.Exit(code=1)


REPORT_FORMATS = ("table", "markdown", "json", "html")


def _text_width() -> int:
    import shutil

    return max(shutil.get_terminal_size((200, 24)).columns, 120) if sys.stdout.isatty() else 200


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    from inferlab.core.files import atomic_write_text

    atomic_write_text(out, text)
    typer.echo(f"wrote {out}", err=True)


def _check_format(fmt: str, allowed: tuple[str, ...]) -> str:
    value = fmt.strip().lower()
    if value == "md":
        value = "markdown"
    if value not in allowed:
        typer.echo(f"error: --format {fmt}: choose one of {', '.join(allowed)}", err=True)
        raise typer.Exit(code=2)
    return value


@app.command("report")
def report_cmd(
    run_dirs: Annotated[
        list[str],
        typer.Argument(
            help="Run directories, folders holding them (searched for result.json), "
            "or quoted glob patterns."
        ),
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, markdown, json or html.")
    ] = "table",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write here instead of stdout. html: one page for all the runs (default: "
            "RUN/report.html for each run).",
        ),
    ] = None,
) -> None:
    """One row per stored run: figure, validity and why, accuracy vs target, flags; or an
    offline HTML page with plots (docs/report.md). Exit 1 when a run could not be read."""
    from inferlab.report import table

    fmt = _check_format(fmt, REPORT_FORMATS)
    runs, errors = table.load_runs(run_dirs)
    for exc in errors:
        typer.echo(f"warning: skipped: {exc}", err=True)
    if not runs:
        typer.echo("error: no run could be read", err=True)
        raise typer.Exit(code=2)
    try:
        if fmt == "html":
            from inferlab.report.html import HTML_NAME, write_html

            targets = [(out, runs)] if out else [(r.path / HTML_NAME, [r]) for r in runs]
            for path, group in targets:
                try:
                    write_html(path, group)
                except OSError as exc:
                    typer.echo(f"error: cannot write {path}: {exc.strerror}", err=True)
                    typer.echo("(pass --out FILE to write the page elsewhere)", err=True)
                    raise typer.Exit(code=1) from None
                typer.echo(str(path))
        else:
            rows = [table.row(r) for r in runs]
            render = {
                "table": lambda: table.render_table(rows, _text_width()),
                "markdown": lambda: table.render_markdown(rows),
                "json": lambda: table.render_json(rows),
            }[fmt]
            _emit(render(), out)
    except InferlabError as exc:
        _fail(exc)
    if errors:
        raise typer.Exit(code=1)


@app.command("compare")
def compare_cmd(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            help="A B [C ...]: the baseline first; each a run directory, a folder of runs (its "
            "runs are repeats of one side) or a quoted glob."
        ),
    ] = None,
    side_a: Annotated[
        list[str] | None,
        typer.Option("--a", "-a", help="A run (dir, folder or glob) of side A; repeat it."),
    ] = None,
    side_b: Annotated[
        list[str] | None,
        typer.Option("--b", "-b", help="A run (dir, folder or glob) of side B; repeat it."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, markdown or json.")] = "table",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", min=100)] = 10_000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Side by side: the official figure (accuracy in accuracy mode) with ratios to A, whether a
    difference is beyond run-to-run noise, and environment/config differences (docs/report.md).
    Refuses runs of a different benchmark, scenario, mode or dataset."""
    from inferlab.report import compare as cmp

    fmt = _check_format(fmt, ("table", "markdown", "json"))
    try:
        spec = cmp.resolve_sides(runs or [], side_a or [], side_b or [])
        doc = cmp.compare(cmp.load_sides(spec), resamples=resamples, seed=seed)
    except InferlabError as exc:
        _fail(exc)
        return
    render = {
        "table": lambda: cmp.render_table(doc, _text_width()),
        "markdown": lambda: cmp.render_markdown(doc),
        "json": lambda: cmp.render_json(doc),
    }[fmt]
    _emit(render(), out)


from inferlab.cli.submission import submission_app  # noqa: E402

app.add_typer(submission_app, name="submission")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
