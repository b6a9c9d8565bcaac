"""The torch backend of a generative benchmark (an LLM): the model inside the generation engine.

``predict`` generates a static batch synchronously (warm-up, calibration, the batch path);
``start``/``submit``/``stop`` (``core.backend.Generator``) run the engine's continuous batching
for a LoadGen test: each sample is submitted as it is issued, joins the running batch at the
next decode step, and is completed (first token streamed ahead where asked) as soon as it is
done. Batches: (n, 1 + prompt) int32 rows ``[prompt length, ids..., 0...]`` in, (n, 1 +
max_new_tokens) int32 rows ``[count, tokens..., 0...]`` out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from inferlab.backends.torch.backend import TORCH_DTYPES
from inferlab.backends.torch.config import TorchBackendConfig
from inferlab.core.backend import Backend, Capabilities
from inferlab.core.errors import DataError, UnsupportedError
from inferlab.core.task import GenerationSettings

log = logging.getLogger(__name__)


class TorchGenerationBackend(Backend):
    def __init__(
        self,
        model: torch.nn.Module,
        config: TorchBackendConfig,
        settings: GenerationSettings,
        *,
        random_weights: bool,
    ) -> None:
        from inferlab.generation.engine import Engine

        config.check_runtime()
        if config.dtype not in ("fp32", "bf16", "fp16"):
            raise UnsupportedError(
                f"dtype {config.dtype} is not supported by the generation engine",
                "use --dtype fp32, bf16 or fp16",
            )
        if config.mode != "eager":
            raise UnsupportedError(
                f"torch mode {config.mode} is not supported by the generation engine",
                "use --torch-mode eager",
            )
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.config = config
        self.settings = settings
        self.device = torch.device(config.device)
        self.dtype = TORCH_DTYPES[config.dtype]
        self.model = model.eval().to(device=self.device, dtype=self.dtype)
        self.max_seqs = max(1, config.max_batch) * max(1, settings.num_beams)
        self.engine = Engine(
            self.model,
            max_seqs=self.max_seqs,
            max_seq_len=settings.max_seq_len,
            eos_token_ids=settings.eos_token_ids,
        )
        self._loop: Any = None
        self.capabilities = Capabilities(
            device=str(self.device),
            max_batch=config.max_batch,
            preferred_batch=config.max_batch,
            needs_inputs=True,
            is_async=True,
            streaming=True,
            random_weights=random_weights,
            generates=True,
        )
        log.info(
            "torch generation engine: %s on %s, %s, %d sequences of up to %d tokens",
            type(model).__name__,
            self.device,
            config.dtype,
            self.max_seqs,
            settings.max_seq_len,
        )

    def _request(self, request_id: Any, prompt: np.ndarray) -> Any:
        from inferlab.generation.engine import Request

        s = self.settings
        return Request(
            request_id=request_id,
            prompt=[int(t) for t in prompt],
            max_new_tokens=s.max_new_tokens,
            min_new_tokens=s.min_new_tokens,
            num_beams=s.num_beams,
            early_stopping=s.early_stopping,
            eos_token_ids=s.eos_token_ids,
        )

    # ---- the batch path ------------------------------------------------------------------
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        if self._loop is not None:
            raise RuntimeError("predict() while the engine loop runs: submit() instead")
        rows = np.asarray(inputs)
        if rows.ndim != 2 or rows.shape[1] < 2:
            raise DataError(
                f"the generation backend takes (n, 1 + prompt) token rows, got {rows.shape}",
                "the benchmark's dataset must hand out prompt rows",
            )
        requests = [
            self._request(i, row[1 : 1 + int(row[0])]) for i, row in enumerate(rows.tolist())
        ]
        done = {c.request_id: c.tokens for c in self.engine.generate(requests)}
        out = np.zeros((len(requests), 1 + self.settings.max_new_tokens), dtype=np.int32)
        for i in range(len(requests)):
            tokens = done[i]
            out[i, 0] = len(tokens)
            out[i, 1 : 1 + len(tokens)] = tokens
        return out

    # ---- the Generator path (core.backend.Generator) ---------------------------------------
    def start(
        self, on_event: Callable[[Any], None], on_error: Callable[[BaseException], None]
    ) -> None:
        from inferlab.generation.engine import EngineLoop

        self._loop = EngineLoop(self.engine, on_event, on_error=on_error).start()

    def submit(self, request_id: int, prompt: np.ndarray) -> None:
        self.engine.submit(self._request(request_id, prompt))

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop(timeout=60)

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "backend": "torch",
            "engine": "inferlab generation engine (continuous batching, KV cache)",
            "device": str(self.device),
            "dtype": self.config.dtype,
            "max_sequences": self.max_seqs,
            "max_seq_len": s.max_seq_len,
            "decoding": "greedy" if s.num_beams == 1 else f"beam search ({s.num_beams} beams)",
            "max_new_tokens": s.max_new_tokens,
            "min_new_tokens": s.min_new_tokens,
            "eos_token_ids": list(s.eos_token_ids) if s.eos_token_ids else None,
            "model_class": type(self.model).__name__,
            "n_parameters": int(sum(p.numel() for p in self.model.parameters())),
            "threads": torch.get_num_threads(),
        }

    def close(self) -> None:
        self.stop()
