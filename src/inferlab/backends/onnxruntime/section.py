"""The ONNX Runtime backend's section of RunConfig (``--backend onnxruntime``) and its entry in
the backend table. Importing this module does not import onnxruntime."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from inferlab.backends.base import BackendSection, BuildContext, StaticContext
from inferlab.backends.onnxruntime.config import OrtBackendConfig
from inferlab.core.errors import UnsupportedError

if TYPE_CHECKING:
    from inferlab.core.backend import Backend
    from inferlab.core.task import ModelFacts


class OrtSection(BackendSection):
    """``--backend onnxruntime``: runs the benchmark's ONNX model file (one device; threads are
    the run's ``threads``)."""

    name: Literal["onnxruntime"] = Field(default="onnxruntime", exclude=True)

    multi_device: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ("onnxruntime",)
    frameworks: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = (
        ("ONNX Runtime", ("onnxruntime", "onnxruntime-gpu")),
    )

    def check_static(self, ctx: StaticContext) -> None:
        OrtBackendConfig(device=ctx.device, threads=ctx.threads).check_static()
        if ctx.dtype != "fp32":
            raise UnsupportedError(
                f"--dtype {ctx.dtype} does not apply to onnxruntime: an ONNX graph runs in the "
                "dtypes stored in the file",
                "drop --dtype (or export a 16-bit/quantized model file)",
            )

    def build(self, ctx: BuildContext) -> tuple[Backend, ModelFacts]:
        import hashlib

        from inferlab.backends.onnxruntime.backend import OrtBackend
        from inferlab.core.task import ModelFacts

        model_path = ctx.model_path
        if model_path is None:
            raise AssertionError("prepare() guarantees an ONNX model path")
        ocfg = OrtBackendConfig(device=ctx.device, max_batch=ctx.max_batch, threads=ctx.threads)
        backend = OrtBackend(model_path, ocfg, ctx.task.onnx_io(ctx.variant))
        digest = hashlib.sha256()
        with model_path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return backend, ModelFacts(
            random_weights=False,
            path=str(model_path),
            sha256=digest.hexdigest(),
            size_bytes=model_path.stat().st_size,
        )
