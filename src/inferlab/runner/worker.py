"""One worker process per LoadGen test (architecture convention 10).

Started by the supervisor with the run directory as its working directory:
    python -m inferlab.runner.worker JOB_JSON CHANNEL_FD
It builds dataset and backend, calibrates, reports "ready", waits for "start" (the supervisor
has written user.conf by then), runs the LoadGen test, reports "done".
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.config.run_config import RunConfig
from inferlab.core import registry
from inferlab.core.errors import InferlabError, RunFailed
from inferlab.core.spec import Scenario, is_server_like, loadgen_scenario
from inferlab.core.task import BatchPlan, BenchmarkTask, Payloads
from inferlab.results.models import Done, Heartbeat, Ready, RunPlan, Start, WorkerError
from inferlab.runner.protocol import Channel, worker_channel

log = logging.getLogger("inferlab.worker")


class Pipeline:
    """gather -> predict -> postprocess on one replica: the SUT's whole per-batch path."""

    def __init__(self, dataset: Any, replica: Any, task: BenchmarkTask, variant: Any) -> None:
        self.dataset = dataset
        self.replica = replica
        self.backend = replica.backend
        self.store = replica.store
        self.task = task
        self.variant = variant
        self.needs_inputs = self.backend.capabilities.needs_inputs

    def run_batch(self, indices: np.ndarray) -> Payloads:
        if self.replica.device_inputs:  # gathered, normalised and run on the device
            outputs = self.store.predict(self.backend, indices)
        elif self.needs_inputs:
            outputs = self.backend.predict(self.store.gather(indices))
        else:
            outputs = self.backend.predict(np.empty((len(indices), 0), dtype=np.float32))
        payloads = self.task.postprocess(outputs, self.variant, indices, self.dataset)
        if not isinstance(payloads, np.ndarray) and payloads:
            dtype = payloads[0].dtype
            if dtype != self.variant.output_dtype:  # the accuracy log is decoded with the latter
                raise RunFailed(
                    f"postprocess returned {dtype} payloads; the {self.variant.name} variant "
                    f"declares {self.variant.output_dtype}",
                    "make the task's SampleOutput dtype match the variant's output_dtype",
                )
        return payloads

    def warmup(self, indices: np.ndarray) -> None:
        """Before anything is timed: the backend's own warm-up (compiles; captures every
        CUDA-graph batch size), then the SUT's path at this batch's size and at one sample.
        ``indices`` must be loaded."""
        if not self.needs_inputs:  # the null backend: nothing to compile or capture
            return
        idx = np.asarray(indices, dtype=np.int64)
        self.backend.warmup(self.dataset.get_batch(idx))
        self.run_batch(idx)
        if len(idx) > 1:
            self.run_batch(idx[:1])


class Stores:
    """LoadGen's load/unload callbacks over every replica's sample store (a shared host store
    is loaded once)."""

    def __init__(self, pipelines: list[Pipeline]) -> None:
        self.needs_inputs = pipelines[0].needs_inputs
        self._stores = list({id(p.store): p.store for p in pipelines}.values())

    def load(self, indices: Any) -> None:
        if self.needs_inputs:
            for store in self._stores:
                store.load(indices)

    def unload(self, indices: Any) -> None:
        if self.needs_inputs:
            for store in self._stores:
                store.unload(indices)

    def describe(self) -> list[dict[str, Any]]:
        return [store.describe() for store in self._stores]

    @staticmethod
    def guarded(fn: Any, report: Any) -> Any:
        """Wrap a LoadGen callback: an exception there must end the worker, not vanish."""

        def call(*args: Any) -> Any:
            try:
                return fn(*args)
            except BaseException as exc:
                report(exc)
                raise

        return call


def _heartbeat(
    chan: Channel[Start],
    dispatcher: Any,
    stop: threading.Event,
    lock: threading.Lock,
    dataset: Any = None,
    guard: Any = None,
) -> None:
    while not stop.wait(1.0):
        snap = dispatcher.snapshot()
        over = guard.check(time.monotonic(), snap.issued, snap.completed) if guard else None
        if over is not None:  # Server: the SUT fell far behind LoadGen; memory would run out
            from inferlab.loadgen.overload import ServerOverload

            _fatal(chan, lock, ServerOverload(over.message(), over.fix()))
        msg = Heartbeat(
            # samples preprocessed and resident (LoadGen loads them at the start of the test)
            resident=getattr(dataset, "resident_count", None),
            issued=snap.issued,
            completed=snap.completed,
            outstanding=snap.issued - snap.completed,
            oldest_outstanding_ids=[int(i) for i in snap.oldest_outstanding_ids],
            since_last_completion_s=(
                None
                if snap.last_completion_time is None
                else round(time.monotonic() - snap.last_completion_time, 3)
            ),
        )
        with lock:
            try:
                chan.send(msg)
            except OSError:
                return


def _fatal(chan: Channel[Start], lock: threading.Lock, exc: BaseException) -> None:
    """Report an error from a callback thread and end the process (LoadGen cannot be resumed)."""
    if isinstance(exc, InferlabError):
        msg = WorkerError(kind=type(exc).__name__, message=exc.message, fix=exc.fix)
    else:
        log.error("SUT failure:\n%s", "".join(traceback.format_exception(exc)))
        msg = WorkerError(
            kind="RunFailed",
            message=f"the SUT failed: {exc!r}",
            fix="see worker.log in the run directory",
        )
    with lock:
        try:
            chan.send(msg)
        except OSError:
            pass
    logging.shutdown()
    os._exit(2 if isinstance(exc, InferlabError) else 1)


def with_policy(plan: BatchPlan, batch_size: int) -> BatchPlan:
    """A plan without a policy (the task's default) cuts fixed batches of ``batch_size``."""
    if plan.policy is not None:
        return plan
    from inferlab.loadgen.dispatch import FixedBatch

    return replace(plan, policy=FixedBatch(batch_size))


def server_plan(plan: Any, cfg: RunConfig, latency_bound_ms: float | None) -> Any:
    """Server: a fixed-batch plan becomes a latency budget (cut at max_batch, or when the oldest
    sample has waited max_wait). Waiting a little for company instead of waking the batch thread
    for every arriving sample is what lets a Python SUT keep up with LoadGen's issue thread (see
    docs/performance.md, harness overhead). Other plans are returned unchanged."""
    from inferlab.loadgen.dispatch import FixedBatch, LatencyBudget

    if not is_server_like(cfg.scenario) or not isinstance(plan.policy, FixedBatch):
        return plan
    wait_ms = cfg.server_max_wait_ms
    if wait_ms is None:
        wait_ms = min(2.0, 0.1 * (latency_bound_ms or 20.0))
    facts = {**plan.facts, "policy": "latency-budget", "max_wait_ms": wait_ms}
    policy = LatencyBudget(plan.policy.max_batch, wait_ms / 1000.0)
    return BatchPlan(policy, order=plan.order, facts=facts, variable_cost=plan.variable_cost)


def calibration_batches(plan: Any, n: int, scenario: str) -> list[np.ndarray]:
    """The batches the plan cuts from samples 0..n-1, for timing variable-cost samples.

    Offline: one query of n samples, so the plan's ordering (longest first) applies. Server: the
    same n samples in arrival order (no ordering), as from a full queue. SingleStream: single
    samples. The list alternates from both ends (longest, shortest, next longest, ...) so that a
    calibration stopped part way still sees a balanced mix."""
    from inferlab.loadgen.dispatch import cut_batches

    if scenario == "SingleStream":
        return [np.array([i], dtype=np.int64) for i in range(min(n, 64))]
    cut = cut_batches(plan.policy, n, plan.order if scenario == "Offline" else None)
    ends = [cut[k // 2] if k % 2 == 0 else cut[-1 - k // 2] for k in range(len(cut))]
    return ends


def _harness_probe(cfg: RunConfig, plan: Any, batch_size: int) -> dict[str, Any]:
    """What LoadGen + the issue path + the dispatcher sustain here with an instant SUT."""
    from inferlab.loadgen.capacity import measure_harness

    policy = plan.policy
    return measure_harness(
        native_issue=cfg.native_issue,
        max_batch=int(getattr(policy, "max_batch", batch_size)),
        max_wait_s=float(getattr(policy, "max_wait_s", 0.002)),
        row_bytes=8,
    )


def work(job: RunPlan, chan: Channel[Start]) -> None:
    from inferlab.loadgen.adapter import (
        BatchLoop,
        TestSpec,
        complete_to_loadgen,
        first_token_to_loadgen,
        run_test,
    )
    from inferlab.loadgen.dispatch import Dispatcher
    from inferlab.loadgen.generation_loop import TAKE_ALL, UNBOUNDED_INFLIGHT, GenerationLoop
    from inferlab.runner.backends import build_dataset, build_replicas
    from inferlab.runner.calibration import add_harness_rate, measure

    t_start = time.perf_counter()
    cfg = job.config
    spec = registry.get(cfg.benchmark)
    variant = spec.variant(job.variant, cfg.backend)
    task: BenchmarkTask = registry.resolve(spec.task)
    dataset_path, model_path, cache_dir = job.dataset_path, job.model_path, job.cache_dir
    batch_size = job.batch_size

    dataset = build_dataset(cfg, task, variant, dataset_path, cache_dir=cache_dir)
    replicas, facts = build_replicas(
        cfg, spec, variant, task, model_path, batch_size, dataset, cache_dir=cache_dir
    )
    pipelines = [Pipeline(dataset, r, task, variant) for r in replicas]
    stores = Stores(pipelines)
    backend = replicas[0].backend
    plan = server_plan(
        with_policy(task.batch_plan(dataset, cfg, batch_size), batch_size),
        cfg,
        spec.server_latency_ms,
    )
    t_built = time.perf_counter()
    warm = list(range(min(dataset.total_count, batch_size)))
    stores.load(warm)
    for p in pipelines:
        p.warmup(np.asarray(warm))
    stores.unload(warm)
    t_warm = time.perf_counter()

    calibration = None
    if job.calibrate:
        n = min(dataset.total_count, max(batch_size, 8))
        if plan.variable_cost:
            n = min(dataset.total_count, 8 * batch_size)
        idx = list(range(n))
        stores.load(idx)
        lg_scenario = loadgen_scenario(cfg.scenario)
        calibration = measure(
            pipelines[0].run_batch,
            scenario=lg_scenario,
            available=n,
            batch_size=batch_size,
            batches=calibration_batches(plan, n, loadgen_scenario(cfg.scenario))
            if plan.variable_cost
            else None,
            latency_bound_s=(spec.server_latency_ms or 0) / 1000 or None,
        )
        if len(pipelines) > 1 and calibration.get("throughput_sps"):
            # measured on one replica: the others are assumed as fast (stated in result.json)
            calibration["throughput_one_replica_sps"] = calibration["throughput_sps"]
            calibration["throughput_sps"] *= len(pipelines)
            calibration["scaled_to_replicas"] = len(pipelines)
            if calibration.get("server_sps"):
                calibration["server_sps"] *= len(pipelines)
        if is_server_like(cfg.scenario):
            add_harness_rate(calibration, lambda: _harness_probe(cfg, plan, batch_size))
        quick = spec.quick.get(Scenario(cfg.scenario)) if cfg.quick else None
        if quick is not None:  # bounds the SS/MS latency hint (runner.calibration)
            calibration["run_minimums"] = {
                "min_duration_ms": quick.min_duration_ms,
                "min_query_count": quick.min_query_count,
            }
        stores.unload(idx)
    describe = backend.describe()
    if len(replicas) > 1:
        describe["replicas"] = [r.label for r in replicas]
    chan.send(
        Ready(
            calibration=calibration,
            backend=describe,
            capabilities=backend.capabilities.__dict__,
            model=facts.__dict__,
            batching=plan.facts,
            sample_store=stores.describe()[0],
            timings={
                "build_s": round(t_built - t_start, 3),
                "warmup_s": round(t_warm - t_built, 3),
                "calibration_s": round(time.perf_counter() - t_warm, 3),
            },
        )
    )
    msg = chan.recv()
    if msg is None:
        raise InferlabError("the supervisor did not send 'start'", "rerun")

    send_lock = threading.Lock()
    generates = backend.capabilities.generates and len(pipelines) == 1
    dispatcher = Dispatcher(
        TAKE_ALL if generates else plan.policy,
        complete_to_loadgen,
        first_token_fn=first_token_to_loadgen,
        max_inflight_batches=(
            UNBOUNDED_INFLIGHT if generates else cfg.resolved_max_inflight_batches
        ),
        order=None if generates else plan.order,
    )
    loop: Any
    if generates:  # an LLM engine: each sample joins the running batch as it is issued
        settings = task.generation_settings(variant)
        loop = GenerationLoop(
            dispatcher,
            backend,  # type: ignore[arg-type]
            dataset.prompt,
            stream_first=settings is not None and cfg.scenario in settings.stream_scenarios,
            dtype=settings.output_dtype if settings else "int32",
            on_error=lambda e: _fatal(chan, send_lock, e),
        )
    else:
        loop = BatchLoop(
            dispatcher,
            [p.run_batch for p in pipelines],
            threads=cfg.resolved_loop_threads,
            on_error=lambda e: _fatal(chan, send_lock, e),
        )
    stop = threading.Event()
    from inferlab.loadgen.overload import BacklogGuard

    guard = BacklogGuard() if is_server_like(cfg.scenario) else None
    hb = threading.Thread(
        target=_heartbeat, args=(chan, dispatcher, stop, send_lock, dataset, guard), daemon=True
    )
    test = TestSpec(
        user_conf=msg.user_conf,
        model=spec.config_key(Scenario(cfg.scenario)),  # Interactive: <model>-interactive
        scenario=loadgen_scenario(cfg.scenario),
        mode=cfg.mode,
        out_dir=Path.cwd(),
        total_count=dataset.total_count,
        performance_count=min(spec.performance_sample_count, dataset.total_count),
        audit_config=msg.audit_config,
        trace=cfg.trace,
        native_issue=cfg.native_issue,
    )
    issue_path: dict[str, str] = {}

    def report(exc: BaseException) -> None:
        _fatal(chan, send_lock, exc)

    loop.start()
    hb.start()
    t_lg = time.perf_counter()
    config_load = run_test(
        test,
        load=stores.guarded(stores.load, report),
        unload=stores.guarded(stores.unload, report),
        dispatcher=dispatcher,
        on_issue_path=lambda path, detail: issue_path.update(path=path, detail=detail),
        on_error=report,
    )
    t_done = time.perf_counter()
    stop.set()
    loop.stop()
    per_replica = [{"device": r.label, **st} for r, st in zip(replicas, loop.stats(), strict=True)]
    for r in replicas:
        r.backend.close()
    with send_lock:
        chan.send(
            Done(
                snapshot={
                    k: v
                    for k, v in asdict(dispatcher.snapshot()).items()
                    if k != "oldest_outstanding_ids"
                },
                timings={"loadgen_s": round(t_done - t_lg, 3)},
                replicas=per_replica,
                issue_path=issue_path.get("path"),
                issue_path_detail=issue_path.get("detail"),
                config_load={
                    **asdict(config_load),
                    "mlperf_conf": str(config_load.mlperf_conf)
                    if config_load.mlperf_conf
                    else None,
                    "description": config_load.describe(),
                },
            )
        )


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import faulthandler

    from inferlab.runner.signals import die_with_parent

    # a crash in native code (SIGSEGV, SIGABRT...) leaves its Python stack in worker.log
    faulthandler.enable(file=sys.stderr, all_threads=True)
    how = die_with_parent(int(argv[3]) if len(argv) > 3 else None)
    log.info("the worker dies with its supervisor (%s)", how)
    chan = worker_channel(socket.socket(fileno=int(argv[2])))
    try:
        job = RunPlan.model_validate_json(Path(argv[1]).read_text())
        work(job, chan)
    except InferlabError as exc:
        log.error("%s", exc)
        chan.send(WorkerError(kind=type(exc).__name__, message=exc.message, fix=exc.fix))
        return 2
    except BaseException as exc:  # report everything, the supervisor decides
        log.error("worker failed:\n%s", traceback.format_exc())
        chan.send(
            WorkerError(
                kind="internal",
                message=f"{type(exc).__name__}: {exc}",
                fix="see worker.log in the run directory",
            )
        )
        return 1
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown (LoadGen/torch threads)
