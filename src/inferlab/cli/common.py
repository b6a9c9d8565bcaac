"""What the CLI's commands share."""

from __future__ import annotations

import typer

from inferlab.core.errors import InferlabError


def fail(exc: InferlabError) -> None:
    """One ``error: ... (fix: ...)`` line on stderr, and the error's exit code."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=exc.exit_code)
