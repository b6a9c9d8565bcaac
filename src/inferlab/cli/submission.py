"""``inferlab submission build|check``: argv -> the submission package, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from inferlab.core.errors import InferlabError

submission_app = typer.Typer(
    no_args_is_help=True,
    help="Build a submission tree from runs, and check one (docs/submission.md).",
)


# options both commands take
OfficialCheckerOption = Annotated[
    Path | None,
    typer.Option(help="Also run the official checker from this mlcommons/inference checkout."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(exc: InferlabError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=exc.exit_code)


def render_findings(report: Any) -> str:
    lines = []
    for f in report.findings:
        lines.append(f"{f.severity.upper():7} {f.code:26} {f.path}")
        lines.append(f"        {f.message}")
        lines.append(f"        fix: {f.fix}")
    verdict = "OK" if report.ok else "FAILED"
    lines.append(
        f"check: {verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s), "
        f"{report.results_checked} result(s), round {report.round}"
    )
    return "\n".join(lines)


def _submitters(tree: Path) -> list[str]:
    return sorted(
        p.name
        for div in ("closed", "open", "network")
        if (tree / div).is_dir()
        for p in (tree / div).iterdir()
        if p.is_dir()
    )


def _official(tree: Path, path: Path | None, round_: str | None, wanted: bool) -> Any:
    """Run the official checker where it is installed or ``path`` names it; None otherwise."""
    from inferlab.submission.official import find_official_checker, run_official_checker

    checker = find_official_checker(path, version=round_)
    if checker is None:
        if wanted:
            typer.echo(
                "official checker: not found (pass --official-checker PATH to a checkout of "
                "mlcommons/inference)",
                err=True,
            )
        return None
    subs = _submitters(tree)
    typer.echo(f"running the official checker ({checker.describe()}) ...", err=True)
    return run_official_checker(
        checker,
        tree,
        submitter=subs[0] if subs else "",
        version=round_ or "v6.1",
        skip_power_check=True,  # inferlab builds no power submissions
    )


def _check_and_print(
    tree: Path,
    round_: str | None,
    as_json: bool,
    official: Path | None,
    extra: dict[str, Any],
    runs: list[Path] | None = None,
) -> bool:
    from inferlab.submission.check import check_tree

    report = check_tree(tree, round_, runs or [])
    verdict = _official(tree, official, report.round, official is not None)
    if as_json:
        doc = {**extra, "check": report.as_dict()}
        if verdict is not None:
            from dataclasses import asdict

            doc["official"] = asdict(verdict)
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        typer.echo(render_findings(report))
        if verdict is not None:
            from inferlab.submission.official import render_verdict

            typer.echo("")
            typer.echo(render_verdict(verdict))
    # the official checker's "fail" counts; its crashes and missing dependencies are shown only
    official_ok = verdict is None or verdict.status != "fail"
    return report.ok and official_ok


@submission_app.command("build")
def build_cmd(
    runs: Annotated[
        list[str],
        typer.Argument(help="Run directories, folders holding them, or quoted globs."),
    ],
    submitter: Annotated[str, typer.Option(help="Your organisation's name (a directory).")],
    out: Annotated[Path, typer.Option(help="The tree to create (must not exist).")],
    division: Annotated[str, typer.Option(help="closed or open.")] = "closed",
    category: Annotated[str, typer.Option(help="datacenter or edge.")] = "edge",
    system_desc: Annotated[
        Path | None,
        typer.Option(help="systems/<system>.json to use (default: what the runs captured)."),
    ] = None,
    system_name: Annotated[
        str | None, typer.Option(help="Directory name of the system (default: system_name).")
    ] = None,
    round_: Annotated[
        str | None, typer.Option("--round", help="Round (default: the runs' round).")
    ] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="Do not check the tree.")] = False,
    official_checker: OfficialCheckerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Turn stored runs into a submission tree in the round's layout, then check it.

    Exit codes: 0 tree built and no finding is an error; 1 built, with errors; 2 bad input."""
    from inferlab.results.load import load_runs
    from inferlab.submission.build import BuildOptions, build

    loaded, errors = load_runs(runs)
    for exc in errors:
        typer.echo(f"warning: skipped: {exc}", err=True)
    opts = BuildOptions(
        submitter=submitter,
        division=division.strip().lower(),
        category=category.strip().lower(),
        out=out,
        system_desc=system_desc,
        system_name=system_name,
        round=round_,
    )
    try:
        rep = build(loaded, opts)
    except InferlabError as exc:
        _fail(exc)
        return
    if not as_json:
        typer.echo(f"built {rep.tree} (round {rep.round}, system {rep.system})")
        for e in rep.entries:
            tests = ", ".join(sorted(e.audits)) or "no compliance runs"
            acc = "accuracy" if e.accuracy else "NO accuracy run"
            typer.echo(f"  {e.benchmark} {e.scenario}: performance, {acc}, {tests}")
        for w in rep.warnings:
            typer.echo(f"  warning: {w}")
        for s in rep.skipped:
            typer.echo(f"  refused: {s}")
    if no_check:
        if as_json:
            typer.echo(json.dumps({"build": rep.as_dict()}, indent=2, default=str))
        return
    if not as_json:
        typer.echo("")
    doc = {"build": rep.as_dict()}
    used = [r.path for r in loaded]  # where check finds the runs to recompute accuracy.txt
    ok = _check_and_print(rep.tree, rep.round, as_json, official_checker, doc, used)
    if not ok:
        raise typer.Exit(code=1)


@submission_app.command("check")
def check_cmd(
    tree: Annotated[Path, typer.Argument(help="The submission root (holding closed/ or open/).")],
    round_: Annotated[
        str | None, typer.Option("--round", help="Round (default: what the tree says).")
    ] = None,
    runs: Annotated[
        list[Path] | None,
        typer.Option(
            "--runs",
            help="Where the tree's runs are (run directories or folders holding them; "
            "repeatable): each accuracy.txt is recomputed from its run's accuracy log.",
        ),
    ] = None,
    official_checker: OfficialCheckerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a submission tree: every finding names the file and the fix. Exit 1 on any error."""
    if round_ is not None:
        from inferlab.core.rounds import rules_for

        try:
            rules_for(round_)
        except InferlabError as exc:
            _fail(exc)
    if not _check_and_print(tree, round_, as_json, official_checker, {}, runs):
        raise typer.Exit(code=1)
