"""The `inferlab` command line: argv -> RunConfig, nothing else."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from inferlab.backends.registry import BACKENDS, DEFAULT_BACKEND, section_class
from inferlab.cli.common import fail as _fail
from inferlab.cli.evaluate import evaluate_cmd
from inferlab.cli.run import run_cmd
from inferlab.cli.suite import EPILOG as SUITE_EPILOG
from inferlab.cli.suite import suite_cmd
from inferlab.core.errors import InferlabError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run MLPerf Inference benchmarks end to end with the official LoadGen.",
)


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


app.command("run")(run_cmd)
app.command("evaluate")(evaluate_cmd)
app.command("suite", epilog=SUITE_EPILOG)(suite_cmd)


def _data_root(data_dir: Path | None) -> Path | None:
    import os

    from inferlab.config.loader import ENV_DATA_DIR

    if data_dir is not None:
        return data_dir
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env) if env else None


@app.command("prepare")
def prepare_cmd(
    benchmark: Annotated[str, typer.Argument(help="Benchmark id (see `inferlab ls`).")],
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
        typer.Option("--from", help="Import a copy of the dataset you have (folder or tar)."),
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
    backend: Annotated[
        str,
        typer.Option(
            help="The backend whose libraries to check.",
            metavar=f"[{'|'.join(BACKENDS)}]",
            show_default=True,
        ),
    ] = DEFAULT_BACKEND,
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
        section_class(backend)  # an unknown name: the error lists the table's
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
    from inferlab.results.load import load_runs

    fmt = _check_format(fmt, REPORT_FORMATS)
    runs, errors = load_runs(run_dirs)
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
