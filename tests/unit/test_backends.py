"""TorchBackend on a tiny ResNet, its config validation, and the NullBackend."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from inferlab.backends.null.backend import NullBackend
from inferlab.backends.torch.config import TorchBackendConfig
from inferlab.core.errors import ConfigError, UnsupportedError

pytest.importorskip("torch")

import torch  # noqa: E402

from inferlab.backends.torch.backend import TorchBackend  # noqa: E402
from inferlab.benchmarks.resnet50.model import build_resnet50  # noqa: E402

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
no_cuda = pytest.mark.skipif(HAS_CUDA, reason="checks the error on a machine without CUDA")


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_resnet50(10, width=8, layers=(1, 1, 1, 1))


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32), dtype=np.float32)


def reference(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.float().eval()(torch.from_numpy(x)).numpy()


# ---- TorchBackend -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 4])
def test_fp32_equals_model_exactly(n: int) -> None:
    x = images(n)
    expected = reference(tiny_model(), x)
    backend = TorchBackend(tiny_model(), TorchBackendConfig(max_batch=8), random_weights=True)
    out = backend.predict(x)
    assert out.dtype == np.float32 and out.shape == (n, 10)
    np.testing.assert_array_equal(out, expected)


def test_bf16_close_to_fp32() -> None:
    x = images(4)
    expected = reference(tiny_model(), x)
    cfg = TorchBackendConfig(dtype="bf16", max_batch=4)
    out = TorchBackend(tiny_model(), cfg, random_weights=True).predict(x)
    assert out.dtype == np.float32 and out.shape == (4, 10)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(out, expected, atol=0.1 * scale, rtol=0.1)


def test_batches_larger_than_max_batch_are_chunked() -> None:
    x = images(5)
    backend = TorchBackend(tiny_model(), TorchBackendConfig(max_batch=2), random_weights=False)
    out = backend.predict(x)
    assert out.shape == (5, 10)
    np.testing.assert_allclose(out, reference(tiny_model(), x), rtol=1e-5, atol=1e-5)


def test_channels_last_matches() -> None:
    x = images(2)
    cfg = TorchBackendConfig(max_batch=2, channels_last=True)
    out = TorchBackend(tiny_model(), cfg, random_weights=True).predict(x)
    np.testing.assert_allclose(out, reference(tiny_model(), x), rtol=1e-4, atol=1e-4)


def test_capabilities_and_describe() -> None:
    before = torch.get_num_threads()
    try:
        cfg = TorchBackendConfig(max_batch=16, threads=2)
        with TorchBackend(tiny_model(), cfg, random_weights=True) as backend:
            caps = backend.capabilities
            assert caps.device == "cpu" and caps.max_batch == 16 and caps.preferred_batch == 16
            assert caps.needs_inputs and caps.random_weights
            facts = backend.describe()
            assert facts["device"] == "cpu" and facts["dtype"] == "fp32"
            assert facts["torch_version"] == torch.__version__ and facts["threads"] == 2
            assert "cuda_device_name" not in facts
            backend.warmup(images(1))
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"device": "gpu"},
        {"device": "cuda:x"},
        {"dtype": "int4"},
        {"dtype": "float32"},
        {"max_batch": 0},
        {"threads": 0},
    ],
)
def test_config_rejects(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as info:
        TorchBackendConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.fix and "\n" not in str(info.value)


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_unsupported(device: str) -> None:
    with pytest.raises(UnsupportedError, match="--device cpu"):
        TorchBackend(tiny_model(), TorchBackendConfig(device=device), random_weights=True)


def test_fp16_on_cpu_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="bf16"):
        TorchBackend(tiny_model(), TorchBackendConfig(dtype="fp16"), random_weights=True)


@pytest.mark.gpu
@needs_cuda
def test_cuda_index_beyond_device_count() -> None:
    device = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ConfigError, match="does not exist"):
        TorchBackend(tiny_model(), TorchBackendConfig(device=device), random_weights=True)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_cuda_predict_close_to_cpu(dtype: str) -> None:
    x = images(3)
    expected = reference(tiny_model(), x)
    cfg = TorchBackendConfig(device="cuda", dtype=dtype, max_batch=4)
    with TorchBackend(tiny_model(), cfg, random_weights=True) as backend:
        out = backend.predict(x)
        facts = backend.describe()
    assert out.dtype == np.float32 and out.shape == (3, 10)
    assert facts["device"].startswith("cuda:") and facts["cuda_device_name"]
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(out, expected, atol=0.1 * scale, rtol=0.1)


# ---- NullBackend --------------------------------------------------------------------------


def test_null_shapes_and_dtype() -> None:
    backend = NullBackend((1000,), max_batch=8)
    caps = backend.capabilities
    assert caps.device == "cpu" and not caps.needs_inputs and caps.max_batch == 8
    for n in (1, 8):
        out = backend.predict(np.arange(n))
        assert out.shape == (n, 1000) and out.dtype == np.float32 and not out.any()
    out = NullBackend((2, 3), output_dtype="int64").predict(np.zeros((4, 3, 8, 8), np.float32))
    assert out.shape == (4, 2, 3) and out.dtype == np.int64
    assert backend.describe()["output_shape"] == [1000]


def test_null_outputs_are_views_of_one_buffer() -> None:
    backend = NullBackend((1000,), max_batch=64)
    a, b = backend.predict(np.arange(3)), backend.predict(np.arange(64))
    assert np.shares_memory(a, b)
    assert not a.flags.writeable


def test_null_predict_does_not_allocate_per_call() -> None:
    backend = NullBackend((1000,), max_batch=256)
    samples = np.arange(256)
    backend.predict(samples)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for i in range(2000):
            backend.predict(samples[: 1 + i % 256])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # one batch of output is 256 * 1000 * 4 bytes = 1 MB; a few KB of bookkeeping is fine
    assert peak - base < 16_384


def test_null_buffer_grows_once() -> None:
    backend = NullBackend((4,), max_batch=2)
    out = backend.predict(np.arange(5))
    assert out.shape == (5, 4) and backend.capacity >= 5
    capacity = backend.capacity
    backend.predict(np.arange(3))
    assert backend.capacity == capacity


@pytest.mark.parametrize(
    "kwargs",
    [
        {"output_shape": (0,)},
        {"output_shape": (1000,), "output_dtype": "nope"},
        {"output_shape": (1000,), "max_batch": 0},
    ],
)
def test_null_config_rejects(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        NullBackend(**kwargs)  # type: ignore[arg-type]
