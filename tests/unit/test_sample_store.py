"""The device-resident sample store (run on the CPU device here): the batches it gathers equal
the host path's, bit for bit, for both ImageNet transforms and both memory formats; rows are
reused after unload; bad use fails clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.integration.imagenet_fixture import make_imagenet_dir  # noqa: E402

from inferlab.backends.torch.store import DeviceStore  # noqa: E402
from inferlab.benchmarks.resnet50.dataset import ImageNetDataset  # noqa: E402
from inferlab.benchmarks.resnet50.synthetic import SyntheticImageNet  # noqa: E402
from inferlab.core.errors import DataError, UnsupportedError  # noqa: E402
from inferlab.core.sample_store import HostStore, supports_device_store  # noqa: E402


@pytest.fixture(scope="module")
def imagenet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, _ = make_imagenet_dir(tmp_path_factory.mktemp("inet") / "val", 12, seed=3)
    return root


@pytest.mark.parametrize("transform", ["pytorch", "mean_only"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_device_batches_equal_host_batches(
    imagenet_dir: Path, transform: str, channels_last: bool
) -> None:
    host = ImageNetDataset(imagenet_dir, transform=transform)
    ref = ImageNetDataset(imagenet_dir, transform=transform)
    store = DeviceStore(host, "cpu", torch.float32, channels_last=channels_last, capacity=4)
    store.load(range(12))  # grows past the initial 4 slots
    ref.load(range(12))
    idx = np.array([5, 0, 11, 5, 3])
    got = store.gather(idx)
    want = ref.get_batch(idx)
    assert got.dtype == torch.float32 and tuple(got.shape) == want.shape
    assert got.is_contiguous(memory_format=torch.channels_last) == channels_last
    # same float32 operations in the same order: identical values
    assert np.array_equal(got.contiguous().numpy(), want)


def test_bf16_store_is_the_rounded_fp32_batch() -> None:
    ds = SyntheticImageNet(count=6, seed=1)
    store = DeviceStore(ds, "cpu", torch.bfloat16)
    store.load(range(6))
    ref = SyntheticImageNet(count=6, seed=1)
    ref.load(range(6))
    fp32 = torch.from_numpy(ref.get_batch(np.arange(6)))
    got = store.gather(np.arange(6))
    assert got.dtype == torch.bfloat16
    assert torch.equal(got.contiguous(), fp32.to(torch.bfloat16))


def test_unload_frees_rows_for_reuse_and_missing_samples_fail() -> None:
    ds = SyntheticImageNet(count=10, seed=2)
    ref = SyntheticImageNet(count=10, seed=2)
    store = DeviceStore(ds, "cpu", capacity=4, channels_last=False)
    store.load([0, 1, 2, 3])
    store.unload([1, 2])
    assert store.resident_count == 2
    store.load([7, 8])  # takes the two freed rows: no growth
    assert store._data is not None and store._data.shape[0] == 4
    ref.load([0, 3, 7, 8])
    idx = np.array([8, 0, 7, 3])
    assert np.array_equal(store.gather(idx).numpy(), ref.get_batch(idx))
    with pytest.raises(DataError, match=r"\[1\] were requested before they were loaded"):
        store.gather(np.array([0, 1]))


def test_store_predict_runs_the_backend_on_gathered_batches() -> None:
    from inferlab.backends.torch.backend import TorchBackend
    from inferlab.backends.torch.config import TorchBackendConfig
    from inferlab.benchmarks.resnet50.model import build_resnet50

    torch.manual_seed(0)
    model = build_resnet50(num_classes=10, width=8, layers=(1, 1, 1, 1))
    backend = TorchBackend(model, TorchBackendConfig(max_batch=4), random_weights=True)
    ds = SyntheticImageNet(count=5, seed=4)
    store = DeviceStore(ds, "cpu", backend.dtype)
    store.load(range(5))
    idx = np.array([4, 2, 0, 1, 3])
    got = store.predict(backend, idx)
    want = backend.predict(ds.get_batch(idx))
    assert got.dtype == np.float32 and got.shape == (5, 10)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_datasets_without_raw_samples_use_the_host_store() -> None:
    class Tokens:
        total_count = 3

        def load(self, indices: object) -> None: ...

        def unload(self, indices: object) -> None: ...

        def get_batch(self, indices: np.ndarray) -> np.ndarray:
            return np.zeros((len(indices), 4), np.int64)

    assert not supports_device_store(Tokens())
    assert supports_device_store(SyntheticImageNet(count=2, seed=0))
    with pytest.raises(UnsupportedError, match="sample_store=host"):
        DeviceStore(Tokens(), "cpu")
    host = HostStore(Tokens())  # type: ignore[arg-type]
    assert host.gather(np.array([0, 2])).shape == (2, 4)
