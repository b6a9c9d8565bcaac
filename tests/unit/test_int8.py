"""The CPU int8 path: post-training static quantization calibrated on given batches, its logits
against fp32 on a non-degenerate reference, the facts it records, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from inferlab.backends.torch.backend import TorchBackend  # noqa: E402
from inferlab.backends.torch.config import TorchBackendConfig  # noqa: E402
from inferlab.benchmarks.resnet50.model import build_resnet50  # noqa: E402
from inferlab.core.errors import ConfigError, ModelError  # noqa: E402
from inferlab.metrics.class_logits import compare_class_logits  # noqa: E402
from inferlab.models.fuse import recalibrate_batchnorm  # noqa: E402


def _model_and_inputs() -> tuple[torch.nn.Module, np.ndarray]:
    torch.manual_seed(0)
    model = build_resnet50(num_classes=1000, width=8, layers=(1, 1, 1, 1)).eval()
    x = torch.randn(64, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    recalibrate_batchnorm(model, x[:32], classifier="fc")  # a non-degenerate reference
    return model, x.numpy()


def test_int8_logits_follow_fp32_and_the_calibration_is_recorded() -> None:
    model, x = _model_and_inputs()
    ref = TorchBackend(model, TorchBackendConfig(max_batch=16), random_weights=True)
    want = ref.predict(x[32:])
    facts = {"source": "test batches", "count": 32}
    q = TorchBackend(
        model,
        TorchBackendConfig(max_batch=16, dtype="int8"),
        random_weights=True,
        calibration=([x[:16], x[16:32]], facts),
    )
    got = q.predict(x[32:])
    agree = compare_class_logits(want, got)
    assert not agree.degenerate
    assert agree.cosine_mean > 0.9 and agree.topk_overlap > 0.4
    d = q.describe()
    assert d["dtype"] == "int8" and d["quantization"]["calibration"]["samples_seen"] == 32
    assert d["quantization"]["calibration"]["source"] == "test batches"
    assert "int8" in d["quantization"]["scheme"]


def test_int8_refusals_name_the_fix() -> None:
    model, _ = _model_and_inputs()
    with pytest.raises(ModelError, match="calibration"):
        TorchBackend(model, TorchBackendConfig(dtype="int8"), random_weights=True)
    with pytest.raises(ConfigError, match="eager only"):
        TorchBackendConfig(dtype="int8", mode="compile").check_static()
