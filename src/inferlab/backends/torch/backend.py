"""PyTorch backend: runs an ``nn.Module`` in inference mode on CPU or CUDA."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from inferlab.backends.torch.config import TorchBackendConfig
from inferlab.core.backend import Backend, Capabilities, in_chunks
from inferlab.core.errors import ModelError

log = logging.getLogger(__name__)

TORCH_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


class TorchBackend(Backend):
    """Runs ``model`` on batches of NCHW float32 numpy inputs; returns float32 numpy outputs.

    The model is moved (in place) to the configured device and dtype and put in eval mode.
    Floating inputs are cast to the compute dtype on the device; integer inputs (token ids)
    are passed through unchanged. Batches larger than ``max_batch`` are run in chunks.
    """

    def __init__(
        self, model: torch.nn.Module, config: TorchBackendConfig, *, random_weights: bool
    ) -> None:
        config.check_runtime()
        self.config = config
        self.dtype = TORCH_DTYPES[config.dtype]
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        model = model.to(device=self.device, dtype=self.dtype)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        model = model.eval()
        self.n_parameters = sum(p.numel() for p in model.parameters())
        if config.compile:
            model = torch.compile(model, dynamic=True)  # type: ignore[assignment]
        self.model: torch.nn.Module | None = model
        self.capabilities = Capabilities(
            device=str(self.device),
            max_batch=config.max_batch,
            preferred_batch=config.max_batch,
            needs_inputs=True,
            random_weights=random_weights,
        )
        log.info(
            "torch backend: %s on %s, %s, max_batch %d, %d threads%s",
            type(model).__name__,
            self.device,
            config.dtype,
            config.max_batch,
            torch.get_num_threads(),
            " (random weights)" if random_weights else "",
        )

    def _to_device(self, inputs: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(inputs))
        if tensor.is_floating_point():
            tensor = tensor.to(device=self.device, dtype=self.dtype)
        else:
            tensor = tensor.to(device=self.device)
        if self.config.channels_last and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def _run(self, model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
        out = model(self._to_device(inputs))
        if not isinstance(out, torch.Tensor):
            raise ModelError(
                f"the model returned a {type(out).__name__}, the torch backend needs one tensor",
                "wrap the model so that forward() returns a single tensor",
            )
        return out.detach().to(device="cpu", dtype=torch.float32).numpy()

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        model = self.model
        if model is None:
            raise RuntimeError("TorchBackend.predict called after close()")
        with torch.inference_mode():
            return in_chunks(lambda x: self._run(model, x), inputs, self.config.max_batch)

    def warmup(self, inputs: np.ndarray) -> None:
        self.predict(inputs)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "backend": "torch",
            "device": str(self.device),
            "dtype": self.config.dtype,
            "torch_version": torch.__version__,
            "threads": torch.get_num_threads(),
            "max_batch": self.config.max_batch,
            "channels_last": self.config.channels_last,
            "compile": self.config.compile,
            "random_weights": self.capabilities.random_weights,
            "n_parameters": self.n_parameters,
        }
        if self.device.type == "cuda":
            facts["cuda_device_name"] = torch.cuda.get_device_name(self.device)
            facts["cuda_version"] = torch.version.cuda
        return facts

    def close(self) -> None:
        if self.model is None:
            return
        self.model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
