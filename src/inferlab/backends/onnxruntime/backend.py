"""ONNX Runtime backend: runs an ONNX model file through an InferenceSession.

The benchmark supplies an adapter (``task.onnx_io(variant)``) between inferlab's one-array batch
(what the dataset's ``get_batch`` returns) and the graph's named inputs and outputs, because the
official model files name and split them their own way (a language model's file: three int64
inputs, two outputs).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from inferlab.backends.onnxruntime.config import OrtBackendConfig
from inferlab.core.backend import Backend, Capabilities, in_chunks
from inferlab.core.errors import ModelError

log = logging.getLogger(__name__)


class OnnxIO(Protocol):
    """Maps a batch to the graph's feeds and its outputs back to one array."""

    def feeds(self, inputs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]: ...

    def output(self, outputs: list[np.ndarray], names: list[str]) -> np.ndarray: ...


class OrtBackend(Backend):
    def __init__(self, model_path: Path, config: OrtBackendConfig, io: OnnxIO) -> None:
        config.check_static()
        self.config = config
        self.io = io
        self.model_path = Path(model_path)
        opts = ort.SessionOptions()
        if config.threads is not None:
            opts.intra_op_num_threads = config.threads
        providers: list[Any] = list(config.providers)
        if config.device.startswith("cuda:"):
            providers = [("CUDAExecutionProvider", {"device_id": int(config.device[5:])})]
        try:
            self.session: ort.InferenceSession | None = ort.InferenceSession(
                str(self.model_path), sess_options=opts, providers=providers
            )
        except Exception as exc:  # ORT raises its own exception types for bad files
            raise ModelError(
                f"onnxruntime cannot load {self.model_path}: {str(exc).splitlines()[0][:200]}",
                "pass --model-path to the benchmark's ONNX model file (see `inferlab ls`)",
            ) from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.capabilities = Capabilities(
            device=config.device,
            max_batch=config.max_batch,
            preferred_batch=config.max_batch,
            needs_inputs=True,
            random_weights=False,
        )
        log.info(
            "onnxruntime backend: %s, inputs %s, outputs %s, providers %s",
            self.model_path.name,
            self.input_names,
            self.output_names,
            self.session.get_providers(),
        )

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        assert self.session is not None
        feeds = self.io.feeds(inputs, self.input_names)
        outputs = self.session.run(self.output_names, feeds)
        return np.asarray(self.io.output(list(outputs), self.output_names), dtype=np.float32)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        if self.session is None:
            raise RuntimeError("OrtBackend.predict called after close()")
        return in_chunks(self._run, inputs, self.config.max_batch)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "onnxruntime",
            "onnxruntime_version": ort.__version__,
            "device": self.config.device,
            "providers": self.session.get_providers() if self.session else [],
            "threads": self.config.threads,
            "max_batch": self.config.max_batch,
            "inputs": self.input_names,
            "outputs": self.output_names,
            "dtype": "as in the model file",
        }

    def close(self) -> None:
        self.session = None
