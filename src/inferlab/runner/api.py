"""run(RunConfig) -> result dict: the composition root used by the CLI and the Python API."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from inferlab import __version__
from inferlab.config.loader import default_cache_dir
from inferlab.config.run_config import RunConfig
from inferlab.core import registry
from inferlab.core.clock import now_iso
from inferlab.core.errors import ConfigError, InferlabError, UnsupportedError
from inferlab.core.files import atomic_write_json, atomic_write_text
from inferlab.core.rounds import round_for_seeds
from inferlab.core.spec import OFFICIAL_FIELD, BenchmarkSpec, Mode, Scenario, resolve_batch_size
from inferlab.core.task import BenchmarkTask
from inferlab.loadgen.settings import ComposedConf, Layer, compose, parse_user_conf
from inferlab.results import environment
from inferlab.results.metrics import write_metrics
from inferlab.results.schema import SCHEMA_VERSION, accuracy_section, flags_section
from inferlab.results.store import create_run_dir
from inferlab.results.system import capture_system
from inferlab.runner.backends import build_dataset
from inferlab.runner.calibration import loadgen_hints
from inferlab.runner.supervisor import RunInterrupted, describe_failure, job_for, run_worker
from inferlab.runner.telemetry import TelemetrySampler, gpu_indices_for, with_samples

log = logging.getLogger(__name__)

NULL_BATCH = 256


def _check_torch(cfg: RunConfig) -> None:
    import importlib.util

    from inferlab.backends.torch.config import TorchBackendConfig

    if importlib.util.find_spec("torch") is None:
        raise UnsupportedError(
            "the torch backend needs PyTorch, which is not installed",
            "pip install 'inferlab[torch]' (or use --backend null)",
        )
    from inferlab.config.devices import parse_devices

    devs = parse_devices(cfg.device)
    for device in dict.fromkeys([devs.first] if devs.all_devices else devs.replicas()):
        TorchBackendConfig(
            device=device, dtype=cfg.dtype, threads=cfg.threads, mode=cfg.resolved_torch_mode
        ).check_static()


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
    if cfg.backend == "torch":
        _check_torch(cfg)
    if cfg.backend == "onnxruntime":
        from inferlab.backends.onnxruntime.config import OrtBackendConfig
        from inferlab.config.devices import parse_devices

        if parse_devices(cfg.device).multi:
            raise UnsupportedError(
                f"--device {cfg.device}: several devices are supported with the torch and null "
                "backends only",
                "use one --device with --backend onnxruntime",
            )
        OrtBackendConfig(device=cfg.device, threads=cfg.threads).check_static()
        if cfg.dtype != "fp32":
            raise UnsupportedError(
                f"--dtype {cfg.dtype} does not apply to onnxruntime: an ONNX graph runs in the "
                "dtypes stored in the file",
                "drop --dtype (or export a 16-bit/quantized model file)",
            )
    if variant.fmt == "random-init" and cfg.model_path is not None:
        raise ConfigError(
            f"the {variant.name} variant has random weights and no checkpoint format "
            f"({cfg.model_path} given)",
            "drop --model-path, or choose a variant that loads checkpoints (see `inferlab ls`)",
        )
    dataset_path = task.resolve_dataset_path(cfg.data_dir, cfg.dataset_path)
    model_path = None
    if cfg.backend != "null":
        # look for the official checkpoint under the data root only for variants that have one
        root = cfg.data_dir if variant.checkpoint_name else None
        model_path = task.resolve_model_path(root, cfg.model_path, variant)
        synthetic = spec.synthetic_variant
        if cfg.variant is None and synthetic and dataset_path is None and model_path is None:
            small = spec.variant(synthetic)
            if cfg.backend in small.backends:
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
        parse_user_conf(cfg.user_conf, spec.loadgen_name, scenario.value) if cfg.user_conf else {}
    )
    if cfg.audit_config is not None and not cfg.audit_config.is_file():
        raise ConfigError(f"audit config {cfg.audit_config} does not exist", "check the path")
    audit_text = _audit_text(cfg, spec)
    probe, round_ = _round(cfg)  # also: LoadGen missing -> ConfigError with the fix
    if cfg.native_issue == "on":  # fail now, not after the worker has built and warmed up
        from inferlab.loadgen.native import native_sut_available

        ok, why = native_sut_available()
        if not ok:
            raise UnsupportedError(
                f"native_issue=on, but the native issue queue cannot be used: {why}",
                "install a C++ compiler (g++), or use --set native_issue=auto",
            )
    return {
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
    if calibration:
        hints, notes = loadgen_hints(calibration, scenario.value, cfg.server_qps_fraction)
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
    if not cfg.calibrate or (cfg.mode == Mode.ACCURACY.value and cfg.scenario != "Server"):
        return False
    key = "target_qps" if cfg.scenario in ("Offline", "Server") else "target_latency"
    return key not in cfg.loadgen and key not in user_values


def run(cfg: RunConfig) -> dict[str, Any]:
    """Run one benchmark/scenario/mode; returns the stored result.json content."""
    t0 = time.perf_counter()
    p = prepare(cfg)
    spec: BenchmarkSpec = p["spec"]
    scenario: Scenario = p["scenario"]
    dataset = p["dataset"]
    if cfg.backend == "null" and cfg.batch_size is None:
        batch_size, batch_source = NULL_BATCH, "the null backend's default"
    else:
        batch_size, batch_source = resolve_batch_size(
            spec, scenario, requested=cfg.batch_size, backend=cfg.backend, device=cfg.device
        )
    system = capture_system(backend=cfg.backend)  # a bad INFERLAB_SYSTEM_JSON fails here
    started = now_iso()
    run_dir = create_run_dir(cfg.out, spec.id, scenario.value, cfg.audit or cfg.mode).resolve()
    sampler = TelemetrySampler(run_dir / "telemetry.csv", counted_gpus=gpu_indices_for(cfg.device))
    log.info("run directory: %s", run_dir)
    composed: dict[str, ComposedConf] = {}
    audit_path: Path | None = None

    def write_conf(ready: dict[str, Any]) -> dict[str, Any]:
        nonlocal audit_path
        layers = loadgen_layers(
            cfg, spec, scenario, dataset.total_count, ready.get("calibration"), p["user_values"]
        )
        conf = compose(spec.loadgen_name, scenario.value, layers)
        composed["conf"] = conf
        atomic_write_text(run_dir / "user.conf", conf.render())
        if cfg.audit_config is not None:
            audit_path = run_dir / "audit.config"
            shutil.copyfile(cfg.audit_config, audit_path)
        elif p["audit_text"] is not None:  # LoadGen reads it from the worker's cwd, the run dir
            audit_path = run_dir / "audit.config"
            atomic_write_text(audit_path, p["audit_text"])
        sampler.start()  # the worker starts the LoadGen test on the message returned here
        return {
            "user_conf": str(run_dir / "user.conf"),
            "audit_config": str(audit_path) if audit_path else None,
        }

    paths = {"dataset": p["dataset_path"], "model": p["model_path"]}
    job = job_for(cfg, paths, batch_size, calibrate=needs_calibration(cfg, p["user_values"]))
    job["variant"] = p["variant"].name
    try:
        out = run_worker(run_dir, job, write_conf, watchdog_s=cfg.watchdog_s)
    finally:
        telemetry = sampler.stop()

    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "status": "running",
        "inferlab_version": __version__,
        "run_dir": str(run_dir),
        "started_at": started,
        "finished_at": None,
        "benchmark": {
            "id": spec.id,
            "loadgen_name": spec.loadgen_name,
            "checker_name": spec.checker_name,
            "variant": p["variant"].__dict__,
        },
        "scenario": scenario.value,
        "mode": cfg.mode,
        "config": cfg.model_dump(mode="json"),
        "round": p["round"],
        "dataset": dataset.describe(),
        "model": (out.ready or {}).get("model"),
        "backend": (out.ready or {}).get("backend"),
        "calibration": (out.ready or {}).get("calibration"),
        "batching": {
            **((out.ready or {}).get("batching") or {}),
            "max_batch_source": batch_source,
            "loop_threads": cfg.resolved_loop_threads,
            "max_inflight_batches": cfg.resolved_max_inflight_batches,
        },
        "sample_store": (out.ready or {}).get("sample_store"),
        "replicas": replica_figures((out.done or {}).get("replicas")),
        "data_checks": p["verified"],
        "environment": environment.capture(),
        "loadgen": {
            "version": p["loadgen_version"],
            "user_conf": "user.conf" if composed else None,
            "keys": composed["conf"].provenance() if composed else {},
            "audit_config": str(cfg.audit_config) if cfg.audit_config else None,
            "audit_applied": False,
            "trace_kept": bool(cfg.trace),
            "probe": p["probe"],
            "config_load": (out.done or {}).get("config_load"),
            # "native" (C++ SUT, no GIL per sample) or "python" (a callback per query)
            "issue_path": (out.done or {}).get("issue_path"),
            "issue_path_detail": (out.done or {}).get("issue_path_detail"),
        },
        "audit": {"test": cfg.audit, "config": "audit.config", "applied": False}
        if cfg.audit
        else None,
        "result": None,
        "accuracy": None,
        "flags": None,
        "worker": {"pid": out.pid, "exit_code": out.exit_code},
        "timings": dict(out.timings),
        "telemetry": telemetry,
        "system": system,
        "error": None,
    }
    if (out.ready or {}).get("timings"):
        result["timings"].update(out.ready["timings"])  # type: ignore[index]
    if out.done and out.done.get("timings"):
        result["timings"].update(out.done["timings"])

    try:
        if out.interrupted:
            result["status"] = "interrupted"
            result["error"] = {"kind": "interrupted", "message": "stopped by Ctrl-C"}
        elif out.done is None:
            kind, message = describe_failure(out)
            result["status"] = "failed"
            result["error"] = {"kind": kind, "message": message}
        else:
            _finish(result, cfg, p, run_dir)
    except InferlabError as exc:
        result["status"] = "failed"
        result["error"] = {"kind": type(exc).__name__, "message": str(exc)}
    except KeyboardInterrupt:  # while parsing logs / evaluating accuracy: the test itself ended
        out.interrupted = True
        result["status"] = "interrupted"
        result["error"] = {"kind": "interrupted", "message": "stopped by Ctrl-C after the test"}
    counts = (result["result"] or {}).get("counts") or {}
    result["telemetry"] = with_samples(telemetry, counts.get("samples"))
    result["flags"] = flags_section(cfg, spec, result)
    result["finished_at"] = now_iso()
    result["timings"]["total_s"] = round(time.perf_counter() - t0, 3)
    try:
        write_metrics(run_dir, result)
    except Exception as exc:  # metrics are derived data: never lose the result for them
        log.warning("metrics.json/metrics.csv not written: %s", exc)
    atomic_write_json(run_dir / "result.json", result)  # written last: marks the run complete
    if out.interrupted:
        raise RunInterrupted(f"run interrupted; partial outputs kept in {run_dir}")
    return result


def replica_figures(stats: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Per-replica (per-device) figures from the worker: samples, batches, busy seconds, and
    each one's share of the samples. Diagnostic: LoadGen's figure is the run's result."""
    if not stats:
        return None
    total = sum(int(r.get("samples", 0)) for r in stats) or 1
    return [{**r, "share": round(int(r.get("samples", 0)) / total, 4)} for r in stats]


def _finish(result: dict[str, Any], cfg: RunConfig, p: dict[str, Any], run_dir: Path) -> None:
    from inferlab.loadgen.logs import outcome, parse_detail, parse_summary

    trace = run_dir / "mlperf_log_trace.json"
    if not cfg.trace and trace.is_file() and trace.stat().st_size == 0:
        trace.unlink()  # LoadGen creates the file even with the trace disabled
    detail_path = run_dir / "mlperf_log_detail.txt"
    summary_path = run_dir / "mlperf_log_summary.txt"
    if not detail_path.is_file():
        raise InferlabError("LoadGen wrote no mlperf_log_detail.txt", "see worker.log")
    detail = parse_detail(detail_path)
    summary = parse_summary(summary_path) if summary_path.is_file() else None
    oc = outcome(detail, summary)
    seeds = [
        oc.seeds.get(k) for k in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
    ]
    seed_round = round_for_seeds(*seeds) if None not in seeds else None  # type: ignore[arg-type]
    if seed_round and not cfg.round:
        result["round"] = seed_round
    field, unit, div = OFFICIAL_FIELD[p["scenario"]]
    value = oc.result  # None when LoadGen has no estimate (early stopping not met)
    audit_applied = any("Audit Config" in w for w in detail.warnings)
    result["loadgen"]["audit_applied"] = audit_applied
    if result.get("audit"):
        result["audit"]["applied"] = audit_applied
    result["loadgen"]["effective"] = oc.effective
    result["loadgen"]["results"] = {
        k: v
        for k, v in detail.values.items()
        if k.startswith(("result_", "early_stopping_latency"))
        and isinstance(v, int | float)
        and not isinstance(v, bool)
    }
    result["loadgen"]["seeds"] = {**oc.seeds, "round": seed_round}
    result["loadgen"]["errors"] = detail.errors
    result["loadgen"]["warnings"] = detail.warnings
    result["result"] = {
        "official_field": field,
        "value": (value / div) if isinstance(value, int | float) else None,
        "unit": unit,
        "raw_value": value,
        "validity": oc.validity,
        "invalid_reasons": oc.invalid_reasons,
        "loadgen_reason": oc.loadgen_reason,
        "early_stopping": oc.early_stopping,
        "constraints": oc.constraints,
        "counts": {
            "queries": oc.query_count,
            "samples": oc.sample_count,
            "duration_s": oc.duration_s,
        },
    }
    if cfg.mode == Mode.ACCURACY.value:
        t = time.perf_counter()
        result["accuracy"] = accuracy_section(cfg, p, run_dir, result)
        result["timings"]["accuracy_eval_s"] = round(time.perf_counter() - t, 3)
        result["status"] = "ok" if not detail.errors else "failed"
        if detail.errors:
            result["error"] = {"kind": "loadgen", "message": "; ".join(detail.errors[:3])}
    else:
        result["status"] = {"VALID": "ok", "INVALID": "invalid"}.get(oc.validity or "", "failed")
        if detail.errors:
            result["error"] = {"kind": "loadgen", "message": "; ".join(detail.errors[:3])}
    if result.get("audit") and not audit_applied:
        result["status"] = "failed"
        result["error"] = {
            "kind": "audit",
            "message": f"LoadGen did not apply the {cfg.audit} audit.config (see worker.log); "
            "the run cannot serve as a compliance test",
        }
