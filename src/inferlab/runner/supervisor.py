"""The supervisor: owns the run directory, writes user.conf, runs one worker per LoadGen test.

Used by the CLI and the Python API alike (``inferlab.runner.run``).
"""

from __future__ import annotations

import json
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
from typing import Any

from inferlab.config.loader import default_cache_dir
from inferlab.config.run_config import RunConfig
from inferlab.core.errors import InferlabError
from inferlab.core.files import atomic_write_json
from inferlab.runner.protocol import Channel

log = logging.getLogger(__name__)


class RunInterrupted(InferlabError):
    exit_code = 130


@dataclass
class WorkerOutcome:
    ready: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    interrupted: bool = False
    watchdog: str | None = None
    exit_code: int | None = None
    pid: int | None = None
    last_heartbeat: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)


class Worker:
    """A worker process in its own process group, talking over a socket pair."""

    def __init__(self, run_dir: Path, job: dict[str, Any]) -> None:
        self.run_dir = run_dir
        job_path = run_dir / "job.json"
        atomic_write_json(job_path, job)
        parent, child = socket.socketpair()
        self.chan = Channel(parent)
        self._log = open(run_dir / "worker.log", "ab")  # noqa: SIM115 (closed in close())
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inferlab.runner.worker", str(job_path), str(child.fileno())],
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


_observer: Callable[[dict[str, Any]], None] | None = None


def observe(fn: Callable[[dict[str, Any]], None] | None) -> None:
    """Let the CLI watch a run: ``fn`` gets every worker message (heartbeats: issued,
    completed, resident samples) and ``{"event": "phase", "phase": ...}`` markers, in the
    supervisor's thread. None stops it. Exceptions in ``fn`` are logged and ignored."""
    global _observer
    _observer = fn


def _notify(msg: dict[str, Any]) -> None:
    if _observer is not None:
        try:
            _observer(msg)
        except Exception:  # noqa: BLE001 - a display must never stop a run
            log.debug("progress observer failed", exc_info=True)


def _recv_until(
    worker: Worker, out: WorkerOutcome, want: str, *, watchdog_s: float
) -> dict[str, Any] | None:
    """Receive messages until `want` arrives; applies the watchdog while the test runs."""
    last_msg = time.monotonic()
    last_completed = -1
    last_progress = time.monotonic()
    while True:
        try:
            msg = worker.chan.recv(timeout=0.5)
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
                        if msg.get("event") in (want, "error"):
                            break
                except EOFError:
                    msg = None
                if msg is None:
                    out.exit_code = code
                    return None
            elif now - last_msg > watchdog_s:
                out.watchdog = (
                    f"worker sent nothing for {watchdog_s:.0f} s (hung); "
                    f"last state: {out.last_heartbeat}"
                )
                return None
            else:
                continue
        last_msg = now
        _notify(msg)
        event = msg.get("event")
        if event == "heartbeat":
            out.last_heartbeat = msg
            if msg["completed"] != last_completed or msg["outstanding"] == 0:
                # progress, or idle (LoadGen loading the next set): neither is a stall
                last_completed = msg["completed"]
                last_progress = now
            elif msg["outstanding"] > 0 and now - last_progress > watchdog_s:
                ids = msg.get("oldest_outstanding_ids", [])
                out.watchdog = (
                    f"the SUT completed no sample for {watchdog_s:.0f} s with "
                    f"{msg['outstanding']} outstanding; oldest outstanding query ids: {ids}"
                )
                return None
            continue
        if event == "error":
            out.error = msg
            return None
        if event == want:
            return msg


def run_worker(
    run_dir: Path,
    job: dict[str, Any],
    write_conf: Any,
    *,
    watchdog_s: float,
) -> WorkerOutcome:
    """Start the worker, hand it user.conf after calibration, supervise it to the end."""
    out = WorkerOutcome()
    worker = Worker(run_dir, job)
    out.pid = worker.proc.pid
    t0 = time.perf_counter()
    try:
        _notify({"event": "phase", "phase": "building, warming up, calibrating"})
        ready = _recv_until(worker, out, "ready", watchdog_s=max(watchdog_s, 600))
        out.timings["worker_ready_s"] = round(time.perf_counter() - t0, 3)
        if ready is None:
            return out
        out.ready = ready
        start_msg = write_conf(ready)
        worker.chan.send({"cmd": "start", **start_msg})
        _notify({"event": "phase", "phase": "LoadGen test"})
        t1 = time.perf_counter()
        out.done = _recv_until(worker, out, "done", watchdog_s=watchdog_s)
        out.timings["test_s"] = round(time.perf_counter() - t1, 3)
        if out.done is not None:
            try:
                out.exit_code = worker.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                out.exit_code = None
    except KeyboardInterrupt:
        out.interrupted = True
    finally:
        worker.close()
        if out.exit_code is None:
            out.exit_code = worker.proc.returncode
    return out


def describe_failure(out: WorkerOutcome) -> tuple[str, str]:
    if out.watchdog:
        return "watchdog", out.watchdog
    if out.error:
        fix = out.error.get("fix")
        return out.error.get("kind", "error"), out.error["message"] + (
            f" (fix: {fix})" if fix else ""
        )
    return "crash", (
        f"the worker exited with code {out.exit_code} before finishing; see worker.log"
    )


def job_for(
    cfg: RunConfig, paths: dict[str, Path | None], batch_size: int, *, calibrate: bool
) -> dict[str, Any]:
    return {
        "config": json.loads(cfg.model_dump_json()),
        "dataset_path": str(paths["dataset"]) if paths.get("dataset") else None,
        "model_path": str(paths["model"]) if paths.get("model") else None,
        "cache_dir": str(default_cache_dir(cfg) / "preprocessed"),
        "batch_size": batch_size,
        "calibrate": calibrate,
    }
