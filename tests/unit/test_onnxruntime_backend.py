"""ONNX Runtime backend with BERT's ONNX adapter, on a tiny BERT exported by the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from inferlab.backends.onnxruntime.backend import OrtBackend  # noqa: E402
from inferlab.backends.onnxruntime.config import OrtBackendConfig  # noqa: E402
from inferlab.benchmarks.bert.model import BertConfig, build_bert_qa  # noqa: E402
from inferlab.benchmarks.bert.task import BertOnnxIO  # noqa: E402
from inferlab.core.errors import ModelError  # noqa: E402

TINY = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


class _Graph(torch.nn.Module):
    """The reference export's interface: three int64 inputs, start and end logits out."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, input_mask, segment_ids):  # type: ignore[no-untyped-def]
        x = torch.stack([input_ids, input_mask, segment_ids], 1)
        out = self.model.logits(x, has_padding=True)
        return out[..., 0], out[..., 1]


def export_tiny(path: Path, seed: int = 0, names=("input_ids", "input_mask", "segment_ids")):  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    model = build_bert_qa(TINY).eval()
    x = torch.randint(1000, 2000, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 9:] = 0
    axes = {n: {0: "batch", 1: "seq"} for n in (*names, "start_logits", "end_logits")}
    torch.onnx.export(
        _Graph(model), (x, mask, torch.zeros_like(x)), str(path), input_names=list(names),
        output_names=["start_logits", "end_logits"], dynamic_axes=axes, dynamo=False,
    )  # fmt: skip
    return model


def _batch(lengths: list[int], width: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = np.zeros((len(lengths), 3, width), np.int32)
    for i, n in enumerate(lengths):
        x[i, 0, :n] = rng.integers(1000, 30000, n)
        x[i, 1, :n] = 1
        x[i, 2, n // 2 : n] = 1
    return x


@pytest.mark.parametrize(
    "names", [("input_ids", "input_mask", "segment_ids"),
              ("input_ids", "attention_mask", "token_type_ids")],
)  # fmt: skip
def test_logits_match_torch_at_real_positions(tmp_path: Path, names: tuple[str, ...]) -> None:
    model = export_tiny(tmp_path / "m.onnx", names=names)
    backend = OrtBackend(tmp_path / "m.onnx", OrtBackendConfig(max_batch=3), BertOnnxIO())
    lengths = [40, 17, 33, 5, 40]
    x = _batch(lengths, 40)
    got = backend.predict(x)  # 5 > max_batch 3: run in two chunks
    with torch.inference_mode():
        ref = model(torch.from_numpy(x.astype(np.int64))).numpy()
    assert got.shape == (5, 40, 2) and got.dtype == np.float32
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(got[i, :n], ref[i, :n], rtol=1e-4, atol=1e-5)
    facts = backend.describe()
    assert facts["backend"] == "onnxruntime" and facts["inputs"] == list(names)


def test_bad_file_and_wrong_inputs_are_model_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        OrtBackend(bad, OrtBackendConfig(), BertOnnxIO())
    export_tiny(tmp_path / "odd.onnx", names=("ids", "mask", "seg"))
    backend = OrtBackend(tmp_path / "odd.onnx", OrtBackendConfig(), BertOnnxIO())
    with pytest.raises(ModelError, match="no input named input_ids"):
        backend.predict(_batch([8], 8))
