"""run(RunConfig) -> RunResult: the composition root used by the CLI and the Python API."""

from __future__ import annotations

import logging
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from inferlab import __version__
from inferlab.config.loader import default_cache_dir
from inferlab.config.run_config import RunConfig
from inferlab.core import registry
from inferlab.core.clock import now_iso
from inferlab.core.errors import ConfigError, InferlabError, UnsupportedError
from inferlab.core.files import atomic_write_text
from inferlab.core.rounds import interactive_latencies
from inferlab.core.spec import BenchmarkSpec, Mode, Scenario, loadgen_scenario, resolve_batch_size
from inferlab.core.task import BenchmarkTask
from inferlab.loadgen.settings import ComposedConf, Layer, compose, parse_user_conf
from inferlab.models.precheck import precheck_model_file
from inferlab.results import environment
from inferlab.results.metrics import write_metrics
from inferlab.results.models import (
    Audit,
    BenchmarkInfo,
    ErrorInfo,
    LoadgenInfo,
    LoadgenKey,
    Ready,
    RunResult,
    Start,
    WorkerInfo,
)
from inferlab.results.schema import flags_section
from inferlab.results.store import create_run_dir
from inferlab.results.system import capture_system
from inferlab.runner.backends import build_dataset
from inferlab.runner.calibration import loadgen_hints
from inferlab.runner.checkpoint_id import identify_checkpoint, with_check
from inferlab.runner.finish import Finished, finish, replica_figures
from inferlab.runner.outdir import ResultReserve, check_out_dir, with_disk_note
from inferlab.runner.signals import deferred_signals, signal_name, signum_of, stop_signals
from inferlab.runner.supervisor import RunInterrupted, describe_failure, job_for, run_worker
from inferlab.runner.telemetry import TelemetrySampler, gpu_indices_for, with_samples

log = logging.getLogger(__name__)


def _check_backend(cfg: RunConfig) -> None:
    """The backend's static checks (its config section's), before anything is built."""
    from inferlab.backends.base import StaticContext
    from inferlab.config.devices import parse_devices
    from inferlab.runner.backends import refuse_several_devices

    refuse_several_devices(cfg)
    devs = parse_devices(cfg.device)
    devices = [devs.first] if devs.all_devices else devs.replicas()
    ctx = StaticContext(cfg.device, tuple(devices), devs.multi, cfg.dtype, cfg.threads)
    cfg.backend_options.check_static(ctx)


def prepare(cfg: RunConfig) -> dict[str, Any]:
    """Everything that can fail on bad input, before a run directory exists."""
    spec = registry.get(cfg.benchmark)
    scenario = Scenario.parse(cfg.scenario)
    if scenario not in spec.scenarios:
        raise UnsupportedError(
            f"{spec.id} has no {scenario.value} scenario",
            f"use one of {', '.join(s.value for s in spec.scenarios)}",
        )
    variant = spec.variant(cfg.variant, cfg.backend)
    task: BenchmarkTask = registry.resolve(spec.task)
    _check_backend(cfg)
    if variant.fmt == "random-init" and cfg.model_path is not None:
        raise ConfigError(
            f"the {variant.name} variant has random weights and no checkpoint format "
            f"({cfg.model_path} given)",
            "drop --model-path, or choose a variant that loads checkpoints (see `inferlab ls`)",
        )
    dataset_path = task.resolve_dataset_path(cfg.data_dir, cfg.dataset_path)
    if dataset_path is None and cfg.count is not None and cfg.count > spec.dataset_size:
        raise ConfigError(  # generated data: --count is its size, at most the real dataset's
            f"--count {cfg.count} is more than {spec.id}'s dataset ({spec.dataset_size:,} "
            "samples); with no dataset, --count sets the size of the generated (SYNTHETIC) set",
            f"pass --count {spec.dataset_size} or less",
        )
    model_path = None
    if cfg.backend_options.loads_model:
        # look for the official checkpoint under the data root only for variants that have one
        root = cfg.data_dir if variant.checkpoint_name else None
        model_path = task.resolve_model_path(root, cfg.model_path, variant)
        synthetic = spec.synthetic_variant
        if cfg.variant is None and synthetic and dataset_path is None and model_path is None:
            small = spec.variant(synthetic)
            if small.supports(cfg.backend):
                log.info("no dataset and no checkpoint: using the %r variant", small.name)
                variant = small
    if variant.fmt == "onnx" and model_path is None:
        raise ConfigError(
            f"the {variant.name} variant of {spec.id} runs a model file and none was found",
            f"pass --model-path to {variant.checkpoint_name}, or put it under "
            f"<data-dir>/models/ (see docs)",
        )
    from inferlab.runner.preflight import run_checks

    verified = run_checks(cfg.data_dir, [dataset_path, model_path])
    dataset = build_dataset(
        cfg, task, variant, dataset_path, cache_dir=default_cache_dir(cfg) / "preprocessed"
    )
    user_values = (
        parse_user_conf(cfg.user_conf, spec.config_key(scenario), scenario.loadgen)
        if cfg.user_conf
        else {}
    )
    if cfg.audit_config is not None and not cfg.audit_config.is_file():
        raise ConfigError(f"audit config {cfg.audit_config} does not exist", "check the path")
    audit_text = _audit_text(cfg, spec)
    probe, round_ = _round(cfg)  # also: LoadGen missing -> ConfigError with the fix
    no_interactive = interactive_latencies(spec.checker_name, round_) is None
    if scenario == Scenario.INTERACTIVE and no_interactive:
        raise ConfigError(
            f"round {round_} (mlcommons-loadgen {probe['loadgen_version']}) has no Interactive "
            f"scenario for {spec.id}",
            "run --scenario Server, or install a LoadGen release of a round that has it "
            "(docs/rounds.md)",
        )
    check_out_dir(cfg.out)  # a path through a file, read-only, full: say so before the run
    if cfg.native_issue == "on":  # fail now, not after the worker has built and warmed up
        from inferlab.loadgen.native import native_sut_available

        ok, why = native_sut_available()
        if not ok:
            raise UnsupportedError(
                f"native_issue=on, but the native issue queue cannot be used: {why}",
                "install a C++ compiler (g++), or use --set native_issue=auto",
            )
    if model_path is not None:  # a truncated or wrong file: refused before a run directory
        precheck_model_file(
            model_path,
            variant.fmt,
            fix=f"check the download (`inferlab prepare {spec.id}` verifies it) or pass "
            "--model-path to the right file",
        )
    checkpoint = identify_checkpoint(
        spec.id, variant.name, model_path, cache_dir=default_cache_dir(cfg)
    )  # the official file, or not: its checksum against the sources table
    return {
        "checkpoint": checkpoint,
        "spec": spec,
        "scenario": scenario,
        "variant": variant,
        "task": task,
        "dataset": dataset,
        "dataset_path": dataset_path,
        "model_path": model_path,
        "verified": verified,
        "user_values": user_values,
        "loadgen_version": probe["loadgen_version"],
        "round": round_,
        "probe": probe,
        "audit_text": audit_text,
    }


def _round(cfg: RunConfig) -> tuple[dict[str, Any], str]:
    """The round the installed LoadGen serves, from the seeds it applies (docs/rounds.md); a
    different ``--set round=`` is refused: seeds cannot be changed by configuration."""
    from inferlab.loadgen.probe import as_dict, probe_round, resolve_round

    probe = probe_round()
    round_ = resolve_round(probe)
    if cfg.round is not None and cfg.round != round_:
        raise ConfigError(
            f"round {cfg.round} asked for, but the installed mlcommons-loadgen "
            f"{probe.loadgen_version} serves {round_} (its seeds decide, and user.conf cannot "
            "change them)",
            f"install a LoadGen release of {cfg.round} (docs/rounds.md), or drop the round",
        )
    return as_dict(probe), round_


def _audit_text(cfg: RunConfig, spec: BenchmarkSpec) -> str | None:
    """The audit.config of ``--audit TEST0x`` (compliance tests run in performance mode)."""
    if cfg.audit is None:
        return None
    if cfg.audit_config is not None:
        raise ConfigError(
            f"--audit {cfg.audit} and --audit-config both given",
            "use --audit for the official tests, --audit-config for a file of your own",
        )
    if cfg.mode != Mode.PERFORMANCE.value:
        raise ConfigError(
            f"--audit {cfg.audit} runs in performance mode (LoadGen samples the accuracy log "
            "itself)",
            "drop --mode accuracy",
        )
    from inferlab.submission.compliance import audit_config_text

    return audit_config_text(cfg.audit, spec.loadgen_name)


def loadgen_layers(
    cfg: RunConfig,
    spec: BenchmarkSpec,
    scenario: Scenario,
    total: int,
    calibration: dict[str, Any] | None,
    user_values: dict[str, float],
) -> list[Layer]:
    layers: list[Layer] = []
    if not spec.in_mlperf_conf and scenario.server_like and spec.server_latency_ms:
        note = f"{spec.id}'s Server bound (mlperf.conf has no {spec.loadgen_name} keys)"
        layers.append(
            Layer("benchmark", {"target_latency": spec.server_latency_ms}, {"target_latency": note})
        )
    if calibration:
        hints, notes = loadgen_hints(calibration, scenario.loadgen, cfg.server_qps_fraction)
        layers.append(Layer("calibration", hints, notes))
    if cfg.quick:
        q = spec.quick[scenario]
        layers.append(
            Layer(
                "quick",
                {"min_query_count": q.min_query_count, "min_duration": q.min_duration_ms},
                {
                    "min_query_count": "quick mode (docs/quick-mode.md)",
                    "min_duration": "quick mode (docs/quick-mode.md)",
                },
            )
        )
    if total < spec.performance_sample_count:
        layers.append(
            Layer(
                "harness",
                {"performance_sample_count_override": total},
                {
                    "performance_sample_count_override": (
                        f"QSL has {total} samples, fewer than the benchmark's "
                        f"{spec.performance_sample_count}"
                    )
                },
            )
        )
    if user_values:
        layers.append(Layer("user.conf", user_values))
    if cfg.loadgen:
        layers.append(Layer("--set", dict(cfg.loadgen)))
    return layers


def needs_calibration(cfg: RunConfig, user_values: dict[str, float]) -> bool:
    """Calibrate only when its key would be used: not when the user set it, and in accuracy
    mode only for Server (whose offered load sets the schedule; the others issue every sample)."""
    scenario = loadgen_scenario(cfg.scenario)  # Interactive calibrates as the Server it runs as
    if not cfg.calibrate or (cfg.mode == Mode.ACCURACY.value and scenario != "Server"):
        return False
    key = "target_qps" if scenario in ("Offline", "Server") else "target_latency"
    return key not in cfg.loadgen and key not in user_values


def run(cfg: RunConfig) -> RunResult:
    """Run one benchmark/scenario/mode; writes and returns its result (result.json)."""
    t0 = time.perf_counter()
    p = prepare(cfg)
    spec: BenchmarkSpec = p["spec"]
    scenario: Scenario = p["scenario"]
    dataset = p["dataset"]
    batch_size, batch_source = resolve_batch_size(
        spec,
        scenario,
        requested=cfg.batch_size,
        device=cfg.device,
        rule=cfg.backend_options.batch_rule,
    )
    system = capture_system(backend=cfg.backend)  # a bad INFERLAB_SYSTEM_JSON fails here
    started = now_iso()
    run_dir = create_run_dir(cfg.out, spec.id, scenario.value, cfg.audit or cfg.mode).resolve()
    reserve = ResultReserve(run_dir)  # room for result.json should the disk fill mid-run
    sampler = TelemetrySampler(run_dir / "telemetry.csv", counted_gpus=gpu_indices_for(cfg.device))
    log.info("run directory: %s", run_dir)
    composed: dict[str, ComposedConf] = {}
    audit_path: Path | None = None

    def write_conf(ready: Ready) -> Start:
        nonlocal audit_path
        layers = loadgen_layers(
            cfg, spec, scenario, dataset.total_count, ready.calibration, p["user_values"]
        )
        conf = compose(spec.config_key(scenario), scenario.loadgen, layers)
        composed["conf"] = conf
        atomic_write_text(run_dir / "user.conf", conf.render())
        if cfg.audit_config is not None:
            audit_path = run_dir / "audit.config"
            shutil.copyfile(cfg.audit_config, audit_path)
        elif p["audit_text"] is not None:  # LoadGen reads it from the worker's cwd, the run dir
            audit_path = run_dir / "audit.config"
            atomic_write_text(audit_path, p["audit_text"])
        sampler.start()  # the worker starts the LoadGen test on the message returned here
        return Start(user_conf=run_dir / "user.conf", audit_config=audit_path)

    paths = {"dataset": p["dataset_path"], "model": p["model_path"]}
    plan = job_for(
        cfg,
        p["variant"].name,
        paths,
        batch_size,
        calibrate=needs_calibration(cfg, p["user_values"]),
    )
    with stop_signals():  # SIGTERM/SIGHUP stop the run as Ctrl-C does
        try:
            out = run_worker(run_dir, plan, write_conf, watchdog_s=cfg.watchdog_s)
        finally:
            telemetry = sampler.stop()

        ready, done = out.ready, out.done
        timings = {
            **out.timings,
            **(ready.timings if ready else {}),
            **(done.timings if done else {}),
        }
        fin = Finished()
        try:
            if out.interrupted:
                fin.status = "interrupted"
                why = signal_name(out.stop_signal or signal.SIGINT)
                fin.error = ErrorInfo(kind="interrupted", message=f"stopped by {why}")
            elif done is None:
                kind, message = describe_failure(out)
                fin.error = ErrorInfo(kind=kind, message=message)
            else:
                finish(fin, cfg, p, run_dir, with_check(ready, p["checkpoint"]))
        except InferlabError as exc:
            fin.status = "failed"
            fin.error = ErrorInfo(kind=type(exc).__name__, message=str(exc))
        except KeyboardInterrupt as exc:  # parsing logs / evaluating accuracy: the test had ended
            out.interrupted = True
            out.stop_signal = signum_of(exc)
            fin.status = "interrupted"
            fin.error = ErrorInfo(
                kind="interrupted",
                message=f"stopped by {signal_name(out.stop_signal)} after the test",
            )
    # a second Ctrl-C (or SIGTERM) while the result is written is said and obeyed afterwards
    with deferred_signals("result.json") as late:
        if fin.accuracy_eval_s is not None:
            timings["accuracy_eval_s"] = fin.accuracy_eval_s
        counts = fin.result.counts if fin.result is not None else None
        provenance = composed["conf"].provenance() if composed else {}
        result = RunResult(
            status=fin.status,
            inferlab_version=__version__,
            run_dir=run_dir,
            started_at=started,
            benchmark=BenchmarkInfo(
                id=spec.id,
                loadgen_name=spec.loadgen_name,
                checker_name=spec.checker_name,
                variant=p["variant"].__dict__,
            ),
            scenario=scenario.value,
            mode=cfg.mode,
            config=cfg.model_dump(mode="json"),
            round=fin.round or p["round"],
            dataset=dataset.describe(),
            model=with_check(ready, p["checkpoint"]),
            backend=ready.backend if ready else None,
            calibration=ready.calibration if ready else None,
            batching={
                **(ready.batching if ready else {}),
                "max_batch_source": batch_source,
                "loop_threads": cfg.resolved_loop_threads,
                "max_inflight_batches": cfg.resolved_max_inflight_batches,
            },
            sample_store=ready.sample_store if ready else None,
            replicas=replica_figures(done.replicas if done else None),
            data_checks=p["verified"],
            environment=environment.capture(),
            loadgen=LoadgenInfo(
                version=p["loadgen_version"],
                user_conf="user.conf" if composed else None,
                keys={k: LoadgenKey.model_validate(v) for k, v in provenance.items()},
                audit_config=str(cfg.audit_config) if cfg.audit_config else None,
                audit_applied=fin.audit_applied,
                trace_kept=bool(cfg.trace),
                probe=p["probe"],
                config_load=done.config_load if done else None,
                # "native" (C++ SUT, no GIL per sample) or "python" (a callback per query)
                issue_path=done.issue_path if done else None,
                issue_path_detail=done.issue_path_detail if done else None,
                **fin.loadgen,
            ),
            audit=Audit(test=cfg.audit, applied=fin.audit_applied) if cfg.audit else None,
            result=fin.result,
            accuracy=fin.accuracy,
            worker=WorkerInfo(pid=out.pid, exit_code=out.exit_code),
            timings=timings,
            telemetry=with_samples(telemetry, counts.samples if counts else None),
            system=system,
            error=fin.error,
        )
        result = with_disk_note(result, run_dir)  # a full disk: said with the failure
        flags = flags_section(cfg, spec, result)
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        result = result.model_copy(
            update={"flags": flags, "finished_at": now_iso(), "timings": timings}
        )
        try:
            write_metrics(run_dir, result)
        except Exception as exc:  # metrics are derived data: never lose the result for them
            log.warning("metrics.json/metrics.csv not written: %s", exc)
        stored = result.to_json()
        # written last: marks the run complete (on a full disk, in the room kept for it)
        if reserve.write_result(run_dir / "result.json", stored):
            log.warning("the disk is full: result.json was written in the room kept for it")
    stop = out.stop_signal if out.interrupted else late.first
    if out.interrupted or stop is not None:
        signum = stop or int(signal.SIGINT)
        raise RunInterrupted(
            f"run interrupted ({signal_name(signum)}); result.json (status {result.status}) and "
            f"partial outputs kept in {run_dir}",
            signum=signum,
            run_dir=run_dir,
        )
    return RunResult.model_validate(stored)  # as a reader of result.json gets it
