"""resnet50's ONNX variant on the onnxruntime backend: a tiny ResNet exported with the reference
file's interface (input_tensor:0 -> ArgMax:0, softmax_tensor:0; 1001 classes), run through the
runner, its logged labels checked against onnxruntime run directly on the same crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inferlab.loadgen.accuracy_log import decode_hex, iter_entries
from tests.integration.helpers import run_cfg

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


class _Graph(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):  # type: ignore[no-untyped-def]
        logits = self.model(x)
        return torch.argmax(logits, dim=1), torch.softmax(logits, dim=1)


def export_tiny_resnet(path: Path) -> None:
    from inferlab.benchmarks.resnet50.model import build_resnet50

    torch.manual_seed(0)
    model = build_resnet50(num_classes=1001, width=8, layers=(1, 1, 1, 1)).eval()
    x = torch.randn(2, 3, 224, 224) * 60
    torch.onnx.export(
        _Graph(model), (x,), str(path), input_names=["input_tensor:0"],
        output_names=["ArgMax:0", "softmax_tensor:0"],
        dynamic_axes={"input_tensor:0": {0: "n"}, "ArgMax:0": {0: "n"},
                      "softmax_tensor:0": {0: "n"}},
        dynamo=False,
    )  # fmt: skip


def test_onnx_variant_logs_the_graph_s_labels_minus_one(tmp_path: Path) -> None:
    from inferlab.benchmarks.resnet50.synthetic import SyntheticImageNet

    model = tmp_path / "resnet50_v1.onnx"
    export_tiny_resnet(model)
    r = run_cfg(
        tmp_path, [], benchmark="resnet50", backend="onnxruntime", model_path=model, count=16,
        calibrate=False, mode="accuracy", batch_size=8,
    )  # fmt: skip
    assert r["status"] == "ok" and r["benchmark"]["variant"]["name"] == "onnx"
    assert r["accuracy"]["status"] == "n/a-synthetic" and r["model"]["random_weights"] is False
    assert r["dataset"]["transform"] == "mean_only"
    logged = {
        e.qsl_idx: float(decode_hex(e.data, np.float32)[0])
        for e in iter_entries(Path(r["run_dir"]) / "mlperf_log_accuracy.json")
    }
    ds = SyntheticImageNet(count=16, seed=0, transform="mean_only")
    ds.load(list(range(16)))
    batch = ds.get_batch(np.arange(16))
    assert batch.shape == (16, 3, 224, 224) and batch.dtype == np.float32
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    argmax, softmax = sess.run(None, {"input_tensor:0": batch})
    assert np.array_equal(argmax, softmax.argmax(1))
    assert logged == {i: float(argmax[i] - 1) for i in range(16)}


def test_argmax_only_graph_becomes_one_hot_scores() -> None:
    from inferlab.benchmarks.resnet50.task import ResNetOnnxIO

    scores = ResNetOnnxIO().output([np.array([3, 1000], np.int64)], ["ArgMax:0"])
    assert scores.shape == (2, 1001) and scores[0, 3] == 1 and scores[1, 1000] == 1
    assert scores.sum() == 2
