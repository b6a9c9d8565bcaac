"""BERT on CUDA (skipped without a GPU): 16-bit logits against fp32 at the logit level, the
trimmed batch against the 384-padded one, and the compiled model against eager."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from inferlab.backends.torch.backend import TorchBackend  # noqa: E402
from inferlab.backends.torch.config import TorchBackendConfig  # noqa: E402
from inferlab.benchmarks.bert.logits import compare_logits  # noqa: E402
from inferlab.benchmarks.bert.model import BertConfig, build_bert_qa  # noqa: E402

pytestmark = pytest.mark.gpu


def _batch(lengths: list[int], width: int = 384) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((len(lengths), 3, width), np.int32)
    for i, n in enumerate(lengths):
        x[i, 0, :n] = rng.integers(1000, 30000, n)
        x[i, 1, :n] = 1
        x[i, 2, n // 3 : n] = 1
    return x


def _backend(dtype: str, device: str = "cuda", compile_: bool = False) -> TorchBackend:
    torch.manual_seed(0)
    model = build_bert_qa(BertConfig(num_hidden_layers=4))
    cfg = TorchBackendConfig(device=device, dtype=dtype, max_batch=64, compile=compile_)
    return TorchBackend(model, cfg, random_weights=True)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_16_bit_logits_agree_with_fp32(dtype: str) -> None:
    lengths = [384, 301, 200, 97, 64, 150, 222, 380]
    x = _batch(lengths)
    ref = _backend("fp32", "cpu").predict(x)
    got = _backend(dtype).predict(x)
    agree = compare_logits(ref, got, np.array(lengths))
    assert agree.nonfinite == 0
    assert agree.cosine_min > 0.99, agree.line()


def test_trimmed_batch_equals_padded_on_cuda() -> None:
    lengths = [120, 97, 64, 88]
    be = _backend("bf16")
    full = be.predict(_batch(lengths))
    trimmed = be.predict(_batch(lengths)[:, :, :120])
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(full[i, :n], trimmed[i, :n], rtol=0.02, atol=0.02)


def test_compiled_matches_eager() -> None:
    x = _batch([200, 150, 128, 64])[:, :, :200]
    eager = _backend("bf16").predict(x)
    compiled = _backend("bf16", compile_=True).predict(x)
    agree = compare_logits(eager, compiled, np.array([200, 150, 128, 64]))
    assert agree.cosine_min > 0.999, agree.line()
