"""ResNet-50 on CUDA (skipped without a GPU): the torch backend's fast modes (16-bit and TF32,
BatchNorm folding, channels_last, CUDA graphs, torch.compile) against fp32 eager, compared at
the class-logit level, and predict_tensor on device-resident inputs.

The reference must not be degenerate (compare_class_logits' flag): a random-weight ResNet-50
puts every image into one class, and agreeing with that proves nothing. So the random network
gets BatchNorm statistics recalibrated on grating images and a classifier standardised per
class (``recalibrate_batchnorm(..., classifier="fc")``), then every parameter and buffer is
rounded to a value exact in bf16 and fp16 (the low-precision runs then differ from fp32 by
their arithmetic only, not by rounded weights). Measured on CPU with 64 images at 224 px:
55 distinct top-1 classes; fp16 cosine min 0.993, top-5 overlap 0.89; bf16 only cosine min
0.83, top-5 overlap 0.50. A random network's logits depend on the image only through a small
part of the features, which bf16 rounding (8-bit mantissa) visibly disturbs; trained weights
do far better. The 16-bit limits below are set from those measurements with a margin; the
fp32 variants must agree almost exactly.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from inferlab.backends.torch.backend import TorchBackend  # noqa: E402
from inferlab.backends.torch.config import TorchBackendConfig  # noqa: E402
from inferlab.benchmarks.resnet50.model import build_resnet50  # noqa: E402
from inferlab.core.errors import DataError  # noqa: E402
from inferlab.metrics.class_logits import ClassLogitAgreement, compare_class_logits  # noqa: E402
from inferlab.models.fuse import recalibrate_batchnorm  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

N_IMAGES = 64
MAX_BATCH = 32
SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Limits:
    cosine_min: float
    top1: float
    topk: float

    def check(self, agree: ClassLogitAgreement) -> None:
        assert not agree.degenerate, agree.line()
        assert agree.nonfinite == 0, agree.line()
        assert agree.cosine_min >= self.cosine_min, agree.line()
        assert agree.top1_agreement >= self.top1, agree.line()
        assert agree.topk_overlap >= self.topk, agree.line()


FP32 = Limits(cosine_min=0.9999, top1=0.95, topk=0.95)
HALF = Limits(cosine_min=0.985, top1=0.6, topk=0.75)  # fp16 and tf32 (10-bit mantissa)
BF16 = Limits(cosine_min=0.6, top1=0.1, topk=0.25)  # chance: cosine ~0, top-5 overlap 0.005
LIMITS = {"fp32": FP32, "tf32": HALF, "fp16": HALF, "bf16": BF16}


def gratings(n: int, seed: int, size: int = SIZE) -> torch.Tensor:
    """Normalised images: per image a coloured sinusoidal grating of its own orientation,
    frequency and phase, plus noise (random conv filters respond to these very differently)."""
    g = torch.Generator().manual_seed(seed)
    theta = torch.rand(n, 1, 1, generator=g) * math.pi
    freq = 2 ** (torch.rand(n, 1, 1, generator=g) * 5 - 1) * 8 * math.pi / size
    phase = torch.rand(n, 1, 1, generator=g) * 2 * math.pi
    pos = torch.arange(size, dtype=torch.float32)
    ys, xs = pos[None, :, None], pos[None, None, :]
    wave = torch.sin(freq * (xs * torch.cos(theta) + ys * torch.sin(theta)) + phase)  # (n, H, W)
    low, high = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    img = low + (high - low) * (wave[:, None] + 1) / 2
    img = (img + 0.1 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (img - mean) / std


def exact_in_16_bit(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).to(torch.float16).to(t.dtype)


@pytest.fixture(scope="module")
def base_model() -> nn.Module:
    """Random ResNet-50, non-degenerate (module docstring), fp32 on CPU."""
    torch.manual_seed(0)
    model = build_resnet50().cuda()
    recalibrate_batchnorm(model, gratings(128, seed=1).cuda(), classifier="fc")
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.copy_(exact_in_16_bit(t))
    return model.cpu().eval()


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return exact_in_16_bit(gratings(N_IMAGES, seed=2)).numpy()


def make(base: nn.Module, dtype: str = "fp32", **kwargs: Any) -> TorchBackend:
    cfg = TorchBackendConfig(device="cuda", dtype=dtype, max_batch=MAX_BATCH, **kwargs)
    return TorchBackend(copy.deepcopy(base), cfg, random_weights=True)


@pytest.fixture(scope="module")
def reference(base_model: nn.Module, batch: np.ndarray) -> np.ndarray:
    """fp32 eager on the GPU (TF32 off)."""
    with make(base_model) as backend:
        return backend.predict(batch)


def test_reference_is_not_degenerate(reference: np.ndarray) -> None:
    agree = compare_class_logits(reference, reference)
    assert not agree.degenerate and agree.reference_top1_classes >= 20, agree.line()


VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("fp32", {"fold_bn": True}),
    ("fp32", {"channels_last": True}),
    ("fp32", {"mode": "cudagraph"}),
    ("tf32", {}),
    ("tf32", {"fold_bn": True, "channels_last": True}),
    ("fp16", {}),
    ("fp16", {"fold_bn": True, "channels_last": True}),
    ("fp16", {"fold_bn": True, "channels_last": True, "mode": "cudagraph"}),
    ("bf16", {}),
    ("bf16", {"fold_bn": True, "channels_last": True}),
    ("bf16", {"mode": "cudagraph", "channels_last": True}),
]


@pytest.mark.parametrize(
    ("dtype", "kwargs"),
    VARIANTS,
    ids=[f"{d}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'eager'}" for d, kw in VARIANTS],
)
def test_variant_agrees_with_fp32_eager(
    base_model: nn.Module, batch: np.ndarray, reference: np.ndarray, dtype: str, kwargs: Any
) -> None:
    with make(base_model, dtype, **kwargs) as backend:
        backend.warmup(batch[:MAX_BATCH])  # cudagraph: captures every size first
        out = backend.predict(batch)
        facts = backend.describe()
    LIMITS[dtype].check(compare_class_logits(reference, out))
    assert facts["dtype"] == dtype and facts["tf32"] is (dtype == "tf32")
    if kwargs.get("fold_bn"):
        assert facts["folded_bn_pairs"] == 53
    if kwargs.get("mode") == "cudagraph":
        assert facts["cudagraph_captured"] == [1, 2, 4, 8, 16, 32] == facts["cudagraph_batches"]


@pytest.mark.parametrize(
    ("dtype", "rel", "rel_padded"),
    # Same dtype, same kernels: equal, or near it where cuDNN picks another algorithm for a
    # padded batch (this network's standardised classifier magnifies any difference).
    [("fp32", 1e-3, 1e-3), ("bf16", 2e-2, 5e-2)],
)
def test_cudagraph_matches_eager_same_dtype(
    base_model: nn.Module, batch: np.ndarray, dtype: str, rel: float, rel_padded: float
) -> None:
    with make(base_model, dtype) as eager:
        expected = eager.predict(batch)
        padded = {n: eager.predict(batch[:n]) for n in (5, 20)}
    with make(base_model, dtype, mode="cudagraph", cudagraph_batches=(8, 32)) as graphs:
        graphs.warmup(batch[:1])
        assert graphs.describe()["cudagraph_captured"] == [8, 32]
        out = graphs.predict(batch)  # two exact batches of 32
        agree = compare_class_logits(expected, out)
        assert agree.max_rel_error <= rel and agree.top1_agreement == 1.0, agree.line()
        for n, want in padded.items():  # 5 -> graph 8, 20 -> graph 32, zero padded
            agree = compare_class_logits(want, graphs.predict(batch[:n]), k=1)
            assert agree.max_rel_error <= rel_padded, agree.line()
        # larger than the largest graph: chunks of 32 inside predict_tensor
        x = torch.from_numpy(batch).cuda()
        big = graphs.predict_tensor(torch.cat([x, x[:8]]))
        assert big.shape == (N_IMAGES + 8, 1000)
        np.testing.assert_array_equal(big[:N_IMAGES].cpu().numpy(), out)


def test_cudagraph_outputs_survive_the_next_replay_and_capture_is_lazy(
    base_model: nn.Module, batch: np.ndarray
) -> None:
    with make(base_model, "fp16", mode="cudagraph") as backend:
        x = torch.from_numpy(batch).cuda()
        first = backend.predict_tensor(x[:3])  # captures graph 4 only
        assert backend.describe()["cudagraph_captured"] == [4]
        kept = first.clone()
        backend.predict_tensor(x[3:7])  # replays the same graph with other images
        assert torch.equal(first, kept)


@pytest.mark.parametrize(
    ("dtype", "mode"), [("fp32", "eager"), ("bf16", "eager"), ("fp16", "cudagraph")]
)
def test_predict_tensor_on_device(
    base_model: nn.Module, batch: np.ndarray, dtype: str, mode: str
) -> None:
    with make(base_model, dtype, mode=mode, channels_last=True) as backend:
        x = torch.from_numpy(batch[:16]).cuda()
        out = backend.predict_tensor(x)
        assert out.device == backend.device and out.dtype == torch.float32
        assert out.shape == (16, 1000)
        np.testing.assert_array_equal(out.cpu().numpy(), backend.predict(batch[:16]))
        # any float dtype: cast inside (fp64 -> 16-bit rounds like fp32 -> 16-bit here)
        if dtype != "fp32":
            again = backend.predict_tensor(x.double())
            np.testing.assert_array_equal(again.cpu().numpy(), out.cpu().numpy())
        with pytest.raises(DataError, match="on cpu"):
            backend.predict_tensor(x.cpu())


def test_tf32_flags_follow_the_backend(base_model: nn.Module, batch: np.ndarray) -> None:
    with make(base_model, "tf32") as tf32, make(base_model, "fp32") as fp32:
        tf32.predict(batch[:2])
        assert torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "high"
        fp32.predict(batch[:2])
        assert not torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "highest"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dtype", "kwargs"),
    [("fp32", {}), ("fp16", {"fold_bn": True, "channels_last": True})],
    ids=["fp32", "fp16-fold-channels_last"],
)
def test_compiled_agrees_with_fp32_eager(
    base_model: nn.Module, batch: np.ndarray, reference: np.ndarray, dtype: str, kwargs: Any
) -> None:
    with make(base_model, dtype, mode="compile", **kwargs) as backend:
        out = backend.predict(batch)
        assert backend.predict(batch[:5]).shape == (5, 1000)  # dynamic batch size
    LIMITS[dtype].check(compare_class_logits(reference, out))


@pytest.mark.slow
def test_max_autotune_agrees_and_outputs_are_not_overwritten(
    base_model: nn.Module, batch: np.ndarray, reference: np.ndarray
) -> None:
    """max-autotune uses inductor's CUDA graphs, which reuse output memory on the next call."""
    with make(base_model, "fp16", mode="max-autotune", channels_last=True) as backend:
        out = backend.predict(batch)
        x = torch.from_numpy(batch).cuda()
        first = backend.predict_tensor(x[:MAX_BATCH])
        kept = first.clone()
        backend.predict_tensor(x[MAX_BATCH:])
        assert torch.equal(first, kept)
    HALF.check(compare_class_logits(reference, out))


@pytest.fixture(scope="module")
def trained_net() -> nn.Module:
    from tests import trained_cnn

    return trained_cnn.trained()


@pytest.mark.parametrize(
    ("dtype", "kwargs"),
    VARIANTS,
    ids=[f"{d}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'eager'}" for d, kw in VARIANTS],
)
def test_variant_keeps_a_trained_networks_accuracy(
    trained_net: nn.Module, dtype: str, kwargs: Any
) -> None:
    """The same variants on a network trained in the test (tests/trained_cnn.py), whose logits
    mean something: every variant must keep 99% of the fp32 accuracy and agree on top-1 for
    nearly every sample (on the CPU, bf16 agrees on 100% of 512 samples, cosine min 0.9997)."""
    from tests import trained_cnn

    x, y = trained_cnn.samples(512, seed=1)
    with torch.no_grad():
        ref = trained_net(x)
    cfg = TorchBackendConfig(device="cuda", dtype=dtype, max_batch=64, **kwargs)
    with TorchBackend(copy.deepcopy(trained_net), cfg, random_weights=False) as backend:
        backend.warmup(x[:64].numpy())
        out = backend.predict(x.numpy())
    assert trained_cnn.accuracy(torch.from_numpy(out), y) >= 0.99 * trained_cnn.accuracy(ref, y)
    agree = compare_class_logits(ref.numpy(), out, k=3)
    assert not agree.degenerate and agree.top1_agreement >= 0.98, agree.line()
