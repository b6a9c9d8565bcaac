"""The supervisor: owns the run directory, writes user.conf, runs one worker per LoadGen test.

Used by the CLI and the Python API alike (``inferlab.runner.run``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from inferlab.config.loader import default_cache_dir
from inferlab.config.run_config import RunConfig
from inferlab.core.errors import InferlabError
from inferlab.core.files import atomic_write_text
from inferlab.results.models import (
    AnyWorkerMessage,
    Done,
    Heartbeat,
    Phase,
    Ready,
    RunPlan,
    Start,
    WorkerError,
)
from inferlab.runner.protocol import ProtocolError, supervisor_channel
from inferlab.runner.signals import deferred_signals, signum_of

log = logging.getLogger(__name__)


class RunInterrupted(InferlabError):
    """The run was stopped by Ctrl-C, SIGTERM or SIGHUP; its directory and result.json are kept.
    The exit code is the shell's for that signal: 128 + its number (130, 143, 129)."""

    exit_code = 128 + int(signal.SIGINT)

    def __init__(
        self,
        message: str,
        fix: str | None = None,
        *,
        signum: int = signal.SIGINT,
        run_dir: Path | None = None,
    ):
        super().__init__(message, fix)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        self.run_dir = run_dir  # where result.json (status interrupted) was written


@dataclass
class WorkerOutcome:
    """What the supervisor saw of one worker: its typed messages and how it ended."""

    ready: Ready | None = None
    done: Done | None = None
    error: WorkerError | None = None
    interrupted: bool = False
    stop_signal: int | None = None  # the signal that interrupted the run (SIGINT: Ctrl-C)
    watchdog: str | None = None
    exit_code: int | None = None
    pid: int | None = None
    last_heartbeat: Heartbeat | None = None
    timings: dict[str, float] = field(default_factory=dict)


class Worker:
    """A worker process in its own process group, talking over a socket pair."""

    def __init__(self, run_dir: Path, plan: RunPlan) -> None:
        self.run_dir = run_dir
        job_path = run_dir / "job.json"
        atomic_write_text(job_path, plan.model_dump_json(indent=2) + "\n")
        parent, child = socket.socketpair()
        self.chan = supervisor_channel(parent)
        self._log = open(run_dir / "worker.log", "ab")  # noqa: SIM115 (closed in close())
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "inferlab.runner.worker",
                str(job_path),
                str(child.fileno()),
                str(os.getpid()),  # the worker dies with this process (runner.signals)
            ],
            cwd=run_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=(child.fileno(),),
            start_new_session=True,  # own process group: Ctrl-C reaches only the supervisor
            env=env,
        )
        child.close()

    def kill(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        self.kill()
        self.chan.close()
        self._log.close()


Observed = AnyWorkerMessage | Phase
_observer: Callable[[Observed], None] | None = None


def observe(fn: Callable[[Observed], None] | None) -> None:
    """Let the CLI watch a run: ``fn`` gets every worker message (a :class:`Heartbeat`: issued,
    completed, resident samples) and :class:`Phase` markers, in the supervisor's thread. None
    stops it. Exceptions in ``fn`` are logged and ignored."""
    global _observer
    _observer = fn


def _notify(msg: Observed) -> None:
    if _observer is not None:
        try:
            _observer(msg)
        except Exception:  # noqa: BLE001 - a display must never stop a run
            log.debug("progress observer failed", exc_info=True)


def _recv_until(
    worker: Worker, out: WorkerOutcome, want: type[Ready] | type[Done], *, watchdog_s: float
) -> AnyWorkerMessage | None:
    """Receive messages until one of type `want` arrives; applies the watchdog while the test
    runs. None: the worker failed (``out`` says how)."""
    last_msg = time.monotonic()
    last_completed = -1
    last_progress = time.monotonic()
    while True:
        try:
            msg = worker.chan.recv(timeout=0.5)
        except ProtocolError as exc:
            out.error = WorkerError(kind="protocol", message=exc.message, fix=exc.fix)
            return None
        except EOFError:
            msg = None
            try:
                worker.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                out.watchdog = "the worker closed its channel but did not exit"
                return None
        now = time.monotonic()
        if msg is None:
            code = worker.proc.poll()
            if code is not None:
                # drain what is left
                try:
                    while (msg := worker.chan.recv(timeout=0.1)) is not None:
                        if isinstance(msg, want | WorkerError):
                            break
                except (EOFError, ProtocolError):
                    msg = None
                if msg is None:
                    out.exit_code = code
                    return None
            elif now - last_msg > watchdog_s:
                hb = out.last_heartbeat
                out.watchdog = (
                    f"worker sent nothing for {watchdog_s:.0f} s (hung); "
                    f"last state: {hb.model_dump(exclude={'event'}) if hb else None}"
                )
                return None
            else:
                continue
        last_msg = now
        _notify(msg)
        if isinstance(msg, Heartbeat):
            out.last_heartbeat = msg
            if msg.completed != last_completed or msg.outstanding == 0:
                # progress, or idle (LoadGen loading the next set): neither is a stall
                last_completed = msg.completed
                last_progress = now
            elif msg.outstanding > 0 and now - last_progress > watchdog_s:
                out.watchdog = (
                    f"the SUT completed no sample for {watchdog_s:.0f} s with "
                    f"{msg.outstanding} outstanding; oldest outstanding query ids: "
                    f"{msg.oldest_outstanding_ids}"
                )
                return None
            continue
        if isinstance(msg, WorkerError):
            out.error = msg
            return None
        if isinstance(msg, want):
            return msg


def run_worker(
    run_dir: Path,
    plan: RunPlan,
    write_conf: Callable[[Ready], Start],
    *,
    watchdog_s: float,
) -> WorkerOutcome:
    """Start the worker, hand it user.conf after calibration, supervise it to the end."""
    out = WorkerOutcome()
    worker = Worker(run_dir, plan)
    out.pid = worker.proc.pid
    t0 = time.perf_counter()
    try:
        _notify(Phase(phase="building, warming up, calibrating"))
        ready = _recv_until(worker, out, Ready, watchdog_s=max(watchdog_s, 600))
        out.timings["worker_ready_s"] = round(time.perf_counter() - t0, 3)
        if not isinstance(ready, Ready):
            return out
        out.ready = ready
        try:
            start = write_conf(ready)
        except OSError as exc:  # user.conf on a full or vanished disk: a failed run, said so
            out.error = WorkerError(
                kind="output",
                message=f"could not write the run's LoadGen config: {exc}",
                fix="free space on the disk holding the run directory, or choose another --out",
            )
            return out
        worker.chan.send(start)
        _notify(Phase(phase="LoadGen test"))
        t1 = time.perf_counter()
        done = _recv_until(worker, out, Done, watchdog_s=watchdog_s)
        out.done = done if isinstance(done, Done) else None
        out.timings["test_s"] = round(time.perf_counter() - t1, 3)
        if out.done is not None:
            try:
                out.exit_code = worker.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                out.exit_code = None
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (runner.signals.Terminated)
        out.interrupted = True
        out.stop_signal = signum_of(exc)
    finally:
        # a second Ctrl-C (or SIGTERM) must not cut the worker's shutdown short
        with deferred_signals("stopping the worker") as late:
            worker.close()
        if late.first is not None and not out.interrupted:
            out.interrupted, out.stop_signal = True, late.first
        if out.exit_code is None:
            out.exit_code = worker.proc.returncode
    return out


def describe_failure(out: WorkerOutcome) -> tuple[str, str]:
    if out.watchdog:
        return "watchdog", out.watchdog
    if out.error:
        fix = out.error.fix
        return out.error.kind, out.error.message + (f" (fix: {fix})" if fix else "")
    code = out.exit_code
    if code is not None and code < 0:  # killed by a signal: its name, and where the stack is
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return "crash", (
            f"the worker was killed by {name} before finishing; worker.log holds its Python "
            "stack at that moment"
        )
    return "crash", f"the worker exited with code {code} before finishing; see worker.log"


def job_for(
    cfg: RunConfig,
    variant: str,
    paths: dict[str, Path | None],
    batch_size: int,
    *,
    calibrate: bool,
) -> RunPlan:
    """The worker's plan (written to job.json)."""
    return RunPlan(
        config=cfg,
        variant=variant,
        dataset_path=paths.get("dataset"),
        model_path=paths.get("model"),
        cache_dir=default_cache_dir(cfg) / "preprocessed",
        batch_size=batch_size,
        calibrate=calibrate,
    )
