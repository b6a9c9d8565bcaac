"""Stop signals during a run (architecture convention 10): SIGTERM and SIGHUP (sent by `timeout`,
batch schedulers, `docker stop`, a closed terminal) are handled like Ctrl-C, and the worker dies
with its supervisor.

* :func:`stop_signals`: while a run is in progress, SIGTERM and SIGHUP raise :class:`Terminated`
  (a ``KeyboardInterrupt``) in the supervisor's main thread, so they take Ctrl-C's path: the
  worker's process group is killed, the run is recorded ``interrupted`` and kept.
* :func:`deferred_signals`: while ``result.json`` is being written, a further Ctrl-C, SIGTERM
  or SIGHUP is noted and said, not obeyed; the caller raises it once the file is written.
* :func:`die_with_parent`: the worker asks the kernel for SIGKILL when its supervisor dies
  (``PR_SET_PDEATHSIG`` on Linux; elsewhere a thread that watches the parent's pid).

Signal handlers can only be set from the main thread: elsewhere (a run started from another
thread of a Python program) these are no-ops and the program's own handling applies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: the run stops as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def signum_of(exc: BaseException) -> int:
    """The signal behind an interruption (:class:`Terminated`, or an error that carries its
    ``signum``); SIGINT (Ctrl-C) otherwise."""
    signum = getattr(exc, "signum", None)
    return int(signum) if isinstance(signum, int) else int(signal.SIGINT)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` in the main thread while this is active."""
    if not _main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class Deferred:
    """The stop signals that arrived while deferred (the first one decides the exit code)."""

    def __init__(self) -> None:
        self.signals: list[int] = []

    @property
    def first(self) -> int | None:
        return self.signals[0] if self.signals else None


@contextlib.contextmanager
def deferred_signals(what: str) -> Iterator[Deferred]:
    """Ctrl-C, SIGTERM and SIGHUP are recorded and said (``what`` is being finished), not
    obeyed, while this is active."""
    seen = Deferred()
    if not _main_thread():
        yield seen
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        seen.signals.append(signum)
        log.warning("%s: finishing %s first, then stopping", signal_name(signum), what)

    sigs = (signal.SIGINT, *STOP_SIGNALS)
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield seen
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def die_with_parent(parent_pid: int | None) -> str:
    """Make this process (the worker) die when ``parent_pid`` (its supervisor) does; returns
    how: "pdeathsig" (the kernel sends SIGKILL) or "watch" (a thread polls the parent)."""
    how = "watch"
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
            how = "pdeathsig"
    except (OSError, AttributeError):
        pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the supervisor died before the request took effect
    if how == "watch" and parent_pid is not None:

        def watch() -> None:
            while True:
                if os.getppid() != parent_pid:
                    os._exit(1)
                threading.Event().wait(1.0)

        threading.Thread(target=watch, name="inferlab-parent-watch", daemon=True).start()
    return how
