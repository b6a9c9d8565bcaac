"""The 8-bit GEMM path for pointwise convolutions (fp8 through torch._scaled_mm, int8 through
torch._int_mm): per layer against the fp32 convolution, on a trained network by task accuracy,
through the torch backend (facts and logit check in describe()), and its refusals. PyTorch runs
both kernels on the CPU, so the arithmetic is checked here; speed needs a GPU (benchmarks/)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests import trained_cnn  # noqa: E402
from torch import nn  # noqa: E402

from inferlab.backends.torch import gemm8  # noqa: E402
from inferlab.backends.torch.backend import TorchBackend  # noqa: E402
from inferlab.backends.torch.config import TorchBackendConfig  # noqa: E402
from inferlab.backends.torch.gemm8 import (  # noqa: E402
    Gemm8Conv1x1,
    InputRange,
    pointwise_convs,
    quantize_pointwise,
)
from inferlab.benchmarks.resnet50.model import build_resnet50  # noqa: E402
from inferlab.core.errors import ConfigError, ModelError, UnsupportedError  # noqa: E402
from inferlab.metrics.class_logits import compare_class_logits  # noqa: E402
from inferlab.models.fuse import fold_batchnorm  # noqa: E402

# Relative error (Frobenius) of one layer against fp32: fp8 e4m3 keeps 3 mantissa bits
# (~3.6% measured), int8 with a calibrated clip ~0.6%.
LAYER_LIMIT = {"fp8": 0.06, "int8": 0.015}


def _range_of(x: torch.Tensor, fmt: str) -> InputRange:
    rng = InputRange()
    rng.add(x, fmt == "int8", torch.Generator().manual_seed(0))
    return rng


def _rel(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.float() - want).norm() / want.norm())


@pytest.mark.parametrize("fmt", ["fp8", "int8"])
@pytest.mark.parametrize("stride", [1, 2])
def test_one_layer_follows_the_fp32_convolution(fmt: str, stride: int) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 48, 1, stride=stride, bias=True).eval()
    x = torch.relu(torch.randn(3, 32, 9, 9)).contiguous(memory_format=torch.channels_last)
    layer = Gemm8Conv1x1(conv, fmt, _range_of(x, fmt), torch.bfloat16)
    with torch.no_grad():
        want = conv(x)
        got = layer(x.bfloat16())
        plain = layer(x.bfloat16().contiguous())  # NCHW input: same numbers, via a copy
    assert got.shape == want.shape and got.dtype == torch.bfloat16
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert _rel(got, want) < LAYER_LIMIT[fmt]
    assert _rel(got, want) > 1e-4  # it is quantized: not the fp32 result by another route
    assert torch.equal(plain, got)


def test_int8_uses_all_codes_for_inputs_never_negative_and_symmetric_codes_otherwise() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(16, 16, 1).eval()
    relu_in = torch.relu(torch.randn(2, 16, 8, 8))
    signed_in = torch.randn(2, 16, 8, 8)
    unsigned = Gemm8Conv1x1(conv, "int8", _range_of(relu_in, "int8"), torch.float32)
    signed = Gemm8Conv1x1(conv, "int8", _range_of(signed_in, "int8"), torch.float32)
    assert unsigned.zero_point == -128 and signed.zero_point == 0
    with torch.no_grad():
        assert _rel(unsigned(relu_in), conv(relu_in)) < LAYER_LIMIT["int8"]
        assert _rel(signed(signed_in), conv(signed_in)) < LAYER_LIMIT["int8"]
        # the signed layer on ReLU inputs wastes half its codes: measurably worse
        assert _rel(signed(relu_in), conv(relu_in)) > _rel(unsigned(relu_in), conv(relu_in))


def test_int8_runs_batches_smaller_than_the_kernels_row_minimum() -> None:
    conv = nn.Conv2d(16, 16, 1).eval()
    x = torch.relu(torch.randn(1, 16, 2, 2))  # 4 rows < 17
    layer = Gemm8Conv1x1(conv, "int8", _range_of(x, "int8"), torch.float32)
    with torch.no_grad():
        assert _rel(layer(x), conv(x)) < LAYER_LIMIT["int8"]


@pytest.mark.parametrize("fmt", ["fp8", "int8"])
def test_a_dtype_cast_of_the_model_keeps_the_8bit_weights_and_scales_exact(fmt: str) -> None:
    conv = nn.Conv2d(16, 32, 1).eval()
    x = torch.relu(torch.randn(2, 16, 4, 4))
    layer = Gemm8Conv1x1(conv, fmt, _range_of(x, fmt), torch.bfloat16)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    layer.to(dtype=torch.float16)
    after = layer.state_dict()
    for name, tensor in before.items():
        assert after[name].dtype == tensor.dtype, name
        assert torch.equal(after[name].float(), tensor.float()), name


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    return trained_cnn.trained()


@pytest.fixture(scope="module")
def held_out() -> tuple[torch.Tensor, torch.Tensor]:
    return trained_cnn.samples(512, seed=1)


@pytest.mark.parametrize("fmt", ["fp8", "int8"])
def test_a_trained_network_keeps_its_accuracy(
    trained: nn.Module, held_out: tuple[torch.Tensor, torch.Tensor], fmt: str
) -> None:
    """MLPerf's closed-division bar is 99% of the fp32 accuracy; the quantized network here must
    meet it on held-out samples, calibrated on 64 others."""
    x, y = held_out
    folded = fold_batchnorm(trained)
    with torch.no_grad():
        ref = folded(x)
    base = trained_cnn.accuracy(ref, y)
    assert base > 0.85  # the network learned the task: the comparison means something
    calibration = [trained_cnn.samples(64, seed=7)[0]]
    q, facts = quantize_pointwise(copy.deepcopy(folded), fmt, calibration, out_dtype=torch.bfloat16)
    assert facts["layers_8bit"] == len(pointwise_convs(folded)) == 12
    assert facts["layers_kept"] == [] and facts["samples_seen"] == 64
    with torch.no_grad():
        out = q(x.bfloat16())
    assert trained_cnn.accuracy(out, y) >= 0.99 * base
    agree = compare_class_logits(ref.numpy(), out.float().numpy(), k=3)
    assert not agree.degenerate
    assert agree.top1_agreement >= 0.97 and agree.cosine_mean >= 0.99


def test_layers_the_kernels_cannot_run_are_kept_and_named() -> None:
    model = build_resnet50(num_classes=10, width=8, layers=(1, 1, 1, 1)).eval()
    x = torch.randn(4, 3, 32, 32)
    q, facts = quantize_pointwise(copy.deepcopy(model), "fp8", [x], out_dtype=torch.bfloat16)
    kept = {k["layer"] for k in facts["layers_kept"]}
    assert kept == {"layer1.0.conv1", "layer1.0.conv3", "layer1.0.downsample.0"}
    assert all("multiples of 16" in k["why"] for k in facts["layers_kept"])
    assert isinstance(q.get_submodule("layer1.0.conv1"), nn.Conv2d)
    assert isinstance(q.get_submodule("layer2.0.conv1"), Gemm8Conv1x1)
    assert q.get_submodule("layer1.0.conv1").weight.dtype == torch.bfloat16
    with torch.no_grad():
        assert torch.isfinite(q(x.bfloat16())).all()


def test_refusals_name_the_fix() -> None:
    no_pointwise = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU()).eval()
    with pytest.raises(ModelError, match="no pointwise convolution"):
        quantize_pointwise(no_pointwise, "fp8", [torch.randn(1, 3, 8, 8)], out_dtype=torch.bfloat16)
    model = build_resnet50(num_classes=10, width=16, layers=(1, 1, 1, 1)).eval()
    with pytest.raises(ModelError, match="no calibration inputs"):
        quantize_pointwise(model, "int8", [], out_dtype=torch.bfloat16)
    with pytest.raises(ModelError, match="non-finite values"):
        quantize_pointwise(
            model, "fp8", [torch.full((1, 3, 32, 32), float("nan"))], out_dtype=torch.bfloat16
        )
    with pytest.raises(ModelError, match="use one of fp8, int8"):
        quantize_pointwise(model, "int4", [torch.randn(1, 3, 32, 32)], out_dtype=torch.bfloat16)


def test_a_kernel_that_fails_on_the_device_is_unsupported_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise RuntimeError("Multiplication of two Float8_e4m3fn matrices is only supported ...")

    monkeypatch.setattr(torch, "_scaled_mm", refuse)
    with pytest.raises(UnsupportedError, match="compute capability 8.9") as info:
        gemm8.check_kernel("fp8", torch.device("cpu"))
    assert "--dtype bf16" in str(info.value.fix)
    gemm8.check_kernel("int8", torch.device("cpu"))  # the other kernel still runs


def _cal(n: int = 32) -> tuple[list[np.ndarray], dict[str, object]]:
    x = trained_cnn.samples(n, seed=7)[0].numpy()
    return [x[:16], x[16:]], {"source": "test batches", "count": n, "closed_division": False}


@pytest.mark.parametrize("mode", ["eager", "compile"])
def test_the_torch_backend_runs_fp8_and_records_what_it_did(
    trained: nn.Module, held_out: tuple[torch.Tensor, torch.Tensor], mode: str, tmp_path: object
) -> None:
    x, y = held_out
    cfg = TorchBackendConfig(
        dtype="fp8",
        max_batch=64,
        fold_bn=True,
        channels_last=True,
        mode=mode,
        compile_cache_dir=str(tmp_path) if mode == "compile" else None,
    )
    backend = TorchBackend(copy.deepcopy(trained), cfg, random_weights=False, calibration=_cal())
    got = backend.predict(x[:128].numpy())
    with torch.no_grad():
        want = trained(x[:128]).numpy()
    assert got.dtype == np.float32 and got.shape == want.shape
    agree = compare_class_logits(want, got, k=3)
    assert agree.top1_agreement >= 0.97, agree.line()
    q = backend.describe()["quantization"]
    assert q["format"] == "fp8" and q["layers_8bit"] == 12 and "torch._scaled_mm" in q["scheme"]
    assert q["calibration"] == {
        "source": "test batches",
        "count": 32,
        "closed_division": False,
        "samples_seen": 32,
    }
    check = q["logit_check"]
    assert check["n_samples"] == 32 and not check["degenerate"] and check["against"] == "fp32"
    assert check["top1_agreement"] >= 0.9
    assert backend.describe()["dtype"] == "fp8"


def test_the_torch_backend_refuses_fp8_without_calibration(trained: nn.Module) -> None:
    with pytest.raises(ModelError, match="calibration"):
        TorchBackend(copy.deepcopy(trained), TorchBackendConfig(dtype="fp8"), random_weights=False)


def test_config_routes_int8_by_device_and_checks_modes() -> None:
    assert TorchBackendConfig(dtype="fp8").gemm8_format == "fp8"
    assert TorchBackendConfig(device="cuda", dtype="int8").gemm8_format == "int8"
    assert TorchBackendConfig(dtype="int8").gemm8_format is None  # torch.ao on the CPU
    assert TorchBackendConfig(dtype="bf16").gemm8_format is None
    TorchBackendConfig(device="cuda", dtype="int8", mode="cudagraph").check_static()
    TorchBackendConfig(device="cuda", dtype="fp8", mode="max-autotune").check_static()
    with pytest.raises(ConfigError, match="eager only"):
        TorchBackendConfig(dtype="int8", mode="compile").check_static()


def test_int8_gemms_compile_with_only_the_batch_dynamic(trained: nn.Module) -> None:
    """What the backend does in its compile modes (int8 goes this way on CUDA): inductor with the
    batch dimension marked dynamic, batch sizes whose row counts fall below _int_mm's minimum
    included (a branch on the row count would specialise the batch and fail the mark)."""
    folded = fold_batchnorm(trained)
    calibration = [trained_cnn.samples(32, seed=7)[0]]
    q, _ = quantize_pointwise(folded, "int8", calibration, out_dtype=torch.bfloat16)
    q = q.to(memory_format=torch.channels_last)
    compiled = torch.compile(q, dynamic=False)
    for n in (16, 1, 5):  # layer4 has 1x1 pixels at 32 px: 16, 1 and 5 rows
        x = trained_cnn.samples(n, seed=2)[0].bfloat16()
        x = x.contiguous(memory_format=torch.channels_last)
        torch._dynamo.mark_dynamic(x, 0)
        with torch.inference_mode():
            got, want = compiled(x).float(), q(x).float()
        assert got.shape == want.shape == (n, trained_cnn.CLASSES)
        agree = compare_class_logits(want.numpy(), got.numpy(), k=1)
        assert agree.max_rel_error < 0.05, agree.line()
