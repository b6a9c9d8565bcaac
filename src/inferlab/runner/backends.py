"""Composition of a run's dataset and backend (the one place that branches on the backend's
name), shared by the supervisor's preflight and the worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferlab.config.run_config import RunConfig
from inferlab.core.backend import Backend
from inferlab.core.dataset import Dataset
from inferlab.core.errors import UnsupportedError
from inferlab.core.spec import BenchmarkSpec, Variant
from inferlab.core.task import BenchmarkTask, ModelFacts


@dataclass
class Replica:
    """One model copy on one device, with the store its batches are gathered from."""

    label: str  # cuda:1, cpu, cpu:0 (CPU replicas)
    backend: Backend
    store: Any  # a SampleStore (inferlab.core.sample_store)
    device_inputs: bool  # store.predict(backend, indices) runs the batch on the device


def build_replicas(
    cfg: RunConfig,
    spec: BenchmarkSpec,
    variant: Variant,
    task: BenchmarkTask,
    model_path: Path | None,
    batch_size: int,
    dataset: Dataset,
    *,
    cache_dir: Path | None = None,
) -> tuple[list[Replica], ModelFacts]:
    """One replica per device of ``--device`` (cuda:0,1 / cuda:all / cpu:0,1), each with its
    sample store: device memory when chosen (``sample_store``), else the shared host store."""
    from inferlab.config.devices import parse_devices
    from inferlab.core.sample_store import HostStore, supports_device_store

    devs = parse_devices(cfg.device)
    available = None
    if devs.kind == "cuda" and cfg.backend == "torch":
        import torch

        available = torch.cuda.device_count()
    devices = devs.replicas(available)
    labels = devs.labels(available)
    if len(devices) > 1 and cfg.backend == "onnxruntime":
        raise UnsupportedError(
            "several devices are supported with the torch and null backends only",
            "use one --device with --backend onnxruntime",
        )
    want_device = cfg.sample_store == "device" or (
        cfg.sample_store == "auto" and devs.kind == "cuda"
    )
    use_device_store = cfg.backend == "torch" and want_device and supports_device_store(dataset)
    if cfg.sample_store == "device" and not use_device_store:
        raise UnsupportedError(
            f"sample_store=device needs the torch backend and a dataset with raw uint8 samples "
            f"(this run: backend {cfg.backend}, {type(dataset).__name__})",
            "use --set sample_store=host (or auto)",
        )
    host = HostStore(dataset)
    replicas: list[Replica] = []
    facts: ModelFacts | None = None
    for device, label in zip(devices, labels, strict=True):
        backend, facts = build_backend(
            cfg,
            spec,
            variant,
            task,
            model_path,
            batch_size,
            device=device,
            cache_dir=cache_dir,
            dataset=dataset,
        )
        store: Any = host
        if use_device_store:
            from inferlab.backends.torch.store import DeviceStore

            tb: Any = backend
            store = DeviceStore(
                dataset,
                tb.device,
                tb.dtype,
                channels_last=bool(tb.config.channels_last),
                capacity=min(dataset.total_count, spec.performance_sample_count),
            )
        replicas.append(Replica(label, backend, store, use_device_store))
    assert facts is not None
    return replicas, facts


def build_backend(
    cfg: RunConfig,
    spec: BenchmarkSpec,
    variant: Variant,
    task: BenchmarkTask,
    model_path: Path | None,
    batch_size: int,
    *,
    device: str | None = None,
    cache_dir: Path | None = None,
    dataset: Dataset | None = None,
) -> tuple[Backend, ModelFacts]:
    """The backend of one replica on ``device`` (default: ``cfg.device``, a single device)."""
    device = device or cfg.device
    if cfg.backend == "null":
        from inferlab.backends.null.backend import NullBackend

        null = NullBackend(
            output_shape=task.null_output_shape(variant),
            max_batch=batch_size,
            service_time_s=cfg.null_service_time_ms / 1000.0,
        )
        return null, ModelFacts(random_weights=True, extra={"null_backend": True})
    if cfg.backend == "torch":
        from inferlab.backends.torch.backend import TorchBackend
        from inferlab.backends.torch.config import TorchBackendConfig

        on_cuda = device.startswith("cuda")
        compile_dir = cfg.compile_cache_dir or (
            cache_dir / "torch-compile" if cache_dir is not None else None
        )
        tcfg = TorchBackendConfig(
            device=device,
            dtype=cfg.dtype,
            max_batch=batch_size,
            threads=cfg.threads,
            mode=cfg.resolved_torch_mode,
            fold_bn=on_cuda if cfg.fold_bn is None else cfg.fold_bn,
            channels_last=(
                on_cuda and task.image_inputs if cfg.channels_last is None else cfg.channels_last
            ),
            compile_cache_dir=str(compile_dir) if compile_dir is not None else None,
        )
        model, facts = task.build_model(variant, model_path, seed=cfg.seed)
        calibration = None
        if cfg.dtype in ("int8", "fp8"):
            if dataset is None:
                raise AssertionError(f"{cfg.dtype} calibration needs the run's dataset")
            calibration = task.calibration_set(dataset, cfg.data_dir, batch_size)
        backend = TorchBackend(
            model, tcfg, random_weights=facts.random_weights, calibration=calibration
        )
        return backend, facts
    if cfg.backend == "onnxruntime":
        import hashlib

        from inferlab.backends.onnxruntime.backend import OrtBackend
        from inferlab.backends.onnxruntime.config import OrtBackendConfig

        if model_path is None:
            raise AssertionError("prepare() guarantees an ONNX model path")
        ocfg = OrtBackendConfig(device=device, max_batch=batch_size, threads=cfg.threads)
        io = task.onnx_io(variant)
        ort_backend = OrtBackend(model_path, ocfg, io)
        digest = hashlib.sha256()
        with model_path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return ort_backend, ModelFacts(
            random_weights=False,
            path=str(model_path),
            sha256=digest.hexdigest(),
            size_bytes=model_path.stat().st_size,
        )
    raise AssertionError(cfg.backend)


def build_dataset(
    cfg: RunConfig,
    task: BenchmarkTask,
    variant: Variant,
    path: Path | None,
    *,
    cache_dir: Path | None,
) -> Dataset:
    """The QSL: real data at `path`, or the benchmark's synthetic default when it is None."""
    return task.make_dataset(
        path,
        count=cfg.count,
        seed=cfg.seed,
        cache_dir=cache_dir,
        variant=variant,
        decoder=cfg.decoder,
        synthetic_count=cfg.synthetic_count,
    )
