"""``inferlab suite``: argv -> the suite package (plan, runs, tree, summary), nothing else."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from inferlab.cli.common import fail
from inferlab.core.errors import InferlabError

EPILOG = "Exit codes: 0 done; 1 a run failed or the tree has errors; 2 bad input; 130/143 stopped."


def _plan_table(rows: list[dict[str, Any]], total: dict[str, Any]) -> str:
    head = ["#", "run", "required", "expected"]
    body = [
        [str(i), r["key"], "yes" if r["required"] else "optional", r["expected"]]
        for i, r in enumerate(rows, 1)
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    lines.append(f"total: {total['runs']} run(s), {total['text']}")
    return "\n".join(line.rstrip() for line in lines)


def suite_cmd(
    benchmarks: Annotated[
        list[str] | None,
        typer.Argument(
            help="Benchmarks (ids, aliases, or a model's family name: all its accuracy targets); "
            "none: every benchmark of the round in the category with its data ready."
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(help="The suite's directory (suite.json, runs/, submission/, summary.md)."),
    ] = Path("suite"),
    category: Annotated[str, typer.Option(help="datacenter or edge.")] = "edge",
    division: Annotated[
        str, typer.Option(help="closed or open (open: no compliance tests).")
    ] = "closed",
    round_: Annotated[
        str | None,
        typer.Option(
            "--round",
            help="Round (default: the installed LoadGen's; another one only with --dry-run).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="The system file: RunConfig settings per benchmark and scenario (YAML).",
        ),
    ] = None,
    system_desc: Annotated[
        Path | None, typer.Option(help="systems/<system>.json for the tree.")
    ] = None,
    submitter: Annotated[
        str, typer.Option(help="Your organisation (the tree's directory).")
    ] = "inferlab",
    backend: Annotated[str | None, typer.Option(help="torch, onnxruntime or null.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N, ...")] = None,
    dtype: Annotated[str | None, typer.Option(help="fp32, bf16, fp16, int8, ...")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="The data root (inferlab prepare's).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="key=value for every run.")
    ] = None,
    quick: Annotated[
        bool, typer.Option(help="Short runs to try the flow (not submittable).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Print the plan and the time it takes; run nothing.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the suite in --out: finished runs are "
            "kept, failed and stopped ones run again."
        ),
    ] = False,
    fail_fast: Annotated[bool, typer.Option(help="Stop at the first failed run.")] = False,
    no_build: Annotated[bool, typer.Option("--no-build", help="Do not build the tree.")] = False,
    official_checker: Annotated[
        Path | None, typer.Option(help="Also run the official checker from this checkout.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every run a submission needs, from the round's rules, then the checked tree.

    The plan, the system file, resuming and the summary: docs/suites.md."""
    from inferlab.suite.execute import SuiteOptions

    # each run logs as `inferlab run --quiet` does; the suite says what it runs (stderr)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    flags: dict[str, Any] = {
        k: v
        for k, v in (("backend", backend), ("device", device), ("dtype", dtype),
                     ("data_dir", data_dir))
        if v is not None
    }  # fmt: skip
    opts = SuiteOptions(
        out=out,
        category=category,
        benchmarks=tuple(benchmarks or ()),
        division=division,
        round=round_,
        quick=quick,
        system_file=config.resolve() if config else None,
        flags=flags,
        sets=tuple(set_ or ()),
        fail_fast=fail_fast,
        submitter=submitter,
        system_desc=system_desc.resolve() if system_desc else None,
        official_checker=official_checker,
        build=not no_build,
    )
    try:
        if dry_run:
            _dry_run(opts, as_json)
            return
        if resume and (benchmarks or round_ or config or quick or flags or set_):
            from inferlab.core.errors import ConfigError

            raise ConfigError(
                "--resume continues the suite as it was planned (suite.json keeps its settings)",
                "drop the benchmarks and settings, or start a new suite in another --out",
            )
        code = _run(opts, resume, as_json)
    except InferlabError as exc:
        if as_json:
            doc = {
                "status": "error",
                "exit_code": exc.exit_code,
                "error": {"kind": type(exc).__name__, "message": exc.message, "fix": exc.fix},
            }
            typer.echo(json.dumps(doc, indent=2))  # fmt: skip
        fail(exc)
        return
    raise typer.Exit(code=code)


def _dry_run(opts: Any, as_json: bool) -> None:
    from inferlab.core.spec import is_server_like
    from inferlab.suite.estimate import plan_rows
    from inferlab.suite.execute import plan_suite
    from inferlab.suite.system import load_system_file

    system = load_system_file(opts.system_file)
    plan = plan_suite(opts)
    lg = opts.flags.get("loadgen") or {}
    search = set()
    if not opts.quick and not lg.get("target_qps"):
        search = {
            (r.benchmark, r.scenario)
            for r in plan.runs
            if is_server_like(r.scenario) and system.target_qps(r.benchmark, r.scenario) is None
        }
    rows, total = plan_rows(plan, system, dict(opts.flags), opts.quick, search)
    if as_json:
        doc = {"plan": plan.as_dict(), "rows": rows, "total": total}
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    tag = " (quick: not submittable)" if opts.quick else ""
    typer.echo(
        f"suite plan: round {plan.round}, {plan.category}, {plan.division}{tag}: "
        f"{', '.join(plan.benchmarks) or 'no benchmark'}"
    )
    typer.echo(_plan_table(rows, total))
    for s in plan.skipped:
        typer.echo(f"skipped: {s.what}: {s.why}")


def _run(opts: Any, resume: bool, as_json: bool) -> int:
    from inferlab.suite import summary
    from inferlab.suite.execute import run_planned, start_or_resume
    from inferlab.suite.finish import build_and_check, write_summary

    state, opts = start_or_resume(opts, resume=resume)
    say = (lambda _msg: None) if as_json else (lambda msg: typer.echo(msg, err=True))
    say(f"suite: {len(state.plan.runs)} run(s) planned, state in {state.path}")
    runs_ok = run_planned(state, opts, say)
    tree_ok = True
    built: dict[str, Any] = {}
    if opts.build:
        built = build_and_check(state, opts)
        check = built.get("check") or {}
        tree_ok = bool(built.get("build", {}).get("ok")) and bool(check.get("ok"))
    t = write_summary(state)
    state.status = "done" if runs_ok else "done-with-failures"
    state.save()
    if as_json:
        doc = {
            "suite_dir": str(state.suite_dir),
            "status": state.status,
            "summary": t,
            "runs": state.runs,
            "tree": state.finished.get("tree"),
        }
        typer.echo(json.dumps(doc, indent=2, default=str))  # fmt: skip
    else:
        typer.echo(summary.render_text(t))
        _say_tree(built)
        typer.echo(f"summary: {state.suite_dir / 'summary.md'}, {state.suite_dir / 'summary.html'}")
    # a quick suite cannot give a submittable tree: its check is shown, not a failure
    return 0 if runs_ok and (tree_ok or opts.quick) else 1


def _say_tree(built: dict[str, Any]) -> None:
    if not built:
        return
    b = built.get("build") or {}
    if not b.get("ok"):
        typer.echo(f"tree: not built: {b.get('error')}")
        return
    check = built.get("check") or {}
    verdict = "OK" if check.get("ok") else "FAILED"
    codes = ", ".join(check.get("codes") or []) or "none"
    typer.echo(
        f"tree: {b['tree']} (round {b['round']}); check {verdict}: {check.get('errors')} "
        f"error(s) ({codes}), {check.get('warnings')} warning(s); "
        f"inferlab submission check {b['tree']} for every finding"
    )
    official = built.get("official")
    if official:
        typer.echo(f"official checker: {str(official.get('status', '?')).upper()}")
