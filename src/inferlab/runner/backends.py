"""Composition of a run's dataset and backend replicas, shared by the supervisor's preflight and
the worker. What differs between backends is asked of the backend's config section
(``cfg.backend_options``, :mod:`inferlab.backends`), never of its name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferlab.backends.base import BuildContext
from inferlab.backends.registry import section_classes
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


def refuse_several_devices(cfg: RunConfig) -> None:
    """UnsupportedError when ``--device`` names several devices and the backend runs one."""
    from inferlab.config.devices import parse_devices

    if cfg.backend_options.multi_device or not parse_devices(cfg.device).multi:
        return
    able = [c.model_fields["name"].default for c in section_classes() if c.multi_device]
    raise UnsupportedError(
        f"--device {cfg.device}: several devices are supported with the "
        f"{' and '.join(able)} backends only",
        f"use one --device with --backend {cfg.backend}",
    )


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

    section = cfg.backend_options
    devs = parse_devices(cfg.device)
    available = section.cuda_device_count() if devs.kind == "cuda" else None
    devices = devs.replicas(available)
    labels = devs.labels(available)
    refuse_several_devices(cfg)
    choice = section.store_choice()
    want_device = choice == "device" or (choice == "auto" and devs.kind == "cuda")
    use_device_store = section.device_stores and want_device and supports_device_store(dataset)
    if choice == "device" and not use_device_store:
        raise UnsupportedError(
            f"sample_store=device needs a backend that keeps samples on the device and a "
            f"dataset with raw uint8 samples (this run: backend {cfg.backend}, "
            f"{type(dataset).__name__})",
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
            capacity = min(dataset.total_count, spec.performance_sample_count)
            store = section.device_store(backend, dataset, capacity)
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
    ctx = BuildContext(
        device=device or cfg.device,
        dtype=cfg.dtype,
        max_batch=batch_size,
        threads=cfg.threads,
        seed=cfg.seed,
        task=task,
        variant=variant,
        model_path=model_path,
        data_dir=cfg.data_dir,
        cache_dir=cache_dir,
        dataset=dataset,
    )
    return cfg.backend_options.build(ctx)


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
        preprocess_threads=cfg.preprocess_threads,
    )
