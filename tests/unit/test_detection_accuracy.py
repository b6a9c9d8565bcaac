"""Tests for the detection mAP (inferlab.metrics.detection, inferlab.benchmarks.retinanet.accuracy):
what the official tools/accuracy-openimages.py and tools/accuracy-coco.py compute and print.

The expected mAP values are derived by hand from the COCO definition (AP at each IoU threshold
0.50:0.05:0.95 = precision interpolated at the 101 recall points 0:0.01:1, averaged over the
thresholds, then over the categories that have ground truth), not by running pycocotools.

The optional fidelity tests run the official scripts when INFERLAB_OFFICIAL_INFERENCE points at a
checkout of mlcommons/inference (they need pycocotools and numpy) and compare their stdout with
ours, timings masked.
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

from inferlab.benchmarks.retinanet.accuracy import (
    coco_map_from_log,
    evaluation,
    openimages_map_from_log,
)
from inferlab.core.errors import DataError
from inferlab.loadgen.accuracy_log import AccuracyEntry, write_accuracy_log
from inferlab.metrics.detection import _scaled, image_map, load_ground_truth

pytest.importorskip("pycocotools")

TOOLS = "vision/classification_and_detection/tools"

# Images deliberately not in id order: QSL index i is images[i] of the file, not id i.
IMAGES = [
    {"id": 11, "file_name": "a.jpg", "height": 200, "width": 400, "coco_url": None},
    {"id": 5, "file_name": "b.jpg", "height": 300, "width": 300, "coco_url": None},
    {"id": 7, "file_name": "c.jpg", "height": 100, "width": 200, "coco_url": None},
]
# (image id, category, [x, y, w, h]) in pixels
GT = [(11, 0, [40.0, 50.0, 100.0, 100.0]), (5, 0, [100.0, 100.0, 100.0, 100.0]),
      (7, 1, [20.0, 10.0, 50.0, 40.0])]  # fmt: skip
CATEGORIES = [{"id": k, "name": f"c{k}", "supercategory": None} for k in range(3)]


def _write_gt(
    path: Path, images: list[dict[str, Any]] | None = None, gt: list[Any] | None = None
) -> Path:
    anns = [
        {"id": n + 1, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3],
         "iscrowd": 0}
        for n, (i, c, b) in enumerate(GT if gt is None else gt)
    ]  # fmt: skip
    doc: dict[str, Any] = {"info": {}, "licenses": [], "categories": CATEGORIES,
           "images": IMAGES if images is None else images, "annotations": anns}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _row(qsl: int, box: list[float], score: float, label: int, image: dict) -> list[float]:
    """The SUT's payload row for a pixel box [x, y, w, h] of ``image``: normalised
    [qsl_idx, ymin, xmin, ymax, xmax, score, label]."""
    x, y, w, h = box
    hh, ww = image["height"], image["width"]
    return [qsl, y / hh, x / ww, (y + h) / hh, (x + w) / ww, score, label]


def _log(path: Path, payloads: list[tuple[int, list[list[float]]]]) -> Path:
    entries = [
        AccuracyEntry.from_array(seq, idx, np.asarray(rows, np.float32).reshape(-1))
        for seq, (idx, rows) in enumerate(payloads)
    ]
    write_accuracy_log(path, entries)
    return path


def _perfect(label_offset: int = 0) -> list[tuple[int, list[list[float]]]]:
    by_id = {im["id"]: (q, im) for q, im in enumerate(IMAGES)}
    out = []
    for img_id, cat, box in GT:
        q, im = by_id[img_id]
        out.append((q, [_row(q, box, 0.9, cat + label_offset, im)]))
    return out


def _shifted(dx: float, box: list[float]) -> list[float]:
    return [box[0] + dx, *box[1:]]


def _ap_from_thresholds(passing_all: int, passing_top: int, n_thresholds: int = 10) -> float:
    """AP@[.5:.95] of a category with two ground truths and two detections: at ``passing_all``
    thresholds both match (precision 1 at every recall: AP 1); at ``passing_top`` only the
    higher-scored one matches (recall 0.5 at precision 1, then a false positive: the
    interpolated precision is 1 at the recall points 0.00..0.50, i.e. 51 of 101, else 0);
    at the others neither matches (AP 0)."""
    half = sum(1 for k in range(101) if k / 100 <= 0.5) / 101  # 51 / 101
    return (passing_all * 1.0 + passing_top * half) / n_thresholds


# ---------------------------------------------------------------------------------- scoring


def test_perfect_detections_score_one(tmp_path: Path) -> None:
    gt = _write_gt(tmp_path / "gt.json")
    log = _log(tmp_path / "log.json", _perfect())
    result = openimages_map_from_log(log, gt)
    assert result.map == pytest.approx(1.0)
    assert result.line() == "mAP=100.000%"
    assert result.text.rstrip().splitlines()[-1] == "mAP=100.000%"
    assert "loading annotations into memory..." in result.text
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000" in (
        result.text
    )
    assert (result.images, result.detections, result.duplicates) == (3, 3, 0)
    ev = evaluation(result)
    assert ev.values[0].metric == "mAP" and ev.values[0].value == pytest.approx(100.0)
    assert ev.accuracy_txt == result.text


def test_shifted_detections_match_hand_derived_map(tmp_path: Path) -> None:
    # category 0: image 11 box shifted 10 px right: IoU = 90*100 / (110*100) = 0.818 (score 0.9);
    # image 5 box shifted 23 px: IoU = 77*100 / (123*100) = 0.626 (score 0.8).
    # Thresholds 0.50, 0.55, 0.60 <= 0.626: both match. 0.65, 0.70, 0.75, 0.80 in
    # (0.626, 0.818]: only the 0.9-scored one. 0.85, 0.90, 0.95: neither.
    # category 1 (image 7): exact box, AP 1 at every threshold.
    assert 90 / 110 == pytest.approx(0.818, abs=1e-3) and 77 / 123 == pytest.approx(0.626, 1e-3)
    gt = _write_gt(tmp_path / "gt.json")
    payloads = [
        (0, [_row(0, _shifted(10, GT[0][2]), 0.9, 0, IMAGES[0])]),
        (1, [_row(1, _shifted(23, GT[1][2]), 0.8, 0, IMAGES[1])]),
        (2, [_row(2, GT[2][2], 0.7, 1, IMAGES[2])]),
    ]
    result = openimages_map_from_log(_log(tmp_path / "log.json", payloads), gt)
    expected = (_ap_from_thresholds(3, 4) + 1.0) / 2
    assert expected == pytest.approx(0.750990099, abs=1e-8)
    assert result.map == pytest.approx(expected, abs=1e-9)
    assert result.line() == f"mAP={100 * expected:.3f}%" == "mAP=75.099%"


def test_image_without_detections_counts_its_ground_truth_as_missed(tmp_path: Path) -> None:
    # images 0 and 1 perfect (category 0: AP 1); image 2 logs an empty payload, so its one
    # category-1 box is missed with no detection at all (AP 0). Were the empty image left out of
    # the evaluated images, category 1 would have no ground truth and mAP would be 100%.
    gt = _write_gt(tmp_path / "gt.json")
    payloads = [*_perfect()[:2], (2, [])]
    result = openimages_map_from_log(_log(tmp_path / "log.json", payloads), gt, verbose=True)
    assert result.map == pytest.approx(0.5)
    assert result.no_results == 1 and result.images == 3
    lines = result.text.splitlines()
    assert "no results: None, idx=2" in lines
    assert lines.index("no results: None, idx=2") < lines.index("Loading and preparing results...")
    assert lines[-5:] == [
        "mAP=50.000%",
        "found 3 results",
        "found 3 images",
        "found 1 images with no results",
        "ignored 0 dupes",
    ]


def test_only_the_first_entry_of_a_qsl_idx_counts(tmp_path: Path) -> None:
    gt = _write_gt(tmp_path / "gt.json")
    wrong = (0, [_row(0, [300.0, 0.0, 50.0, 50.0], 0.99, 0, IMAGES[0])])  # IoU 0 with the truth
    perfect = _perfect()
    later = openimages_map_from_log(_log(tmp_path / "a.json", [*perfect, wrong]), gt)
    assert later.map == pytest.approx(1.0) and later.duplicates == 1 and later.entries == 4
    first = openimages_map_from_log(_log(tmp_path / "b.json", [wrong, *perfect]), gt)
    # category 0 now has one match (image 5) of two truths, the wrong box on image 11 ranked
    # first: precision 1/2 at recall 1/2 -> AP 0.5 at every threshold; category 1: 1.
    assert first.map == pytest.approx((0.5 * 51 / 101 + 1.0) / 2)
    assert first.duplicates == 1


def test_payload_index_mismatch_is_reported_and_ignored(tmp_path: Path) -> None:
    gt = _write_gt(tmp_path / "gt.json")
    payloads = _perfect()
    payloads[0] = (0, [_row(2, GT[0][2], 0.9, 0, IMAGES[0])])  # says image 2, logged as 0
    result = openimages_map_from_log(_log(tmp_path / "log.json", payloads), gt)
    assert "ERROR: loadgen(0) and payload(2) disagree on image_idx" in result.text.splitlines()
    assert result.map == pytest.approx(1.0)  # the box is scored on the logged image


def test_use_inv_map_shifts_labels_by_the_category_list(tmp_path: Path) -> None:
    gt = _write_gt(tmp_path / "gt.json")
    log = _log(tmp_path / "log.json", _perfect(label_offset=1))  # model label = category + 1
    assert openimages_map_from_log(log, gt, use_inv_map=True).map == pytest.approx(1.0)
    assert openimages_map_from_log(log, gt).map < 0.5  # read as category ids they are wrong


def test_output_file_like_the_official_one(tmp_path: Path) -> None:
    gt = _write_gt(tmp_path / "gt.json")
    out = tmp_path / "openimages-results.json"
    log = _log(tmp_path / "log.json", _perfect())
    openimages_map_from_log(log, gt, output_file=out, openimages_dir=tmp_path)
    dets = json.loads(out.read_text())
    assert len(dets) == 3 and set(dets[0]) == {"bbox", "category_id", "image_id", "image_loc",
                                               "score"}  # fmt: skip
    assert dets[0]["image_id"] == 11 and dets[0]["bbox"] == pytest.approx(GT[0][2], abs=1e-3)
    assert dets[0]["image_loc"] == str(tmp_path / "validation/data/a.jpg")


def test_scaling_uses_numpy_scalar_arithmetic() -> None:
    rng = np.random.default_rng(0)
    values = rng.random(64, dtype=np.float32)
    for size in (333, 1024, 683.0):
        ours = _scaled(values, size).tolist()
        official = [float(v * size) for v in values]  # the script's ``ymin *= height``
        assert ours == official


def test_no_detections_at_all_scores_zero(tmp_path: Path) -> None:
    gt = _write_gt(tmp_path / "gt.json")
    result = openimages_map_from_log(_log(tmp_path / "log.json", [(0, []), (1, [])]), gt)
    assert result.map == 0.0 and result.official_would_fail
    assert result.line() == "mAP=0.000%"


@pytest.mark.parametrize(
    ("payloads", "message"),
    [
        ([], "has no entries"),
        ([(3, [])], "qsl_idx 3 is outside the 3 images"),
        ([(0, [[0, 0.1, 0.1, 0.2, 0.2, 0.9, 0, 1.0]])], "8 floats, not a multiple of 7"),
        ([(0, [[0, 0.1, 0.1, 0.2, 0.2, 0.9, np.nan]])], "not numbers"),
    ],
)
def test_malformed_logs(tmp_path: Path, payloads: list, message: str) -> None:
    gt = _write_gt(tmp_path / "gt.json")
    with pytest.raises(DataError, match=message):
        openimages_map_from_log(_log(tmp_path / "log.json", payloads), gt)


def test_inv_map_label_out_of_range(tmp_path: Path) -> None:
    gt = _write_gt(tmp_path / "gt.json")
    log = _log(tmp_path / "log.json", [(0, [_row(0, GT[0][2], 0.9, 7, IMAGES[0])])])
    with pytest.raises(DataError, match="label 7, past the 4-entry inverse label map"):
        openimages_map_from_log(log, gt, use_inv_map=True)


def test_missing_annotation_file(tmp_path: Path) -> None:
    log = _log(tmp_path / "log.json", _perfect())
    with pytest.raises(DataError, match="does not exist"):
        openimages_map_from_log(log, tmp_path / "nope.json")


def _coco_case(tmp_path: Path) -> Path:
    """A COCO dir whose second image has no annotation (one of "the 48 empty images")."""
    images = [*IMAGES[:1], {"id": 9, "file_name": "e.jpg", "height": 50, "width": 50,
                            "coco_url": "http://e"}, *IMAGES[1:]]  # fmt: skip
    _write_gt(tmp_path / "coco/annotations/instances_val2017.json", images=images)
    return tmp_path / "coco"


def test_coco_remove_empty_images_indexes_annotated_images_only(tmp_path: Path) -> None:
    coco = _coco_case(tmp_path)
    gt, _ = load_ground_truth(coco / "annotations/instances_val2017.json")
    assert [im["id"] for im in image_map(gt)] == [11, 9, 5, 7]
    kept = [im["id"] for im in image_map(gt, remove_empty_images=True)]
    assert sorted(kept) == [5, 7, 11]  # in Python's set order, as the official script
    payloads = []
    for q, im in enumerate(image_map(gt, remove_empty_images=True)):
        rows = [_row(q, b, 0.9, c, im) for i, c, b in GT if i == im["id"]]
        payloads.append((q, rows))
    log = _log(tmp_path / "log.json", payloads)
    assert coco_map_from_log(log, coco, remove_48_empty_images=True).map == pytest.approx(1.0)
    # without the option the same indices point at other images
    assert coco_map_from_log(log, coco).map < 0.5


# ------------------------------------------------------------------- official scripts (optional)


def _official(name: str) -> Path:
    root = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")
    if not root:
        pytest.skip("set INFERLAB_OFFICIAL_INFERENCE to a mlcommons/inference checkout")
    script = Path(root) / TOOLS / name
    if not script.is_file():
        pytest.skip(f"{script} not found")
    return script


def _masked(text: str) -> str:
    return re.sub(r"\(t=[0-9.]+s\)", "(t=Xs)", text)


def _run(script: Path, args: list[str], cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True, text=True, check=True, timeout=120, cwd=cwd,
    )  # fmt: skip
    return proc.stdout


@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.parametrize("use_inv_map", [False, True])
def test_matches_official_openimages_script(
    tmp_path: Path, verbose: bool, use_inv_map: bool
) -> None:
    script = _official("accuracy-openimages.py")
    gt = _write_gt(tmp_path / "oi/annotations/openimages-mlperf.json")
    off = int(use_inv_map)
    payloads = [
        (1, [_row(1, _shifted(23, GT[1][2]), 0.8, 0 + off, IMAGES[1]),
             _row(1, [0.0, 0.0, 30.0, 30.0], 0.8, 1 + off, IMAGES[1])]),
        (0, [_row(2, _shifted(10, GT[0][2]), 0.9, 0 + off, IMAGES[0])]),
        (1, []),
        (2, []),
    ]  # fmt: skip
    log = _log(tmp_path / "log.json", payloads)
    args = ["--mlperf-accuracy-file", str(log), "--openimages-dir", str(tmp_path / "oi"),
            "--output-file", str(tmp_path / "official.json")]  # fmt: skip
    args += ["--verbose"] * verbose + ["--use-inv-map"] * use_inv_map
    official = _run(script, args, tmp_path)
    ours = openimages_map_from_log(
        log, gt, use_inv_map=use_inv_map, verbose=verbose, output_file=tmp_path / "ours.json",
        openimages_dir=tmp_path / "oi",
    )  # fmt: skip
    assert _masked(ours.text) == _masked(official)
    assert json.loads((tmp_path / "ours.json").read_text()) == json.loads(
        (tmp_path / "official.json").read_text()
    )


@pytest.mark.parametrize("remove_empty", [False, True])
def test_matches_official_coco_script(tmp_path: Path, remove_empty: bool) -> None:
    script = _official("accuracy-coco.py")
    coco = _coco_case(tmp_path)
    gt, _ = load_ground_truth(coco / "annotations/instances_val2017.json")
    images = image_map(gt, remove_empty_images=remove_empty)
    payloads = []
    for q, im in enumerate(images):
        rows = [_row(q, _shifted(7 * q, b), 0.5 + 0.1 * q, c + 1, im)
                for i, c, b in GT if i == im["id"]]  # fmt: skip
        payloads.append((q, rows))
    log = _log(tmp_path / "log.json", payloads)
    args = ["--mlperf-accuracy-file", str(log), "--coco-dir", str(coco), "--use-inv-map",
            "--verbose", "--output-file", str(tmp_path / "official.json")]  # fmt: skip
    args += ["--remove-48-empty-images"] * remove_empty
    official = _run(script, args, tmp_path)
    ours = coco_map_from_log(
        log, coco, use_inv_map=True, remove_48_empty_images=remove_empty, verbose=True
    )
    assert _masked(ours.text) == _masked(official)
