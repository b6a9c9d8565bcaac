"""The supervisor's watchdog on scripted heartbeats (no worker process)."""

from __future__ import annotations

import time

from inferlab.results.models import AnyWorkerMessage, Done, Heartbeat, Ready, WorkerError
from inferlab.runner.supervisor import WorkerOutcome, _recv_until


class _Chan:
    def __init__(self, script: list[tuple[float, AnyWorkerMessage]]) -> None:
        self.script = list(script)

    def recv(self, timeout: float | None = None) -> AnyWorkerMessage | None:
        if not self.script:
            time.sleep(timeout or 0)
            return None
        delay, msg = self.script.pop(0)
        time.sleep(delay)
        return msg


class _Proc:
    def poll(self) -> None:
        return None


class _Worker:
    def __init__(self, script: list[tuple[float, AnyWorkerMessage]]) -> None:
        self.chan = _Chan(script)
        self.proc = _Proc()


def _hb(completed: int, outstanding: int) -> Heartbeat:
    return Heartbeat(
        completed=completed,
        outstanding=outstanding,
        oldest_outstanding_ids=[7, 9] if outstanding else [],
    )


def test_idle_time_is_not_a_stall() -> None:
    # 0.6 s idle (LoadGen loading a set), then work starts and finishes within the window
    script = [
        (0.0, _hb(10, 0)),
        (0.3, _hb(10, 0)),
        (0.3, _hb(10, 0)),
        (0.1, _hb(10, 4)),
        (0.1, _hb(14, 0)),
        (0.0, Done()),
    ]
    out = WorkerOutcome()
    msg = _recv_until(_Worker(script), out, Done, watchdog_s=0.5)  # type: ignore[arg-type]
    assert msg == Done() and out.watchdog is None and out.last_heartbeat == _hb(14, 0)


def test_no_completion_with_outstanding_samples_is_a_stall() -> None:
    script = [(0.0, _hb(3, 5))] + [(0.15, _hb(3, 5)) for _ in range(10)]
    out = WorkerOutcome()
    assert _recv_until(_Worker(script), out, Done, watchdog_s=0.5) is None  # type: ignore[arg-type]
    assert out.watchdog is not None and "oldest outstanding query ids: [7, 9]" in out.watchdog


def test_silent_worker_is_reported_hung() -> None:
    out = WorkerOutcome()
    assert _recv_until(_Worker([]), out, Ready, watchdog_s=0.6) is None  # type: ignore[arg-type]
    assert out.watchdog is not None and "sent nothing" in out.watchdog


def test_worker_error_message_is_returned() -> None:
    err = WorkerError(kind="DataError", message="bad", fix="f")
    out = WorkerOutcome()
    assert _recv_until(_Worker([(0.0, err)]), out, Ready, watchdog_s=5) is None  # type: ignore[arg-type]
    assert out.error == err
