"""Tests for the RetinaNet data side: preprocessing (inferlab.benchmarks.retinanet.preprocessing),
the OpenImages annotation checks and QSL, and the synthetic generator
(inferlab.benchmarks.retinanet.dataset)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from inferlab.benchmarks.retinanet.dataset import (
    ANNOTATIONS,
    IMAGES_DIR,
    NUM_CLASSES,
    PALETTE,
    OpenImagesDataset,
    read_annotations,
    write_synthetic_openimages,
)
from inferlab.benchmarks.retinanet.preprocessing import (
    decode_bgr,
    preprocess_array,
    preprocess_bytes,
    preprocess_file,
)
from inferlab.core.errors import ConfigError, DataError

cv2 = pytest.importorskip("cv2")


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")  # lossless: exact pixel values
    return buf.getvalue()


# ------------------------------------------------------------------------------ preprocessing


def test_float_bilinear_resize_values_and_rgb_order() -> None:
    # a 1x2 image, red then blue. Resized to 4 wide with half-pixel centres (INTER_LINEAR):
    # output x -> source (x + 0.5) * 2/4 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]:
    # weights of the right pixel 0, 0.25, 0.75, 1. On float32 pixels (the reference resizes
    # float32), 0.25 * 255 stays 63.75: /255 gives exactly 0.25 (a uint8 resize would give 64).
    img = np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8)  # RGB
    chw, size = preprocess_bytes(_png(img), size=4)
    assert size == (1, 2)
    assert chw.shape == (3, 4, 4) and chw.dtype == np.float32 and chw.flags.c_contiguous
    ramp = np.array([0.0, 0.25, 0.75, 1.0], dtype=np.float32)
    np.testing.assert_allclose(chw[0], np.tile(ramp[::-1], (4, 1)), atol=1e-6)  # R
    np.testing.assert_allclose(chw[1], 0.0, atol=0)  # G
    np.testing.assert_allclose(chw[2], np.tile(ramp, (4, 1)), atol=1e-6)  # B


def _bilinear_half_pixel(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Independent float64 bilinear resize with half-pixel centres and edge clamping."""
    h, w = img.shape[:2]

    def taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    y0, y1, fy = taps(out_h, h)
    x0, x1, fx = taps(out_w, w)
    f = img.astype(np.float64)
    top = f[y0][:, x0] * (1 - fx)[None, :, None] + f[y0][:, x1] * fx[None, :, None]
    bot = f[y1][:, x0] * (1 - fx)[None, :, None] + f[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bot * fy[:, None, None]


def test_resize_matches_an_independent_bilinear() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    chw, _ = preprocess_bytes(_png(rgb), size=11)
    expected = _bilinear_half_pixel(rgb, 11, 11).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(chw, expected, atol=2e-5)  # float32 arithmetic in OpenCV


def test_grayscale_becomes_three_equal_channels() -> None:
    gray = np.array([[0, 255]], dtype=np.uint8)
    chw, size = preprocess_bytes(_png(gray), size=4)  # an 'L' PNG: cv2 decodes it as BGR
    assert size == (1, 2)
    assert np.array_equal(chw[0], chw[1]) and np.array_equal(chw[1], chw[2])
    np.testing.assert_allclose(chw[0, 0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    # the reference's GRAY2RGB branch, for a 2-D array handed in directly
    np.testing.assert_array_equal(preprocess_array(gray, 4), chw)


def test_default_size_is_800_and_jpeg_orientation_as_imread(tmp_path: Path) -> None:
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, exif=exif.tobytes())
    np.testing.assert_array_equal(decode_bgr(path.read_bytes()), cv2.imread(str(path)))
    chw, size = preprocess_file(path)
    assert chw.shape == (3, 800, 800) and chw.dtype == np.float32
    assert size == cv2.imread(str(path)).shape[:2] == (40, 20)  # what tools/openimages.py stores
    assert 0.0 <= float(chw.min()) and float(chw.max()) <= 1.0  # no mean/std: the model's job


def test_corrupt_and_missing_images_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg is corrupt or not an image.*fix:"):
        preprocess_file(bad)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.jpg is empty"):
        preprocess_file(tmp_path / "empty.jpg")
    with pytest.raises(DataError, match=r"cannot read image .*absent\.jpg"):
        preprocess_file(tmp_path / "absent.jpg")


# ------------------------------------------------------------------------------ synthetic data


def test_synthetic_set_is_deterministic_and_seeded(tmp_path: Path) -> None:
    a = write_synthetic_openimages(tmp_path / "a", count=5, seed=7)
    b = write_synthetic_openimages(tmp_path / "b", count=5, seed=7)
    c = write_synthetic_openimages(tmp_path / "c", count=5, seed=8)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 6
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / ANNOTATIONS).read_bytes() != (c / ANNOTATIONS).read_bytes()
    # a second call with the same arguments reuses the set
    mtime = (a / ANNOTATIONS).stat().st_mtime_ns
    write_synthetic_openimages(a, count=5, seed=7)
    assert (a / ANNOTATIONS).stat().st_mtime_ns == mtime


def test_synthetic_schema_and_labels(tmp_path: Path) -> None:
    root = write_synthetic_openimages(tmp_path, count=6, seed=1)
    doc = json.loads((root / ANNOTATIONS).read_text())
    assert set(doc) == {"info", "licenses", "categories", "images", "annotations"}
    assert doc["info"]["synthetic"] is True and doc["info"]["seed"] == 1
    assert [c["id"] for c in doc["categories"]] == list(range(NUM_CLASSES))
    assert [im["id"] for im in doc["images"]] == list(range(1, 7))
    sizes = {im["id"]: (im["height"], im["width"]) for im in doc["images"]}
    assert len({ann["id"] for ann in doc["annotations"]}) == len(doc["annotations"]) >= 6
    for ann in doc["annotations"]:
        assert {"id", "image_id", "category_id", "bbox", "area", "iscrowd"} <= set(ann)
        x, y, w, h = ann["bbox"]
        height, width = sizes[ann["image_id"]]
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height and w > 8 and h > 8
        assert ann["area"] == w * h and ann["iscrowd"] == 0
        assert 0 <= ann["category_id"] < len(PALETTE)
        im = doc["images"][ann["image_id"] - 1]
        pixels = np.asarray(Image.open(root / IMAGES_DIR / im["file_name"]).convert("RGB"))
        centre = pixels[y + h // 2, x + w // 2].astype(int)
        assert np.abs(centre - np.array(PALETTE[ann["category_id"]])).max() < 24  # JPEG
    read_annotations(root / ANNOTATIONS)  # passes our own checks


def test_dataset_over_synthetic_data(tmp_path: Path) -> None:
    root = write_synthetic_openimages(tmp_path, count=4, seed=2)
    data = OpenImagesDataset(root, count=3, workers=2)
    assert data.synthetic and data.dataset_id == "synthetic-openimages"
    assert data.total_count == 3 and data.full_count == 4
    data.load([2, 0])
    assert data.resident_count == 2
    batch = data.get_batch(np.array([2, 0, 2]))
    assert batch.shape == (3, 3, 800, 800) and batch.dtype == np.float32
    expected, size = preprocess_file(root / IMAGES_DIR / "synthetic_00002.jpg")
    np.testing.assert_array_equal(batch[0], expected)
    np.testing.assert_array_equal(batch[2], expected)
    assert tuple(data.image_sizes()[2]) == size and data.size_mismatches == 0
    facts = data.describe()
    assert facts["synthetic"] is True and facts["seed"] == 2 and facts["subset"] is True
    data.unload([2])
    with pytest.raises(DataError, match="sample 2 was requested before it was loaded"):
        data.get_batch(np.array([2]))
    with pytest.raises(IndexError, match="sample index 3 outside 0..2"):
        data.load([3])


# ------------------------------------------------------------------------- annotation checks


def _edit(root: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    path = root / ANNOTATIONS
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["categories"].pop(), r"has 263 categories .* has 264, ids 0..263"),
        (lambda d: d["categories"][5].update(id=300), r"0\.\.300\); the MLPerf subset"),
        (lambda d: d["images"][1].update(id=1), r"images\[1\] repeats image id 1"),
        (lambda d: d["images"][0].update(height=0), r"images\[0\] needs .* positive integer"),
        (lambda d: d["images"].clear(), "lists no images"),
        (lambda d: d["annotations"].clear(), "lists no annotations"),
        (lambda d: d["annotations"][0].update(image_id=99), r"names image id 99, not listed"),
        (lambda d: d["annotations"][0].update(category_id=264), r"names category 264"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"has bbox \[1, 2, 3\]"),
        (lambda d: d.pop("categories"), r"has no 'categories' list"),
    ],
)
def test_annotation_errors(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    root = write_synthetic_openimages(tmp_path, count=3, seed=0)
    path = _edit(root, change)
    with pytest.raises(DataError, match=message):
        read_annotations(path)


def test_missing_and_partial_annotation_file(tmp_path: Path) -> None:
    root = write_synthetic_openimages(tmp_path, count=3, seed=0)
    path = root / ANNOTATIONS
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="is not complete JSON, a partial download"):
        read_annotations(path)
    path.write_bytes(b"  \n")
    with pytest.raises(DataError, match="is empty"):
        read_annotations(path)
    path.unlink()
    with pytest.raises(
        DataError, match=r"openimages-mlperf.json does not exist.*prepare retinanet"
    ):
        OpenImagesDataset(root)
    with pytest.raises(DataError, match="OpenImages folder .* does not exist"):
        OpenImagesDataset(tmp_path / "nowhere")


def test_missing_image_files_are_counted(tmp_path: Path) -> None:
    root = write_synthetic_openimages(tmp_path, count=4, seed=0)
    (root / IMAGES_DIR / "synthetic_00001.jpg").unlink()
    (root / IMAGES_DIR / "synthetic_00003.jpg").unlink()
    with pytest.raises(DataError, match=r"names synthetic_00001.jpg, .*\(2 of 4 listed files"):
        OpenImagesDataset(root)
    OpenImagesDataset(root, count=1)  # the first image alone is there
    with pytest.raises(DataError, match=r"\(1 of 2 listed files missing\)"):
        OpenImagesDataset(root, count=2)


def test_counts_and_subset_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = write_synthetic_openimages(tmp_path, count=2, seed=0)
    with pytest.raises(DataError, match="asked for 3 samples but .* lists only 2"):
        OpenImagesDataset(root, count=3)
    with pytest.raises(ConfigError, match="at least 1"):
        OpenImagesDataset(root, count=0)
    _edit(root, lambda d: d.update(info={"dataset": "openimages_mlperf", "version": "v6"}))
    with caplog.at_level("WARNING"):
        ann = read_annotations(root / ANNOTATIONS)
    assert not ann.synthetic and not ann.complete
    assert "lists 2 images, not the 24781 of the MLPerf set" in caplog.text


# ------------------------------------------------------------------ official code (optional)

_REFERENCE = """
import sys, cv2, numpy as np
sys.path.insert(0, sys.argv[1])
import dataset
for path in sys.argv[2:]:
    x = dataset.pre_process_openimages_retinanet(
        cv2.imread(path), dims=[800, 800, 3], need_transpose=True)
    np.save(path + ".npy", np.ascontiguousarray(x))
"""


def test_matches_the_reference_preprocessing(tmp_path: Path) -> None:
    root = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")
    if not root:
        pytest.skip("set INFERLAB_OFFICIAL_INFERENCE to a mlcommons/inference checkout")
    python_dir = Path(root) / "vision/classification_and_detection/python"
    if not (python_dir / "dataset.py").is_file():
        pytest.skip(f"{python_dir / 'dataset.py'} not found")
    write_synthetic_openimages(tmp_path / "s", count=2, seed=4)
    paths = sorted((tmp_path / "s" / IMAGES_DIR).glob("*.jpg"))
    gray = np.random.default_rng(2).integers(0, 256, size=(37, 53), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.jpg")
    exif = Image.Exif()
    exif[0x0112] = 8
    rgb = np.random.default_rng(3).integers(0, 256, size=(30, 70, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rotated.jpg", exif=exif.tobytes())
    paths += [tmp_path / "gray.jpg", tmp_path / "rotated.jpg"]
    subprocess.run(
        [sys.executable, "-c", _REFERENCE, str(python_dir), *map(str, paths)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    for path in paths:
        ours, _ = preprocess_file(path)
        np.testing.assert_array_equal(ours, np.load(str(path) + ".npy"), err_msg=str(path))
