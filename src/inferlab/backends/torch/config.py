"""Settings of the PyTorch backend. Importing this module does not import torch."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal, get_args

from inferlab.core.errors import ConfigError, UnsupportedError

DTYPES: tuple[str, ...] = ("fp32", "fp16", "bf16", "tf32", "int8", "fp8")
TorchMode = Literal["eager", "compile", "max-autotune", "cudagraph"]
MODES: tuple[str, ...] = get_args(TorchMode)
COMPILE_MODES: tuple[str, ...] = ("compile", "max-autotune")
_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def default_graph_batches(max_batch: int) -> tuple[int, ...]:
    """Powers of two up to ``max_batch``, plus ``max_batch``: 1, 2, 4, ..., max_batch."""
    sizes = {max_batch}
    size = 1
    while size < max_batch:
        sizes.add(size)
        size *= 2
    return tuple(sorted(sizes))


@dataclass(frozen=True)
class TorchBackendConfig:
    """Where and how the torch backend runs.

    ``device``: "cpu", "cuda" or "cuda:N". ``dtype``: "fp32" (IEEE fp32 math: TF32 is switched
    off on CUDA), "tf32" (fp32 storage, TF32 tensor-core matmul/conv; CUDA only), "fp16" (CUDA
    only), "bf16", "int8" (on the CPU: PyTorch's post-training static quantization, eager only;
    on CUDA: int8 GEMMs for the pointwise convolutions, the rest bf16, see
    :mod:`inferlab.backends.torch.gemm8`) or "fp8" (fp8 e4m3 GEMMs for the pointwise
    convolutions, the rest bf16; CUDA compute capability >= 8.9, or the CPU for checking).
    Both 8-bit dtypes need calibration inputs. ``threads``: intra-op CPU threads (None:
    torch's default).
    ``channels_last``: NHWC memory format for 4-D inputs and the model's conv weights.
    ``fold_bn``: fold BatchNorm into the preceding convs (:mod:`inferlab.models.fuse`).

    ``mode``: "eager"; "compile" (``torch.compile``, dynamic shapes: the first batches pay the
    compile); "max-autotune" (``torch.compile(mode="max-autotune")``, longer compile, autotuned
    kernels, inductor's CUDA graphs on GPU); "cudagraph" (eager kernels captured in one CUDA
    graph per batch size in ``cudagraph_batches``; CUDA only). ``compile`` is the legacy switch:
    ``compile=True`` means mode "compile"; after construction it is True exactly for the
    compile modes (so ``dataclasses.replace(cfg, mode="eager")`` needs ``compile=False`` too).

    ``compile_cache_dir``: inductor's on-disk caches (FX graph, AOT autograd, autotuning) for
    the compile modes, so the next worker process with the same directory skips most of the
    compile. ``cudagraph_batches``: batch sizes to capture (mode "cudagraph" only, each <=
    ``max_batch``); None means :func:`default_graph_batches`.
    """

    device: str = "cpu"
    dtype: str = "fp32"
    max_batch: int = 1
    threads: int | None = None
    channels_last: bool = False
    compile: bool = False
    mode: str = "eager"
    fold_bn: bool = False
    compile_cache_dir: str | None = None
    cudagraph_batches: tuple[int, ...] | None = None

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
        if not _is_int(self.max_batch):
            raise ConfigError(
                f"max_batch must be an integer, got {self.max_batch!r}", "use e.g. max_batch: 32"
            )
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {self.max_batch}", "use max_batch >= 1")
        if self.threads is not None and (not _is_int(self.threads) or self.threads < 1):
            raise ConfigError(
                f"threads must be a positive integer or unset, got {self.threads!r}",
                "use threads >= 1, or leave it unset for torch's default",
            )
        for name in ("channels_last", "compile", "fold_bn"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"{name} must be true or false, got {getattr(self, name)!r}",
                    f"use {name}: true or {name}: false",
                )
        self._check_mode()
        self._check_cache_dir()
        self._check_graph_batches()

    def _check_mode(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"unknown torch backend mode {self.mode!r}", f"use --mode one of {', '.join(MODES)}"
            )
        if self.compile and self.mode == "cudagraph":
            raise ConfigError(
                "compile=True conflicts with mode 'cudagraph' (which captures eager kernels)",
                "drop compile, or use mode max-autotune for compiled kernels in CUDA graphs",
            )
        if self.compile and self.mode == "eager":
            object.__setattr__(self, "mode", "compile")
        object.__setattr__(self, "compile", self.mode in COMPILE_MODES)

    def _check_cache_dir(self) -> None:
        path = self.compile_cache_dir
        if path is None:
            return
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(
                f"compile_cache_dir must be a directory path or unset, got {path!r}",
                "use e.g. compile_cache_dir: ~/.cache/inferlab/inductor",
            )
        object.__setattr__(self, "compile_cache_dir", os.path.expanduser(path))

    def _check_graph_batches(self) -> None:
        sizes = self.cudagraph_batches
        if sizes is None:
            return
        fix = f"use batch sizes between 1 and max_batch ({self.max_batch}), e.g. 1,8,32"
        if self.mode != "cudagraph":
            raise ConfigError(
                f"cudagraph_batches only applies to mode cudagraph (mode is {self.mode!r})",
                "drop cudagraph_batches, or use mode cudagraph",
            )
        if isinstance(sizes, str | bytes) or not hasattr(sizes, "__iter__"):
            raise ConfigError(f"cudagraph_batches must be a list of sizes, got {sizes!r}", fix)
        values = list(sizes)
        if not values or not all(_is_int(v) and 1 <= v <= self.max_batch for v in values):
            raise ConfigError(
                f"cudagraph_batches must be batch sizes in [1, {self.max_batch}], got {values!r}",
                fix,
            )
        object.__setattr__(self, "cudagraph_batches", tuple(sorted(set(values))))

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def gemm8_format(self) -> str | None:
        """The 8-bit GEMM format of :mod:`~inferlab.backends.torch.gemm8` this config runs
        ("fp8", or "int8" on CUDA), or None (int8 on the CPU is PyTorch's own quantization)."""
        if self.dtype == "fp8" or (self.dtype == "int8" and self.is_cuda):
            return self.dtype
        return None

    @property
    def graph_batches(self) -> tuple[int, ...]:
        """The batch sizes mode "cudagraph" captures (sorted, unique)."""
        if self.cudagraph_batches is not None:
            return self.cudagraph_batches
        return default_graph_batches(self.max_batch)

    def check_static(self) -> None:
        """Checks that need no torch import (the supervisor runs them before a run starts)."""
        if self.dtype == "int8" and not self.is_cuda and self.mode != "eager":
            raise ConfigError(
                f"dtype int8 on the CPU runs in mode eager only (got {self.mode})",
                "drop --torch-mode/--compile with --dtype int8 on the CPU",
            )
        if self.is_cuda:
            return
        if self.dtype == "fp16":
            # Many CPU kernels (conv among them) are missing or very slow in fp16.
            raise UnsupportedError(
                "dtype fp16 is not supported on CPU (torch's CPU fp16 kernels are partial/slow)",
                "use --dtype bf16 or fp32 on CPU, or --device cuda for fp16",
            )
        if self.dtype == "tf32":
            raise UnsupportedError(
                "dtype tf32 needs a CUDA GPU (TF32 is a tensor-core math mode of NVIDIA GPUs)",
                "use --dtype fp32 or bf16 on CPU, or --device cuda for tf32",
            )
        if self.mode == "cudagraph":
            raise UnsupportedError(
                "mode cudagraph needs a CUDA GPU (it captures CUDA graphs)",
                "use --device cuda or mode eager/compile",
            )

    def check_runtime(self) -> None:
        """Check the settings against this machine (imports torch).

        Raises UnsupportedError for CUDA without a GPU and for fp16/tf32/cudagraph on CPU,
        ConfigError for a GPU index beyond the device count.
        """
        self.check_static()
        if not self.is_cuda:
            return
        import torch

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


def cuda_visible_or_raise(device: str) -> None:
    """What can be told of CUDA without importing torch: a CPU-only torch build (its version
    says "+cpu"), or no GPU driver device on this machine. The worker checks the rest."""
    import glob
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return  # the backend's own check names the missing torch
    fix = "use --device cpu, or install a CUDA build of torch on a GPU machine"
    if "+cpu" in version:
        raise UnsupportedError(
            f"device {device!r} needs CUDA, but this torch ({version}) is a CPU-only build", fix
        )
    if not any(glob.glob(p) for p in ("/dev/nvidia[0-9]*", "/dev/kfd", "/dev/dxg")):
        raise UnsupportedError(
            f"device {device!r} needs CUDA, but this machine has no GPU driver device "
            "(/dev/nvidia*, /dev/kfd or /dev/dxg)",
            fix,
        )
