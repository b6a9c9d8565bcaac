"""8-bit GEMMs for the pointwise (1x1) convolutions of a CNN: the torch backend's GPU 8-bit path.

A 1x1 convolution over a channels-last activation is one matrix product: the ``(N*H*W, C_in)``
rows of the activation times the ``(C_in, C_out)`` weight (a stride ``s`` first keeps every
``s``-th row and column of the image). :func:`quantize_pointwise` replaces such convolutions of
a model by :class:`Gemm8Conv1x1`, which runs that product on 8-bit tensor cores:

* ``fp8``: float8 e4m3 activations and weights through ``torch._scaled_mm`` (CUDA compute
  capability >= 8.9, i.e. Ada/Hopper; PyTorch also runs it on the CPU, which the tests use).
  Per-tensor scales (the form every fp8-capable GPU runs, with the bias in the same kernel):
  the activation scale is a power of two, so scaling is exact in bf16 and costs no precision
  in a floating-point format. One scale per output channel, applied after the GEMM, gave no
  better logit agreement on a random bottleneck CNN with recalibrated BatchNorm (e4m3 spans
  2^-6..448 in normal numbers: small channels keep their 3-bit mantissa).
* ``int8``: int8 activations and weights through ``torch._int_mm`` (int32 accumulation), then
  rescaled in float32 with one scale per output channel. Inputs that were never negative in
  calibration (those after a ReLU: every pointwise input of a bottleneck CNN) use all 256
  codes: zero point -128, whose constant contribution ``128 * sum(w)`` is folded into the
  bias. The activation's clipping range is chosen on the calibration sample to minimise the
  squared quantisation error.

The activation ranges are calibrated with :func:`calibrate_inputs` on the unquantised model
(forward pre-hooks, so the layers' inputs are seen exactly). Layers whose shapes the CUDA kernels
refuse (``_scaled_mm``: input and output channels multiples of 16; ``_int_mm``: multiples of 8)
and every other layer (3x3/7x7 convolutions, the classifier) keep the model's 16-bit dtype; the
returned facts list what was converted and what was kept, and why.

What this buys is bounded: in a bottleneck CNN the pointwise convolutions are about half the
FLOPs but, at batch 256 on an H100, under a fifth of an eager forward's time
(docs/performance.md) (3x3 convolutions and the unfused elementwise passes take the rest).
Only torch.compile fuses the quantising casts into the preceding ReLU; in eager mode each one
is an extra pass over the activation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from inferlab.core.errors import ModelError, UnsupportedError

__all__ = [
    "FORMATS",
    "Gemm8Conv1x1",
    "InputRange",
    "calibrate_inputs",
    "check_kernel",
    "pointwise_convs",
    "quantize_pointwise",
]

FORMATS: tuple[str, ...] = ("fp8", "int8")
FP8_DTYPE = torch.float8_e4m3fn
FP8_MAX = float(torch.finfo(FP8_DTYPE).max)  # 448
CHANNEL_MULTIPLE = {"fp8": 16, "int8": 8}  # what the CUDA kernels need of K and N
INT_MM_MIN_ROWS = 17  # torch._int_mm on CUDA needs more than 16 rows
SAMPLE_PER_BATCH = 1 << 14  # activation values kept per layer and batch for the int8 clip search
CLIP_RATIOS: tuple[float, ...] = tuple(1.0 - 0.05 * i for i in range(15))  # 1.0 ... 0.3


@dataclass
class InputRange:
    """What calibration saw at one layer's input."""

    amax: float = 0.0
    minimum: float = math.inf
    nonfinite: bool = False  # a NaN or inf was seen
    sample: torch.Tensor | None = None  # float32, on the CPU, for the int8 clip search

    def add(self, x: torch.Tensor, keep_sample: bool, generator: torch.Generator) -> None:
        flat = x.detach().reshape(-1)
        if not bool(torch.isfinite(flat).all()):
            self.nonfinite = True
            return
        self.amax = max(self.amax, float(flat.abs().max()))
        self.minimum = min(self.minimum, float(flat.min()))
        if keep_sample:
            n = min(SAMPLE_PER_BATCH, flat.numel())
            pick = torch.randint(0, flat.numel(), (n,), generator=generator)
            part = flat[pick.to(flat.device)].float().cpu()
            self.sample = part if self.sample is None else torch.cat([self.sample, part])


def pointwise_convs(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """The 1x1, unpadded, undilated, ungrouped ``Conv2d`` layers of ``model`` (name, module)."""
    found = []
    for name, module in model.named_modules():
        if (
            isinstance(module, nn.Conv2d)
            and module.kernel_size == (1, 1)
            and module.padding in ((0, 0), "valid")
            and module.dilation == (1, 1)
            and module.groups == 1
            and module.stride[0] == module.stride[1]
            and module.padding_mode == "zeros"
        ):
            found.append((name, module))
    return found


@torch.no_grad()
def calibrate_inputs(
    model: nn.Module, names: Iterable[str], batches: Iterable[torch.Tensor], *, fmt: str
) -> tuple[dict[str, InputRange], int]:
    """Run ``batches`` through ``model`` and record each named layer's input range.

    Returns the ranges and the number of samples seen. ``model`` is unchanged (hooks removed)."""
    ranges = {name: InputRange() for name in names}
    generator = torch.Generator().manual_seed(0)
    keep = fmt == "int8"
    handles = []
    for name, rng in ranges.items():

        def hook(_m: nn.Module, args: tuple[Any, ...], rng: InputRange = rng) -> None:
            rng.add(args[0], keep, generator)

        handles.append(model.get_submodule(name).register_forward_pre_hook(hook))
    seen = 0
    try:
        for batch in batches:
            model(batch)
            seen += int(batch.shape[0])
    finally:
        for h in handles:
            h.remove()
    return ranges, seen


def _int8_clip(rng: InputRange, unsigned: bool) -> float:
    """The clipping bound minimising the squared quantisation error over the sample."""
    if rng.sample is None or rng.amax == 0.0:
        return rng.amax
    x = rng.sample
    levels = 255 if unsigned else 127
    best, best_err = rng.amax, math.inf
    for ratio in CLIP_RATIOS:
        clip = rng.amax * ratio
        scale = clip / levels
        if unsigned:
            q = torch.round(x / scale).clamp(0, levels)
        else:
            q = torch.round(x / scale).clamp(-levels, levels)
        err = float(((q * scale - x) ** 2).mean())
        if err < best_err:
            best, best_err = clip, err
    return best


class Gemm8Conv1x1(nn.Module):
    """A pointwise convolution computed as an 8-bit GEMM (module docstring).

    Input: an ``(N, C_in, H, W)`` tensor of the compute dtype, best channels-last (any other
    layout costs a copy). Output: ``(N, C_out, H', W')`` in ``out_dtype``, channels-last."""

    weight8: torch.Tensor  # (C_in, C_out), column-major
    a_scale: torch.Tensor
    bias: torch.Tensor
    w_scale: torch.Tensor  # fp8 only
    out_scale: torch.Tensor  # int8 only: a_scale * per-channel weight scale

    def __init__(self, conv: nn.Conv2d, fmt: str, rng: InputRange, out_dtype: torch.dtype) -> None:
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"unknown 8-bit format {fmt!r}")
        self.fmt = fmt
        self.stride = int(conv.stride[0])
        self.in_channels = conv.in_channels
        self.out_channels = conv.out_channels
        self.out_dtype = out_dtype
        with torch.no_grad():
            w = conv.weight.detach().float().reshape(conv.out_channels, conv.in_channels)
            b = (
                conv.bias.detach().float()
                if conv.bias is not None
                else torch.zeros(conv.out_channels, device=w.device)
            )
            w_amax = w.abs().amax(dim=1).clamp_min(1e-12)  # per output channel
            if fmt == "fp8":
                self._init_fp8(w, b, w_amax, rng)
            else:
                self._init_int8(w, b, w_amax, rng)

    def _init_fp8(
        self, w: torch.Tensor, b: torch.Tensor, w_amax: torch.Tensor, rng: InputRange
    ) -> None:
        w_scale = w_amax.max() / FP8_MAX  # one scale (module docstring)
        w8 = (w / w_scale).clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE)
        # (C_in, C_out) column-major: the layout _scaled_mm needs of its second operand
        self.register_buffer("weight8", w8.t())
        self.register_buffer("w_scale", w_scale.reshape(()).clone())
        exponent = math.ceil(math.log2(rng.amax / FP8_MAX)) if rng.amax > 0 else 0
        self.a_exp = exponent  # activation scale 2**exponent: x / 2**e is exact
        self.register_buffer("a_scale", torch.tensor(2.0**exponent, device=w.device))
        self.register_buffer("bias", b.to(self.out_dtype))
        self.clip = rng.amax
        self.zero_point = 0

    def _init_int8(
        self, w: torch.Tensor, b: torch.Tensor, w_amax: torch.Tensor, rng: InputRange
    ) -> None:
        w_scale = w_amax / 127.0
        w8 = torch.round(w / w_scale[:, None]).clamp(-127, 127).to(torch.int8)
        unsigned = rng.minimum >= 0.0
        clip = _int8_clip(rng, unsigned) or 1.0
        a_scale = clip / (255.0 if unsigned else 127.0)
        self.zero_point = -128 if unsigned else 0
        # x ~ a_scale * (q - zp): W x = a_scale * w_scale * (W8 q - zp * sum(W8))
        correction = -self.zero_point * w8.float().sum(dim=1) * (a_scale * w_scale)
        self.register_buffer("weight8", w8.t())
        self.register_buffer("a_scale", torch.tensor([[a_scale]], device=w.device))
        self.register_buffer("out_scale", (a_scale * w_scale).reshape(1, -1).contiguous())
        self.register_buffer("bias", (b + correction).reshape(1, -1).contiguous())
        self.clip = clip

    def _apply(self, fn: Any, recurse: bool = True) -> Gemm8Conv1x1:
        # Module.to(dtype=...) casts every floating buffer (float8 included): keep the 8-bit
        # weights, the scales and the bias exactly as built; a move to another device applies.
        saved = {name: buf for name, buf in self._buffers.items() if buf is not None}
        super()._apply(fn, recurse)
        for name, before in saved.items():
            after = self._buffers[name]
            if after is not None and after.dtype != before.dtype:
                self._buffers[name] = before.to(device=after.device)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c)
        if self.fmt == "fp8":
            scaled = rows * (2.0 ** (-self.a_exp)) if self.a_exp else rows
            q = scaled.clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE)
            y = torch._scaled_mm(
                q,
                self.weight8,
                scale_a=self.a_scale,
                scale_b=self.w_scale,
                bias=self.bias,
                out_dtype=self.out_dtype,
            )
        else:
            levels = 255.0 if self.zero_point else 127.0
            q = torch.round(rows.float() / self.a_scale).clamp(
                0 if self.zero_point else -127, levels
            )
            q = (q + self.zero_point).to(torch.int8)
            m = q.shape[0]
            if torch.compiler.is_compiling():
                # no branch on the (symbolic) row count: compiled, the padding fuses into the
                # kernel that writes q
                q = torch.cat([q, q.new_zeros(INT_MM_MIN_ROWS, c)])
            elif m < INT_MM_MIN_ROWS:
                q = torch.cat([q, q.new_zeros(INT_MM_MIN_ROWS - m, c)])
            acc = torch._int_mm(q, self.weight8)[:m]
            y = (acc.float() * self.out_scale + self.bias).to(self.out_dtype)
        return y.view(n, h, w, self.out_channels).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, stride={self.stride}, fmt={self.fmt}, "
            f"clip={self.clip:.4g}, zero_point={self.zero_point}"
        )


def check_kernel(fmt: str, device: torch.device) -> None:
    """Run the format's kernel once on ``device``; UnsupportedError (with the fix) if it fails."""
    mult = CHANNEL_MULTIPLE[fmt]
    try:
        if fmt == "fp8":
            a = torch.ones(INT_MM_MIN_ROWS, mult, device=device).to(FP8_DTYPE)
            b = torch.ones(mult, mult, device=device).to(FP8_DTYPE).t()
            one = torch.ones((), device=device)
            torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        else:
            a = torch.ones(INT_MM_MIN_ROWS, mult, dtype=torch.int8, device=device)
            b = torch.ones(mult, mult, dtype=torch.int8, device=device).t()  # as weight8
            torch._int_mm(a, b)
    except (RuntimeError, NotImplementedError) as exc:
        what = (
            "fp8 GEMMs (torch._scaled_mm) need compute capability 8.9 or newer (Ada, Hopper)"
            if fmt == "fp8"
            else "int8 GEMMs (torch._int_mm)"
        )
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
        raise UnsupportedError(
            f"{what} do not run on {where} with torch {torch.__version__}: {exc}",
            "use --dtype bf16 or fp16 on this device",
        ) from exc


def quantize_pointwise(
    model: nn.Module,
    fmt: str,
    batches: Iterable[torch.Tensor],
    *,
    out_dtype: torch.dtype,
) -> tuple[nn.Module, dict[str, Any]]:
    """Replace the pointwise convolutions of ``model`` (in place) by 8-bit GEMMs.

    ``model`` must be in eval mode, on its device, in fp32 (calibration runs it as it is);
    ``batches``: calibration inputs on that device. Returns the model, cast to ``out_dtype``
    except for the 8-bit layers, and the facts: format, layers converted and kept (with why),
    samples seen."""
    if fmt not in FORMATS:
        raise ModelError(f"unknown 8-bit format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    mult = CHANNEL_MULTIPLE[fmt]
    candidates = pointwise_convs(model)
    chosen, kept = [], []
    for name, conv in candidates:
        if conv.in_channels % mult == 0 and conv.out_channels % mult == 0:
            chosen.append((name, conv))
        else:
            why = f"channels {conv.in_channels}->{conv.out_channels} not multiples of {mult}"
            kept.append({"layer": name, "why": f"{why} (the kernel's requirement)"})
    if not chosen:
        raise ModelError(
            f"the model has no pointwise convolution that a {fmt} GEMM can run "
            f"({len(candidates)} 1x1 convolution(s), none with channels multiple of {mult})",
            "use --dtype bf16 or fp16 for this model",
        )
    ranges, seen = calibrate_inputs(model, [n for n, _ in chosen], batches, fmt=fmt)
    if seen == 0:
        raise ModelError(
            f"dtype {fmt} got no calibration inputs",
            "the benchmark supplies them (MLPerf's calibration list, or a labelled stand-in)",
        )
    bad = [name for name, rng in ranges.items() if rng.nonfinite]
    if bad:
        raise ModelError(
            f"calibration saw non-finite values at the input of {len(bad)} layer(s) "
            f"(first: {bad[0]})",
            "check the model's weights and the calibration inputs with --dtype fp32 first",
        )
    layers = []
    replacements = {}
    for name, conv in chosen:
        module = Gemm8Conv1x1(conv, fmt, ranges[name], out_dtype)
        replacements[name] = module
        layers.append(
            {
                "layer": name,
                "in": conv.in_channels,
                "out": conv.out_channels,
                "stride": int(conv.stride[0]),
                "input_amax": round(ranges[name].amax, 6),
                "input_min": round(ranges[name].minimum, 6),
                "clip": round(module.clip, 6),
                "zero_point": module.zero_point,
            }
        )
    model = model.to(dtype=out_dtype)
    for name, module in replacements.items():
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, module)
    other = sum(1 for _, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear))
    facts = {
        "format": fmt,
        "layers_8bit": len(layers),
        "layers_kept": kept,
        "other_layers_dtype": str(out_dtype).replace("torch.", ""),
        "other_conv_linear_layers": other,
        "samples_seen": seen,
        "layers": layers,
    }
    return model, facts
