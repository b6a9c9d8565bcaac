"""Composition of a run's dataset and backend (the one place that branches on the backend's
name), shared by the supervisor's preflight and the worker."""

from __future__ import annotations

from pathlib import Path

from inferlab.config.run_config import RunConfig
from inferlab.core.backend import Backend
from inferlab.core.dataset import Dataset
from inferlab.core.spec import BenchmarkSpec, Variant
from inferlab.core.task import BenchmarkTask, ModelFacts


def build_backend(
    cfg: RunConfig,
    spec: BenchmarkSpec,
    variant: Variant,
    task: BenchmarkTask,
    model_path: Path | None,
    batch_size: int,
) -> tuple[Backend, ModelFacts]:
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

        tcfg = TorchBackendConfig(
            device=cfg.device,
            dtype=cfg.dtype,
            max_batch=batch_size,
            threads=cfg.threads,
            compile=cfg.compile,
        )
        model, facts = task.build_model(variant, model_path, seed=cfg.seed)
        return TorchBackend(model, tcfg, random_weights=facts.random_weights), facts
    if cfg.backend == "onnxruntime":
        import hashlib

        from inferlab.backends.onnxruntime.backend import OrtBackend
        from inferlab.backends.onnxruntime.config import OrtBackendConfig

        if model_path is None:
            raise AssertionError("prepare() guarantees an ONNX model path")
        ocfg = OrtBackendConfig(device=cfg.device, max_batch=batch_size, threads=cfg.threads)
        io = task.onnx_io(variant)  # type: ignore[attr-defined]
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
