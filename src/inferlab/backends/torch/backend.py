"""PyTorch backend: runs an ``nn.Module`` in inference mode on CPU or CUDA, eager, compiled
(``torch.compile``, optionally max-autotune) or replayed from captured CUDA graphs."""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

import numpy as np
import torch

from inferlab.backends.torch.config import COMPILE_MODES, TorchBackendConfig
from inferlab.backends.torch.gemm8 import Gemm8Conv1x1, check_kernel, quantize_pointwise
from inferlab.backends.torch.graphs import CudaGraphs
from inferlab.core.backend import Backend, Capabilities, in_chunks
from inferlab.core.errors import DataError, ModelError

log = logging.getLogger(__name__)

TORCH_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "tf32": torch.float32,  # fp32 storage; TF32 math is a flag, see _apply_precision
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "int8": torch.float32,  # CPU: float32 inputs, the quantized model quantizes them itself
    "fp8": torch.bfloat16,  # the layers that stay unquantized
}
GEMM8_COMPUTE_DTYPE = TORCH_DTYPES["fp8"]  # what the 8-bit GEMM path (int8 on CUDA too) runs in
LOGIT_CHECK_SAMPLES = 64


def configure_compile_cache(path: str) -> dict[str, Any]:
    """Point inductor's on-disk caches at ``path`` and switch them on (process-wide).

    Sets ``TORCHINDUCTOR_CACHE_DIR`` (read by inductor whenever it locates its cache, and
    inherited by compile subprocesses) and, where this torch has them, the FX graph cache,
    the AOT autograd cache and the local autotuning cache. Returns what was set."""
    os.makedirs(path, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
    facts: dict[str, Any] = {"TORCHINDUCTOR_CACHE_DIR": path}
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    switches = (
        (inductor_config, "inductor", "fx_graph_cache"),
        (inductor_config, "inductor", "autotune_local_cache"),
        (functorch_config, "functorch", "enable_autograd_cache"),
    )
    for module, prefix, name in switches:
        if hasattr(module, name):  # absent in some torch versions
            setattr(module, name, True)
            facts[f"{prefix}.{name}"] = True
    log.info("inductor caches in %s", path)
    return facts


def _apply_precision(tf32: bool) -> None:
    """fp32 math on CUDA: TF32 for matmul and cuDNN conv on or off (process-wide flags).

    Uses the legacy switches (``set_float32_matmul_precision``, ``cudnn.allow_tf32``): newer
    torch keeps its new ``fp32_precision`` properties consistent with them, whereas setting the
    new properties makes some legacy readers (used by inductor) raise."""
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32


def logit_check(reference: torch.Tensor, got: torch.Tensor, inputs: str) -> dict[str, Any] | None:
    """How a quantized model's outputs follow the fp32 model's on the same ``inputs`` (class
    logits, :func:`~inferlab.metrics.class_logits.compare_class_logits`); None for outputs
    that are not (n, C) logits. A diagnostic for result.json, never an accuracy claim: on
    random weights or a degenerate reference it says so."""
    from inferlab.metrics.class_logits import compare_class_logits

    ref = reference.detach().float().cpu().numpy()
    out = got.detach().float().cpu().numpy()
    if ref.ndim != 2 or ref.shape != out.shape or ref.shape[1] < 2 or not np.isfinite(ref).all():
        return None
    agree = compare_class_logits(ref, out, k=min(5, ref.shape[1]))
    return {"inputs": inputs, "against": "fp32", **agree.as_dict(), "line": agree.line()}


def _require_calibration(dtype: str, calibration: Any) -> tuple[Any, dict[str, Any]]:
    """``(batches, facts)``, or ModelError naming where calibration inputs come from."""
    if calibration is None:
        raise ModelError(
            f"dtype {dtype} needs calibration inputs and none were given",
            "the benchmark supplies them (MLPerf's calibration list, or a labelled synthetic "
            "stand-in); use --dtype fp32/bf16 for a benchmark without a calibration set",
        )
    batches, facts = calibration
    return batches, facts


def _first_samples(batches: list[Any], n: int) -> list[Any]:
    """The batches that hold the first ``n`` samples, the last one cut (no copy of the rest)."""
    out, have = [], 0
    for b in batches:
        if have >= n:
            break
        out.append(b[: n - have])
        have += len(out[-1])
    return out


def quantize_int8(model: torch.nn.Module, calibration: Any) -> tuple[Any, dict[str, Any]]:
    """Post-training static int8 (PyTorch FX graph mode, x86 backend: per-channel int8 weights,
    per-tensor uint8 activations; conv+bn+relu fused first), calibrated on ``calibration``'s
    batches. Returns the converted model and the facts for result.json."""
    import time
    import warnings

    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    batches, facts = _require_calibration("int8", calibration)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao -> torchao migration
        qmap = get_default_qconfig_mapping("x86")
        example = torch.from_numpy(np.ascontiguousarray(batches[0][:1], dtype=np.float32))
        prepared = prepare_fx(model, qmap, example_inputs=(example,))
        seen = 0
        with torch.inference_mode():
            for b in batches:
                prepared(torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)))
                seen += len(b)
        quantized = convert_fx(prepared)
        check_in = torch.from_numpy(
            np.ascontiguousarray(
                np.concatenate(_first_samples(list(batches), LOGIT_CHECK_SAMPLES)), np.float32
            )
        )
        with torch.inference_mode():
            check = logit_check(
                model(check_in), quantized(check_in), "the calibration inputs (in-sample)"
            )
    info = {
        "scheme": "int8 post-training static (torch.ao FX, x86/fbgemm): per-channel int8 "
        "weights, per-tensor uint8 activations, conv+bn(+relu) fused",
        "calibration": {**facts, "samples_seen": seen},
        "logit_check": check,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    log.info("int8: calibrated on %d samples (%s)", seen, facts.get("source"))
    return quantized, info


class TorchBackend(Backend):
    """Runs ``model`` on batches of NCHW float32 numpy inputs; returns float32 numpy outputs.

    The model is put in eval mode; with ``fold_bn`` a folded copy replaces it (the caller's
    model keeps its BatchNorms), then it is moved (in place) to the configured device and dtype
    and memory format, then compiled or captured as ``mode`` says. The 8-bit dtypes quantize a
    copy first (int8 on the CPU: :func:`quantize_int8`; fp8, and int8 on CUDA: the pointwise
    convolutions as 8-bit GEMMs, :mod:`inferlab.backends.torch.gemm8`, the rest bf16), calibrated
    on ``calibration``. Floating inputs are cast to
    the compute dtype on the device; integer inputs (token ids) are passed through unchanged.
    Batches larger than ``max_batch`` are run in chunks. :meth:`predict_tensor` is the same
    path for a tensor that already lives on the device.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: TorchBackendConfig,
        *,
        random_weights: bool,
        calibration: Any = None,
    ) -> None:
        """``calibration`` (dtype int8 only): ``(batches, facts)``, float32 input batches
        to calibrate the activation ranges on, and what they are (for result.json)."""
        config.check_runtime()
        self.config = config
        self.dtype = GEMM8_COMPUTE_DTYPE if config.gemm8_format else TORCH_DTYPES[config.dtype]
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self._tf32 = config.dtype == "tf32"
        if self._tf32 and torch.cuda.get_device_capability(self.device) < (8, 0):
            log.warning(
                "dtype tf32 on %s (compute capability < 8.0, no TF32 units): runs as fp32",
                torch.cuda.get_device_name(self.device),
            )
        self._apply_precision()

        model = model.eval()
        self.folded_pairs = 0
        self.quantization: dict[str, Any] | None = None
        if config.dtype == "int8" and config.gemm8_format is None:
            model, self.quantization = quantize_int8(model, calibration)
        elif config.fold_bn:
            from inferlab.models.fuse import fold_batchnorm_pairs, foldable_pairs

            if foldable_pairs(model):  # no deep copy of a model with nothing to fold
                model, pairs = fold_batchnorm_pairs(model)
                self.folded_pairs = len(pairs)
            else:
                log.info("fold_bn: %s has no conv+batchnorm pair", type(model).__name__)
        if config.gemm8_format:
            model = self._quantize_gemm8(model, config.gemm8_format, calibration)
        else:
            model = model.to(device=self.device, dtype=self.dtype)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.n_parameters = sum(p.numel() for p in model.parameters()) + sum(
            m.weight8.numel() for m in model.modules() if isinstance(m, Gemm8Conv1x1)
        )

        self.compile_cache: dict[str, Any] | None = None
        self._mark_step = False
        # 8-bit GEMM models: only the batch dimension is dynamic (marked per call). With every
        # dimension symbolic, inductor fails to lower the GEMM's reshapes back into the next
        # convolution (ValueRangeError, torch 2.13); images have fixed sizes anyway.
        self._batch_dynamic = bool(config.gemm8_format) and config.mode in COMPILE_MODES
        if config.mode in COMPILE_MODES:
            if config.compile_cache_dir is not None:
                self.compile_cache = configure_compile_cache(config.compile_cache_dir)
            dynamic = not self._batch_dynamic
            if config.mode == "compile":
                model = torch.compile(model, dynamic=dynamic)  # type: ignore[assignment]
            else:
                model = torch.compile(  # type: ignore[assignment]
                    model, mode="max-autotune", dynamic=dynamic
                )
                # inductor's CUDA graphs reuse output memory on the next call
                self._mark_step = self.device.type == "cuda"
        elif config.compile_cache_dir is not None:
            log.info("compile_cache_dir is unused in mode %s", config.mode)
        self.model: torch.nn.Module | None = model
        self.graphs: CudaGraphs | None = None
        if config.mode == "cudagraph":
            self.graphs = CudaGraphs(
                model,
                config.graph_batches,
                self.device,
                self.dtype,
                channels_last=config.channels_last,
                before_capture=self._apply_precision,
            )
        self.capabilities = Capabilities(
            device=str(self.device),
            max_batch=config.max_batch,
            preferred_batch=config.max_batch,
            needs_inputs=True,
            random_weights=random_weights,
        )
        log.info(
            "torch backend: %s on %s, %s, mode %s%s%s, max_batch %d, %d threads%s",
            type(model).__name__,
            self.device,
            config.dtype,
            config.mode,
            f", {self.folded_pairs} BN folded" if config.fold_bn else "",
            ", channels_last" if config.channels_last else "",
            config.max_batch,
            torch.get_num_threads(),
            " (random weights)" if random_weights else "",
        )

    def _quantize_gemm8(self, model: torch.nn.Module, fmt: str, calibration: Any) -> Any:
        """fp32 on the device, calibrated; then the pointwise convolutions as 8-bit GEMMs and
        the rest in bf16 (:mod:`inferlab.backends.torch.gemm8`). Records the facts and a
        logit check against the fp32 model on calibration inputs."""
        import time

        batches, cal_facts = _require_calibration(fmt, calibration)
        check_kernel(fmt, self.device)
        t0 = time.perf_counter()
        if not self.folded_pairs:  # not yet a copy: the caller's model keeps its layers
            model = copy.deepcopy(model)
        model = model.to(device=self.device, dtype=torch.float32)
        tensors = [
            torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)).to(self.device)
            for b in batches
        ]
        check_in = torch.cat(_first_samples(tensors, LOGIT_CHECK_SAMPLES)) if tensors else None
        with torch.inference_mode():
            reference = model(check_in) if check_in is not None and len(check_in) else None
            model, facts = quantize_pointwise(model, fmt, tensors, out_dtype=self.dtype)
            if self.config.channels_last:
                model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            check = None
            if isinstance(reference, torch.Tensor) and check_in is not None:
                got = model(self._prepare(check_in))
                check = logit_check(reference, got, "the calibration inputs (in-sample)")
        kernel = (
            "fp8 e4m3 GEMMs (torch._scaled_mm), per-tensor scales, activation scale a power of "
            "two from the calibration maximum"
            if fmt == "fp8"
            else "int8 GEMMs (torch._int_mm, int32 accumulation), per-channel weight scales, "
            "per-tensor activation clip chosen for least squared error on the calibration "
            "sample, zero point -128 for inputs never negative"
        )
        samples_seen = facts.pop("samples_seen")
        self.quantization = {
            "scheme": f"{fmt} post-training static: {kernel}; {facts['layers_8bit']} pointwise "
            f"convolution(s) in {fmt}, every other layer {facts['other_layers_dtype']}",
            **facts,
            "calibration": {**cal_facts, "samples_seen": samples_seen},
            "logit_check": check,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        log.info("%s: %s", fmt, self.quantization["scheme"])
        return model

    def __enter__(self) -> TorchBackend:
        return self

    def _apply_precision(self) -> None:
        # Re-applied before every CUDA forward: the flags are process-wide, and another
        # backend in the same process may have changed them.
        if self.device.type == "cuda":
            _apply_precision(self._tf32)

    def _require_model(self) -> torch.nn.Module:
        if self.model is None:
            raise RuntimeError("TorchBackend used after close()")
        return self.model

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():
            x = x.to(dtype=self.dtype)
        if self.config.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _forward(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self._mark_step:
            torch.compiler.cudagraph_mark_step_begin()
        x = self._prepare(x)
        if self._batch_dynamic:
            torch._dynamo.mark_dynamic(x, 0)
        out = model(x)
        if not isinstance(out, torch.Tensor):
            raise ModelError(
                f"the model returned a {type(out).__name__}, the torch backend needs one tensor",
                "wrap the model so that forward() returns a single tensor",
            )
        # a copy where the output may alias memory the next call overwrites
        return out.to(torch.float32, copy=self._mark_step)

    def predict_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs (float32, on the device) for a batch ``x`` already on the backend's device.

        ``x``: any float dtype (cast to the compute dtype here) or integer ids, NCHW for
        images (made channels_last here if configured). No host copy and no synchronisation:
        the result is ready once the current CUDA stream has reached it."""
        model = self._require_model()
        if x.device != self.device:
            raise DataError(
                f"predict_tensor got a tensor on {x.device}, the backend runs on {self.device}",
                f"move it first with x.to({str(self.device)!r}), or call predict() with numpy",
            )
        if x.shape[0] == 0:
            raise DataError("predict_tensor got an empty batch", "pass at least one sample")
        with torch.inference_mode():
            if self.device.type == "cuda":
                self._apply_precision()
            if self.graphs is not None:
                return self.graphs.run(x)
            step = self.config.max_batch
            if x.shape[0] <= step:
                return self._forward(model, x)
            chunks = [self._forward(model, x[i : i + step]) for i in range(0, x.shape[0], step)]
            return torch.cat(chunks)

    def _to_device(self, inputs: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(inputs))
        if tensor.is_floating_point():
            return tensor.to(device=self.device, dtype=self.dtype)
        return tensor.to(device=self.device)

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.predict_tensor(self._to_device(inputs))
            return out.detach().cpu().numpy()

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        self._require_model()
        return in_chunks(self._run, inputs, self.config.max_batch)

    def warmup(self, inputs: np.ndarray) -> None:
        """Run ``inputs`` once; in mode cudagraph first capture every configured batch size
        for their sample shape (so no capture happens later, inside a timed run)."""
        if self.graphs is not None:
            with torch.inference_mode():
                self._apply_precision()
                self.graphs.capture_all(self._prepare(self._to_device(inputs[:1])))
        self.predict(inputs)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> dict[str, Any]:
        cfg = self.config
        facts: dict[str, Any] = {
            "backend": "torch",
            "device": str(self.device),
            "dtype": cfg.dtype,
            "mode": cfg.mode,
            "torch_version": torch.__version__,
            "threads": torch.get_num_threads(),
            "max_batch": cfg.max_batch,
            "channels_last": cfg.channels_last,
            "compile": cfg.compile,
            "fold_bn": cfg.fold_bn,
            "folded_bn_pairs": self.folded_pairs,
            "quantization": self.quantization,
            "compile_cache_dir": cfg.compile_cache_dir if self.compile_cache else None,
            "cudagraph_batches": list(cfg.graph_batches) if self.graphs is not None else None,
            "cudagraph_captured": self.graphs.captured() if self.graphs is not None else None,
            "random_weights": self.capabilities.random_weights,
            "n_parameters": self.n_parameters,
        }
        if self.device.type == "cuda":
            facts["cuda_device_name"] = torch.cuda.get_device_name(self.device)
            facts["cuda_version"] = torch.version.cuda
            facts["tf32"] = self._tf32
        return facts

    def close(self) -> None:
        if self.model is None:
            return
        self.model = None
        self.graphs = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
