"""Settings of the PyTorch backend. Importing this module does not import torch."""

from __future__ import annotations

import re
from dataclasses import dataclass

from inferlab.core.errors import ConfigError, UnsupportedError

DTYPES: tuple[str, ...] = ("fp32", "fp16", "bf16")
_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class TorchBackendConfig:
    """Where and how the torch backend runs.

    ``device``: "cpu", "cuda" or "cuda:N"; ``dtype``: "fp32", "fp16" or "bf16";
    ``threads``: intra-op CPU threads (None: torch's default); ``channels_last``: NHWC memory
    format for 4-D inputs and the model's conv weights; ``compile``: wrap the model in
    ``torch.compile`` (dynamic shapes; the first batches of each new shape pay the compile).
    """

    device: str = "cpu"
    dtype: str = "fp32"
    max_batch: int = 1
    threads: int | None = None
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if not _DEVICE_RE.match(self.device):
            raise ConfigError(
                f"unknown torch device {self.device!r}",
                "use --device cpu, cuda or cuda:N (N = GPU index)",
            )
        if self.dtype not in DTYPES:
            raise ConfigError(
                f"unknown torch dtype {self.dtype!r}",
                f"use --dtype one of {', '.join(DTYPES)}",
            )
        if isinstance(self.max_batch, bool) or not isinstance(self.max_batch, int):
            raise ConfigError(
                f"max_batch must be an integer, got {self.max_batch!r}", "use e.g. max_batch: 32"
            )
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {self.max_batch}", "use max_batch >= 1")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ConfigError(
                f"threads must be a positive integer or unset, got {self.threads!r}",
                "use threads >= 1, or leave it unset for torch's default",
            )

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def check_static(self) -> None:
        """Checks that need no torch import (the supervisor runs them before a run starts)."""
        if not self.is_cuda and self.dtype == "fp16":
            # Many CPU kernels (conv among them) are missing or very slow in fp16.
            raise UnsupportedError(
                "dtype fp16 is not supported on CPU (torch's CPU fp16 kernels are partial/slow)",
                "use --dtype bf16 or fp32 on CPU, or --device cuda for fp16",
            )

    def check_runtime(self) -> None:
        """Check the settings against this machine (imports torch).

        Raises UnsupportedError for CUDA without a GPU or fp16 on CPU, ConfigError for a GPU
        index beyond the device count.
        """
        import torch

        if self.is_cuda:
            if not torch.cuda.is_available():
                raise UnsupportedError(
                    f"device {self.device!r} needs CUDA, but this torch "
                    f"({torch.__version__}) sees no CUDA GPU",
                    "use --device cpu, or install a CUDA build of torch on a GPU machine",
                )
            if ":" in self.device:
                index = int(self.device.split(":", 1)[1])
                count = torch.cuda.device_count()
                if index >= count:
                    raise ConfigError(
                        f"device {self.device!r} does not exist: this machine has {count} "
                        "CUDA device(s)",
                        f"use --device cuda:0 .. cuda:{count - 1}",
                    )
        else:
            self.check_static()
