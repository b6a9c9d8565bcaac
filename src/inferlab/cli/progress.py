"""Live progress of a run on the terminal: the phase, samples preprocessed while LoadGen loads
them, samples completed and the rate over the last seconds. Off with --quiet or when stderr is
not a terminal. Fed by the supervisor's observer hook (worker heartbeats, once a second)."""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text


class RunProgress:
    """A one-line live status: ``LoadGen test  1,234,567 samples  45,678/s  0:00:27``."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._console = Console(stderr=True)
        self._live: Live | None = None
        self._phase = "starting the worker"
        self._t0 = time.monotonic()
        self._points: deque[tuple[float, int]] = deque(maxlen=6)
        self._line = ""

    def __enter__(self) -> RunProgress:
        if self.enabled:
            from inferlab.runner import supervisor

            supervisor.observe(self.on_message)
            self._live = Live(self._render(), console=self._console, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            from inferlab.runner import supervisor

            supervisor.observe(None)
            self._live.__exit__(None, None, None)
            self._live = None

    def on_message(self, msg: Any) -> None:
        """A supervisor message (results.models: Phase, Heartbeat; others are ignored)."""
        event = msg.event
        now = time.monotonic()
        if event == "phase":
            self._phase = str(msg.phase)
            self._points.clear()
        elif event == "heartbeat":
            done = msg.completed
            self._points.append((now, done))
            if done == 0 and msg.resident:
                self._line = f"preprocessing/loading: {msg.resident:,} samples resident"
            else:
                rate = ""
                if len(self._points) >= 2:
                    (t_a, n_a), (t_b, n_b) = self._points[0], self._points[-1]
                    if t_b > t_a:
                        rate = f"  {(n_b - n_a) / (t_b - t_a):,.0f} samples/s"
                self._line = f"{done:,} samples completed{rate}"
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Text:
        elapsed = int(time.monotonic() - self._t0)
        clock = f"{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        return Text(f"{self._phase}  {self._line}  {clock}", style="dim")
