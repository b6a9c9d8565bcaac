"""retinanet through the CLI and the real LoadGen, on its embedded default (a generated
OpenImages-layout set, labelled synthetic, and the tiny random RetinaNet at 800x800):

- Offline accuracy: every logged payload is float32 groups of 7 with the sample's own qsl index,
  equal to the network's detections for that image cut as the reference cuts them; accuracy.txt
  is what accuracy-openimages.py prints for the log (our emulation, and the official script when
  INFERLAB_OFFICIAL_INFERENCE points at a checkout); the annotations it needs are written;
- the ONNX variant through onnxruntime, with a stand-in graph of the official file's signature
  that answers the ground truth of the image: mAP 100 %, which proves the box path end to end;
- Offline performance VALID; SingleStream --quick; Server at a low offered load (VALID or
  INVALID on a busy CPU, stated); the 100 ms bound is LoadGen's retinanet key.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferlab.loadgen.accuracy_log import iter_entries
from tests.integration.helpers import cli, detail_errors

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")
pytest.importorskip("pycocotools")

SHORT = ["--set", "loadgen.min_duration=0"]


def _run(tmp_path: Path, *args: str) -> dict[str, Any]:
    proc = cli(
        "run", "retinanet", *args, "--out", str(tmp_path / "runs"), "--json",
        env={"INFERLAB_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _labelled_synthetic(res: dict[str, Any], status: tuple[str, ...] = ("ok",)) -> None:
    assert res["status"] in status, res.get("error") or res["result"]["invalid_reasons"]
    assert res["benchmark"]["variant"]["name"] == "tiny"
    assert res["flags"]["synthetic"] and res["flags"]["random_weights"]
    assert res["dataset"]["dataset_id"] == "synthetic-openimages"
    assert res["dataset"]["synthetic"] is True and res["dataset"]["path"] is None
    reasons = res["flags"]["not_submittable_because"]
    assert "synthetic data" in reasons and "random weights" in reasons
    if res["round"] not in ("v4.1", "v5.0", "v5.1", "v6.0"):  # a LoadGen after retinanet's last
        assert f"round {res['round']} has no retinanet benchmark" in reasons


def _masked(text: str) -> str:
    return re.sub(r"\(t=[0-9.]+s\)", "(t=...)", text)


def test_offline_accuracy_payloads_and_official_text(tmp_path: Path) -> None:
    from inferlab.benchmarks.retinanet.accuracy import openimages_map_from_log
    from inferlab.benchmarks.retinanet.model import TINY_SYNTHETIC, build_retinanet
    from inferlab.benchmarks.retinanet.postprocess import payload_rows
    from inferlab.benchmarks.retinanet.synthetic import SyntheticOpenImages

    # batch 1: each image runs alone, as the check below recomputes it
    res = _run(tmp_path, "--mode", "accuracy", "--count", "8", "--batch-size", "1",
               "--no-calibrate")  # fmt: skip
    _labelled_synthetic(res)
    run_dir = Path(res["run_dir"])
    acc = res["accuracy"]
    assert acc["status"] == "n/a-synthetic"
    assert acc["log"]["complete"] is True and acc["log"]["unique_samples"] == 8
    (metric,) = acc["metrics"]
    assert metric["metric"] == "mAP" and isinstance(metric["value"], float)
    assert acc["payload"]["dtype"] == "float32"

    # the log: float32 groups of 7, each row with the sample's qsl index
    logged = {
        e.qsl_idx: np.frombuffer(bytes.fromhex(e.data), np.float32).reshape(-1, 7)
        for e in iter_entries(run_dir / "mlperf_log_accuracy.json")
    }
    assert sorted(logged) == list(range(8))
    assert sum(len(r) for r in logged.values()) == acc["details"]["detections"] > 0
    for i, rows in logged.items():
        assert np.all(rows[:, 0] == i)
        assert np.all((rows[:, 1:5] >= 0) & (rows[:, 1:5] <= 1)) and np.all(rows[:, 5] >= 0.05)

    # ... equal to the run's network (seed 0) on those images, cut as the reference cuts them
    ds = SyntheticOpenImages(8, 0, tmp_path / "cache" / "preprocessed")
    ds.load(range(8))
    model = build_retinanet(TINY_SYNTHETIC, seed=0)
    with torch.inference_mode():
        for i in range(8):
            det = model(torch.from_numpy(ds.get_batch(np.array([i]))))[0].numpy()
            np.testing.assert_allclose(logged[i], payload_rows(i, det), rtol=1e-5, atol=1e-6)

    # accuracy.txt is accuracy-openimages.py's stdout for the log, against the written json
    assert acc["scoring_files"] == {"annotations": "annotations/openimages-mlperf.json"}
    ann = run_dir / "annotations" / "openimages-mlperf.json"
    text = (run_dir / "accuracy.txt").read_text()
    assert text.rstrip().endswith(f"mAP={metric['value']:.3f}%")
    again = openimages_map_from_log(run_dir / "mlperf_log_accuracy.json", ann)
    assert _masked(again.text) == _masked(text)
    official = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")
    if official:
        script = Path(official) / "vision/classification_and_detection/tools/accuracy-openimages.py"
        proc = subprocess.run(
            [sys.executable, str(script), "--mlperf-accuracy-file",
             str(run_dir / "mlperf_log_accuracy.json"), "--openimages-dir", str(run_dir),
             "--output-file", str(tmp_path / "official.json")],
            capture_output=True, text=True, cwd=tmp_path, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert _masked(proc.stdout) == _masked(text)


def _oracle_onnx(path: Path, index: int, seed: int = 0) -> int:
    """An ONNX graph with the official file's signature (input images [1, 3, 800, 800]; outputs
    boxes [N, 4] in input pixels, scores [N], labels [N] int64) that answers synthetic image
    ``index``'s ground truth, whatever the input. Returns N."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from inferlab.benchmarks.retinanet.dataset import synthetic_image

    img, truth = synthetic_image(seed, index)
    h, w = img.shape[:2]
    boxes = np.array(
        [[x * 800 / w, y * 800 / h, (x + bw) * 800 / w, (y + bh) * 800 / h]
         for _, (x, y, bw, bh) in truth],
        np.float32,
    )  # fmt: skip
    scores = np.linspace(0.9, 0.6, len(truth), dtype=np.float32)
    labels = np.array([cat for cat, _ in truth], np.int64)
    shapes: list[tuple[str, np.ndarray, int, list[str | int | None]]] = [
        ("boxes", boxes, TensorProto.FLOAT, ["N", 4]),
        ("scores", scores, TensorProto.FLOAT, ["N"]),
        ("labels", labels, TensorProto.INT64, ["N"]),
    ]
    nodes = [
        helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, f"{name}_c"))
        for name, arr, _, _ in shapes
    ]
    graph = helper.make_graph(
        nodes,
        "retinanet-oracle",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 800, 800])],
        [helper.make_tensor_value_info(n, t, shape) for n, _, t, shape in shapes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return len(truth)


def test_onnx_variant_boxes_reach_the_map_whole(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    onnx_file = tmp_path / "resnext50_32x4d_fpn.onnx"
    n = _oracle_onnx(onnx_file, 0)
    res = _run(
        tmp_path, "--backend", "onnxruntime", "--variant", "onnx", "--model-path",
        str(onnx_file), "--batch-size", "1", "--count", "1", "--mode", "accuracy",
        "--no-calibrate",
    )  # fmt: skip
    assert res["status"] == "ok" and res["benchmark"]["variant"]["name"] == "onnx"
    assert res["flags"]["synthetic"] and not res["flags"]["random_weights"]
    (entry,) = iter_entries(Path(res["run_dir"]) / "mlperf_log_accuracy.json")
    assert len(bytes.fromhex(entry.data)) == n * 7 * 4
    (metric,) = res["accuracy"]["metrics"]
    assert metric["value"] == pytest.approx(100.0)  # every ground-truth box found, exactly
    assert res["accuracy"]["status"] == "n/a-synthetic" and metric["passed"] is None

    # the same image in a folder that does not say it is generated, as a user's data would:
    # judged against the round's target (37.55 x 0.99) through the usual path
    from inferlab.benchmarks.retinanet.dataset import ANNOTATIONS, write_synthetic_openimages

    data = write_synthetic_openimages(tmp_path / "openimages", count=1, seed=0)
    doc = json.loads((data / ANNOTATIONS).read_text())
    doc["info"] = {"description": "not generated (test)"}
    (data / ANNOTATIONS).write_text(json.dumps(doc))
    real = _run(
        tmp_path, "--backend", "onnxruntime", "--variant", "onnx", "--model-path",
        str(onnx_file), "--batch-size", "1", "--dataset-path", str(data), "--mode", "accuracy",
        "--no-calibrate",
    )  # fmt: skip
    assert real["status"] == "ok" and not real["flags"]["synthetic"]
    assert real["dataset"]["dataset_id"] == "openimages-v6-mlperf"
    (judged,) = real["accuracy"]["metrics"]
    assert judged["value"] == pytest.approx(100.0) and judged["passed"] is True
    assert judged["threshold"] == pytest.approx(37.55 * 0.99)
    assert real["accuracy"]["status"] == "pass"
    assert "not a reference-accuracy claim" in real["accuracy"]["note"]  # 1 image of 24,781


def test_offline_performance_valid(tmp_path: Path) -> None:
    res = _run(tmp_path, "--count", "16", "--batch-size", "4", "--no-calibrate", *SHORT,
               "--set", "loadgen.min_query_count=16")  # fmt: skip
    _labelled_synthetic(res)
    assert res["result"]["validity"] == "VALID", res["result"]["invalid_reasons"]
    assert res["result"]["unit"] == "samples/s" and res["result"]["value"] > 0
    eff = res["loadgen"]["effective"]
    assert eff["effective_performance_sample_count"] == 16  # the generated set, not 64
    assert detail_errors(Path(res["run_dir"])) == []


def test_single_stream_quick_and_server(tmp_path: Path) -> None:
    ss = _run(tmp_path, "--scenario", "SingleStream", "--quick", "--count", "16", "--no-calibrate")
    _labelled_synthetic(ss)
    assert ss["flags"]["quick"] is True
    assert ss["loadgen"]["keys"]["min_query_count"]["value"] == 64
    assert ss["result"]["validity"] == "VALID", ss["result"]["invalid_reasons"]
    assert ss["result"]["unit"] == "ms" and ss["result"]["value"] > 0

    sv = _run(tmp_path, "--scenario", "Server", "--count", "8", "--batch-size", "2",
              "--no-calibrate", *SHORT, "--set", "loadgen.min_query_count=24",
              "--set", "loadgen.target_qps=4")  # fmt: skip
    _labelled_synthetic(sv, ("ok", "invalid"))
    eff = sv["loadgen"]["effective"]
    assert int(eff["effective_target_latency_ns"]) == 100_000_000  # mlperf.conf's retinanet key
    # a busy 2-core machine may miss the bound: either way the run states it
    assert sv["result"]["validity"] in ("VALID", "INVALID")
    if sv["result"]["validity"] == "INVALID":
        assert sv["result"]["invalid_reasons"]
    assert detail_errors(Path(sv["run_dir"])) == []
