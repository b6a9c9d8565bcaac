"""The 8-bit GEMM path on CUDA (skipped without a GPU; fp8 also without compute capability 8.9):
a network trained in the test keeps 99% of its fp32 accuracy in fp8 and int8, in every torch
mode, and a full-size ResNet-50 converts all of its pointwise convolutions.

Not yet run on a GPU (written on a CPU-only machine, where tests/unit/test_gemm8.py checks the
same arithmetic through PyTorch's CPU kernels)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from inferlab.backends.torch.backend import TorchBackend  # noqa: E402
from inferlab.backends.torch.config import TorchBackendConfig  # noqa: E402
from inferlab.benchmarks.resnet50.model import build_resnet50  # noqa: E402
from inferlab.metrics.class_logits import compare_class_logits  # noqa: E402
from tests import trained_cnn  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _fp8_capable() -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    return trained_cnn.trained()


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, torch.Tensor]:
    x, y = trained_cnn.samples(512, seed=1)
    return x.numpy(), y


def _calibration() -> tuple[list[np.ndarray], dict[str, Any]]:
    x = trained_cnn.samples(64, seed=7)[0].numpy()
    return [x[:32], x[32:]], {"source": "test batches", "count": 64, "closed_division": False}


CASES = [
    ("fp8", "eager"),
    ("fp8", "cudagraph"),
    ("fp8", "compile"),
    ("int8", "eager"),
    ("int8", "cudagraph"),
    ("int8", "compile"),
]


@pytest.mark.parametrize(("dtype", "mode"), CASES, ids=[f"{d}-{m}" for d, m in CASES])
def test_a_trained_network_keeps_99_percent_of_its_accuracy(
    trained: nn.Module, held_out: tuple[np.ndarray, torch.Tensor], dtype: str, mode: str
) -> None:
    if dtype == "fp8" and not _fp8_capable():
        pytest.skip("fp8 GEMMs need compute capability 8.9 or newer")
    x, y = held_out
    with torch.no_grad():
        ref = trained(torch.from_numpy(x))
    cfg = TorchBackendConfig(
        device="cuda", dtype=dtype, max_batch=64, fold_bn=True, channels_last=True, mode=mode
    )
    with TorchBackend(
        copy.deepcopy(trained), cfg, random_weights=False, calibration=_calibration()
    ) as backend:
        backend.warmup(x[:64])
        out = backend.predict(x)
        assert backend.predict(x[:5]).shape == (5, trained_cnn.CLASSES)  # a partial batch
        facts = backend.describe()["quantization"]
    assert facts["format"] == dtype and facts["layers_8bit"] == 12
    assert trained_cnn.accuracy(torch.from_numpy(out), y) >= 0.99 * trained_cnn.accuracy(ref, y)
    agree = compare_class_logits(ref.numpy(), out, k=3)
    assert not agree.degenerate and agree.top1_agreement >= 0.97, agree.line()


@pytest.mark.parametrize("dtype", ["fp8", "int8"])
def test_resnet50_converts_every_pointwise_convolution(dtype: str) -> None:
    if dtype == "fp8" and not _fp8_capable():
        pytest.skip("fp8 GEMMs need compute capability 8.9 or newer")
    torch.manual_seed(0)
    model = build_resnet50().eval()
    x = torch.randn(8, 3, 224, 224).numpy()
    cfg = TorchBackendConfig(
        device="cuda", dtype=dtype, max_batch=8, fold_bn=True, channels_last=True
    )
    cal = ([x], {"source": "random images", "count": 8, "closed_division": False})
    with TorchBackend(model, cfg, random_weights=True, calibration=cal) as backend:
        out = backend.predict(x)
        facts = backend.describe()["quantization"]
    # 16 bottlenecks x 2 pointwise convs + 4 downsampling convs; the stem, the 3x3 convs and
    # the classifier stay bf16
    assert facts["layers_8bit"] == 36 and facts["layers_kept"] == []
    assert out.shape == (8, 1000) and np.isfinite(out).all()
    assert facts["logit_check"]["degenerate"]  # random weights: said, not hidden
