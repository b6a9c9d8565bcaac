"""Settings of the ONNX Runtime backend. Importing this module does not import onnxruntime."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

from inferlab.core.errors import ConfigError, UnsupportedError

_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class OrtBackendConfig:
    """Where ONNX Runtime runs: ``device`` "cpu" (CPU execution provider) or "cuda[:N]" (CUDA
    execution provider, where the installed onnxruntime has it); ``threads``: intra-op threads
    (None: ORT's default); ``max_batch``: larger batches run in chunks. The graph's own dtypes
    apply: an fp32 model file runs in fp32."""

    device: str = "cpu"
    max_batch: int = 1
    threads: int | None = None

    def __post_init__(self) -> None:
        if not _DEVICE_RE.match(self.device):
            raise ConfigError(
                f"unknown onnxruntime device {self.device!r}", "use --device cpu, cuda or cuda:N"
            )
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {self.max_batch}", "use >= 1")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}", "use threads >= 1")

    @property
    def providers(self) -> list[str]:
        if self.device.startswith("cuda"):
            return ["CUDAExecutionProvider"]
        return ["CPUExecutionProvider"]

    def check_static(self) -> None:
        """Checks that need no model: onnxruntime installed, the provider present."""
        if importlib.util.find_spec("onnxruntime") is None:
            raise UnsupportedError(
                "the onnxruntime backend needs the onnxruntime package, which is not installed",
                "pip install 'inferlab[onnx]' (or onnxruntime-gpu for CUDA)",
            )
        import onnxruntime as ort

        have = ort.get_available_providers()
        for p in self.providers:
            if p not in have:
                raise UnsupportedError(
                    f"this onnxruntime ({ort.__version__}) has no {p} (it has {', '.join(have)})",
                    "use --device cpu, or install onnxruntime-gpu matching your CUDA",
                )
