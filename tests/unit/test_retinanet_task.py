"""retinanet's spec and task hooks on small data made here: the facts of the spec against the
rules file, the per-sample payloads postprocess hands LoadGen, the ONNX output mapping, the
synthetic default's labels and scoring files, and the log coverage evaluate reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inferlab.benchmarks.retinanet.spec import ONNX, PYTORCH, SPEC, TINY
from inferlab.benchmarks.retinanet.task import TASK, RetinaNetOnnxIO
from inferlab.core import registry
from inferlab.core.errors import ModelError, UnsupportedError
from inferlab.core.spec import Scenario
from inferlab.core.task import SampleOutput


def test_spec_facts_match_the_rules_file() -> None:
    assert registry.get("retinanet") is SPEC
    assert (SPEC.loadgen_name, SPEC.checker_name) == ("retinanet", "retinanet")  # §1.3, §2.1
    assert SPEC.dataset_size == 24_781 and SPEC.performance_sample_count == 64  # §7, §1.3
    assert SPEC.server_latency_ms == 100.0  # §1.3
    assert set(SPEC.scenarios) == {
        Scenario.SINGLE_STREAM,
        Scenario.MULTI_STREAM,
        Scenario.OFFLINE,
        Scenario.SERVER,
    }
    (target,) = SPEC.targets_for("v5.1")
    assert target.metric == "mAP" and target.threshold == pytest.approx(37.55 * 0.99)  # §2.1
    assert SPEC.synthetic_variant == TINY.name
    assert [v.name for v in SPEC.variants] == ["pytorch", "tiny", "onnx"]
    assert PYTORCH.checkpoint_name == "resnext50_32x4d_fpn.pth"
    assert ONNX.checkpoint_name == "resnext50_32x4d_fpn.onnx" and ONNX.backends == ("onnxruntime",)
    assert {v.output_dtype for v in SPEC.variants} == {"float32"}
    # quick: the early-stopping minimums (SS 90th percentile: 64; MS and Server 99th: 662)
    assert SPEC.quick[Scenario.SINGLE_STREAM].min_query_count == 64
    assert SPEC.quick[Scenario.MULTI_STREAM].min_query_count == 662
    assert SPEC.quick[Scenario.SERVER].min_query_count == 662
    assert TASK.null_output_shape(PYTORCH) == (300, 6)


def _detections(scores: list[float]) -> np.ndarray:
    det = np.zeros((300, 6), np.float32)
    for k, s in enumerate(scores):
        det[k] = (10 + k, 20 + k, 400 + k, 600, s, k % 3)
    return det


def test_postprocess_gives_each_sample_its_own_rows() -> None:
    outputs = np.stack([_detections([0.9, 0.5, 0.04]), _detections([]), _detections([0.3])])
    outs = TASK.postprocess(outputs, TINY, np.array([7, 3, 12]), dataset=None)  # type: ignore[arg-type]
    assert len(outs) == 3 and all(isinstance(o, SampleOutput) for o in outs)
    assert {o.dtype for o in outs} == {"float32"}
    rows = [np.frombuffer(o.data, np.float32).reshape(-1, 7) for o in outs]
    assert [len(r) for r in rows] == [2, 0, 1]  # cut at the first score < 0.05; empty: b""
    assert outs[1].data == b"" and outs[1].n_tokens is None and outs[1].first_token is None
    np.testing.assert_array_equal(rows[0][:, 0], [7, 7])
    # [qsl, ymin, xmin, ymax, xmax, score, label], coordinates / 800
    np.testing.assert_allclose(
        rows[0][0], np.array([7, 20 / 800, 10 / 800, 600 / 800, 400 / 800, 0.9, 0], np.float32)
    )
    assert rows[2][0, 0] == 12


def _named(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return RetinaNetOnnxIO().output([boxes, labels, scores], ["boxes", "labels", "scores"])


def test_onnx_io_maps_the_reference_outputs() -> None:
    io = RetinaNetOnnxIO()
    x = np.zeros((1, 3, 800, 800), np.float32)
    assert list(io.feeds(x, ["images"])) == ["images"]
    boxes = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float32)
    scores = np.array([0.8, 0.2], np.float32)
    labels = np.array([263, 5], np.int64)
    out = _named(boxes, scores, labels)
    assert out.shape == (1, 300, 6) and out.dtype == np.float32
    want = np.array([[1, 2, 3, 4, 0.8, 263], [5, 6, 7, 8, 0.2, 5]], np.float32)
    np.testing.assert_array_equal(out[0, :2], want)
    assert not out[0, 2:].any()
    # names it does not know: boxes by shape, labels by integer dtype
    again = io.output([scores, boxes, labels], ["a", "b", "c"])
    np.testing.assert_array_equal(again, out)
    # no detection at all
    empty = _named(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    assert not empty.any()
    # more than 300: the first 300 kept
    many = _named(np.ones((301, 4), np.float32), np.ones(301, np.float32), np.ones(301, np.int64))
    assert many.shape == (1, 300, 6)


def test_onnx_io_refuses_what_the_official_file_cannot_take() -> None:
    io = RetinaNetOnnxIO()
    with pytest.raises(ModelError, match="one image per run") as err:
        io.feeds(np.zeros((2, 3, 800, 800), np.float32), ["images"])
    assert "--batch-size 1" in str(err.value.fix)
    with pytest.raises(ModelError, match="one input"):
        io.feeds(np.zeros((1, 3, 800, 800), np.float32), ["a", "b"])
    with pytest.raises(ModelError, match="disagree"):
        _named(np.zeros((2, 4), np.float32), np.zeros(3, np.float32), np.zeros(3, np.int64))
    with pytest.raises(ModelError, match="unexpected ONNX outputs"):
        io.output([np.zeros((2, 4), np.float32)], ["x"])


def test_synthetic_default_is_labelled_and_writes_its_scoring_files(tmp_path: Path) -> None:
    ds = TASK.make_dataset(
        None, count=5, seed=3, cache_dir=tmp_path / "cache", variant=TINY, decoder="default"
    )
    assert ds.synthetic and ds.dataset_id == "synthetic-openimages" and ds.total_count == 5
    facts = ds.describe()
    assert facts["path"] is None and facts["seed"] == 3 and facts["synthetic"] is True
    assert Path(facts["generated_in"]).is_relative_to(tmp_path / "cache")
    files = TASK.scoring_files(ds, tmp_path)
    assert files == {"annotations": "annotations/openimages-mlperf.json"}
    doc = json.loads((tmp_path / files["annotations"]).read_text())
    assert doc["info"]["synthetic"] is True and len(doc["images"]) == 5
    # the same (count, seed) reuses the generated folder
    again = TASK.make_dataset(
        None, count=5, seed=3, cache_dir=tmp_path / "cache", variant=TINY, decoder="default"
    )
    assert again.describe()["generated_in"] == facts["generated_in"]
    ds.load([0, 4])
    assert ds.get_batch(np.array([4, 0])).shape == (2, 3, 800, 800)


def test_evaluate_reports_log_coverage_and_mAP(tmp_path: Path) -> None:
    ds = TASK.make_dataset(
        None, count=3, seed=0, cache_dir=tmp_path / "cache", variant=TINY, decoder="default"
    )
    doc = json.loads(Path(ds.describe()["annotations"]).read_text())
    # sample 0 answered with its ground truth, 1 with nothing, 2 not logged
    img = doc["images"][0]
    rows = []
    for ann in (a for a in doc["annotations"] if a["image_id"] == img["id"]):
        x, y, w, h = ann["bbox"]
        rows.append([0, y / img["height"], x / img["width"], (y + h) / img["height"],
                     (x + w) / img["width"], 0.9, ann["category_id"]])  # fmt: skip
    data = np.asarray(rows, np.float32).tobytes().hex().upper()
    log = [{"seq_id": 0, "qsl_idx": 0, "data": data}, {"seq_id": 1, "qsl_idx": 1, "data": ""}]
    (tmp_path / "log.json").write_text(json.dumps(log))
    ev = TASK.evaluate(tmp_path / "log.json", ds, TINY, tmp_path)
    assert ev.details["total"] == 2 and ev.details["synthetic"] is True
    (mv,) = ev.values
    assert mv.metric == "mAP" and 0 < mv.value <= 100
    assert ev.accuracy_txt.rstrip().endswith(f"mAP={mv.value:.3f}%")


def test_no_8bit_path() -> None:
    with pytest.raises(UnsupportedError, match="calibration images"):
        TASK.calibration_set(None, None, 8)  # type: ignore[arg-type]
