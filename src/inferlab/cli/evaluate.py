"""``inferlab evaluate RUN_DIR``: score a stored accuracy run again without rerunning it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from inferlab.cli.common import fail
from inferlab.core.errors import InferlabError


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _failed(exc: InferlabError, run_dir: Path, as_json: bool) -> None:
    """One error line on stderr and exit code 2; with --json also an object on stdout (as
    ``run --json`` prints for bad input)."""
    if as_json:
        doc = {
            "status": "error",
            "run_dir": str(run_dir),
            "exit_code": exc.exit_code,
            "error": {"kind": type(exc).__name__, "message": exc.message, "fix": exc.fix},
        }
        typer.echo(json.dumps(doc, indent=2))
    fail(exc)


def evaluate_cmd(
    run_dir: Annotated[Path, typer.Argument(help="The run directory of an accuracy-mode run.")],
    val_map: Annotated[
        Path | None,
        typer.Option(
            "--val-map",
            help="Score against this val map (one '<file> <label>' line per sample): labels "
            "only, no images needed.",
        ),
    ] = None,
    dataset_path: Annotated[
        Path | None,
        typer.Option(
            "--dataset-path", help="Score against the dataset here instead of the run's own."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Recompute a run's accuracy from its mlperf_log_accuracy.json, without rerunning: writes
    a new accuracy.rescored-<UTC time>.txt beside accuracy.txt (never over it) and prints the
    verdict (docs/reliability.md). Exit codes: 0 scored, 2 bad input."""
    from inferlab.results.rescore import rescore_run, write_rescored

    try:
        res = rescore_run(run_dir, val_map=val_map, dataset_path=dataset_path)
    except InferlabError as exc:
        _failed(exc, run_dir, as_json)
        return
    except OSError as exc:  # a file of the run that cannot be read
        what = exc.filename or run_dir
        _failed(
            InferlabError(f"cannot read {what}: {exc.strerror or exc}", "check it"),
            run_dir,
            as_json,
        )
        return
    try:
        path = write_rescored(run_dir, res.accuracy_txt)
    except (InferlabError, OSError) as exc:  # not writable, the disk is full
        why = exc.message if isinstance(exc, InferlabError) else exc.strerror or str(exc)
        error = InferlabError(
            f"cannot write the rescored accuracy into {run_dir}: {why}",
            "make the run directory writable (or free space), or rescore a copy of it",
        )
        _failed(error, run_dir, as_json)
        return
    if as_json:
        typer.echo(json.dumps({**res.as_dict(), "file": str(path)}, indent=2, default=str))
        return
    tags = "".join(f" [{label}]" for label in res.labels)
    typer.echo(f"inferlab evaluate {res.benchmark} {res.scenario} accuracy{tags}")
    typer.echo(f"run dir  : {res.run_dir}")
    typer.echo(f"data     : {res.data}")
    for line in res.accuracy_txt.strip().splitlines():
        typer.echo(f"output   : {line}")
    for m in res.metrics:
        target = ""
        if m.threshold is not None:
            target = f", target >= {m.threshold:.6g}"
            if m.upper_limit is not None:
                target += f" and <= {m.upper_limit:.6g}"
            target += f" ({'PASS' if m.passed else 'FAIL'})"
        same = "" if m.stored is None else (
            " (as stored)" if abs(m.value - m.stored) < 5e-4 else
            f" (result.json holds {_value(m.stored)})"
        )  # fmt: skip
        typer.echo(f"{m.metric:9}: {_value(m.value)} {m.unit}{target}{same}")
    typer.echo(f"verdict  : {res.verdict}" + (f"; {res.note}" if res.note else ""))
    typer.echo(f"wrote    : {path}")
