"""Progress reporting for byte transfers.

A :class:`ProgressSink` is told when a transfer starts (its total, when known, and the bytes
already present, e.g. a resumed partial file), every time the byte count grows, and when it ends.
``download(progress=True)`` shows a rich progress bar (bytes, rate, ETA) on stderr when stderr is
a terminal and stays silent otherwise; tests pass a :class:`CallbackProgress` to observe it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ProgressSink(Protocol):
    def start(self, description: str, total: int | None, completed: int = 0) -> None:
        """A transfer (or a retry of it) begins; ``completed`` bytes are already there."""

    def update(self, completed: int) -> None:
        """``completed`` bytes are there now (absolute, not a delta)."""

    def finish(self) -> None:
        """The transfer ended (done, failed or interrupted). Called once; idempotent."""


class NullProgress:
    """Reports nothing."""

    def start(self, description: str, total: int | None, completed: int = 0) -> None:
        pass

    def update(self, completed: int) -> None:
        pass

    def finish(self) -> None:
        pass


class CallbackProgress:
    """Calls ``fn(completed, total)`` on start and on every update. An exception raised by ``fn``
    (KeyboardInterrupt in the tests) propagates into the transfer, which keeps its partial file."""

    def __init__(self, fn: Callable[[int, int | None], None]) -> None:
        self._fn = fn
        self._total: int | None = None

    def start(self, description: str, total: int | None, completed: int = 0) -> None:
        self._total = total
        self._fn(completed, total)

    def update(self, completed: int) -> None:
        self._fn(completed, self._total)

    def finish(self) -> None:
        pass


class RichProgress:
    """A rich progress bar on stderr: description, bar, bytes done/total, rate, ETA."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None

    def start(self, description: str, total: int | None, completed: int = 0) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(description, total=total, completed=completed)
        else:  # a retry: same bar, new position
            self._progress.reset(self._task, total=total, completed=completed)

    def update(self, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def progress_sink(progress: bool | ProgressSink) -> ProgressSink:
    """The sink for a ``progress=`` argument: a given sink as is; ``True`` -> a rich bar when
    stderr is a terminal, else silent; ``False`` -> silent."""
    if isinstance(progress, bool):
        if progress and sys.stderr.isatty():
            return RichProgress()
        return NullProgress()
    return progress
