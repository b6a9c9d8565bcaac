"""The MLPerf OpenImages validation subset (264 classes, 24,781 images) as a QSL, and a seeded
synthetic set in the same layout.

Layout (what ``tools/openimages_mlperf.sh`` / ``tools/openimages.py`` write)::

    <root>/annotations/openimages-mlperf.json    COCO format: images, annotations, categories
    <root>/validation/data/<ImageID>.jpg

QSL index i is ``images[i]`` of the json, in file order: the official accuracy script maps
``qsl_idx`` to ``cocoGt.dataset["images"][qsl_idx]`` (accuracy-openimages.py l.64, l.81, l.92),
and the reference QSL (``python/openimages.py`` l.74-140) walks the same list in the same order,
keeping the first ``count``. The reference silently skips images whose file is missing, which
shifts every later index against the accuracy script; here a missing file is an error naming
it and the count missing. The reference (retinanet profile, ``use_label_map`` off) keeps images
without annotations too; so do we.

Construction validates the json (categories: the 264 ids 0..263 that ``tools/openimages.py``
l.125-128 numbers in class order; images: unique ids, positive sizes; annotations: known image
and category ids, 4-number boxes) and that every listed image file is present, without decoding
anything. ``load`` decodes and preprocesses (:mod:`.preprocessing`) in a thread pool;
``get_batch`` stacks the resident float32 (3, 800, 800) inputs.

The synthetic set (:func:`write_synthetic_openimages`): image i is drawn from (seed, i) alone, a
small plain background with one to four non-overlapping filled rectangles, each of one of six
colours whose index is its category id; the annotations are the exact rectangles. The json
carries ``info.synthetic = true`` (and the seed, count, generator version), so a QSL over it
reports itself as synthetic and its mAP is never taken for a real result.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from inferlab.benchmarks.retinanet.preprocessing import (
    IMAGE_SIZE,
    PREPARE_FIX,
    preprocess_bytes,
    transform_key,
)
from inferlab.core.errors import ConfigError, DataError
from inferlab.core.files import atomic_write_bytes, atomic_write_text
from inferlab.preprocessing.cache import Cache

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

DATASET_ID = "openimages-v6-mlperf"
SYNTHETIC_ID = "synthetic-openimages"
ANNOTATIONS = "annotations/openimages-mlperf.json"
IMAGES_DIR = "validation/data"
NUM_CLASSES = 264
FULL_COUNT = 24_781
MAX_WORKERS = 16
PATH_FIX = "pass --dataset-path DIR or --data-dir ROOT containing openimages-v6-mlperf/"
_JSON_FIX = (
    "re-download annotations/openimages-mlperf.json (`inferlab prepare retinanet`), or "
    "regenerate it with the reference tools/openimages_mlperf.sh"
)


@dataclass(frozen=True)
class ImageRecord:
    id: int
    file_name: str
    height: int
    width: int


@dataclass(frozen=True)
class Annotations:
    """The checked facts of an openimages-mlperf.json; ``images`` in QSL order."""

    path: Path
    images: tuple[ImageRecord, ...]
    category_ids: tuple[int, ...]
    annotation_count: int
    images_without_annotations: int
    synthetic: bool
    info: dict[str, Any]

    @property
    def complete(self) -> bool:
        """The whole MLPerf set (24,781 images), not a ``--max-images`` subset."""
        return len(self.images) == FULL_COUNT


def _bad(path: Path, what: str) -> DataError:
    return DataError(f"{path}: {what}", fix=_JSON_FIX)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise DataError(
            f"OpenImages annotation file {path} {what}",
            fix=f"run `inferlab prepare retinanet`, or {PATH_FIX}",
        )
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}", fix=_JSON_FIX) from err
    if not raw.strip():
        raise _bad(path, "is empty")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise _bad(path, f"is not complete JSON, a partial download? ({str(err)[:120]})") from None
    if not isinstance(doc, dict):
        raise _bad(path, f"holds a JSON {type(doc).__name__}, not a COCO-format object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise _bad(path, f"has no {key!r} list (not a COCO-format annotation file)")
    return doc


def _check_categories(path: Path, cats: list[Any]) -> tuple[int, ...]:
    ids = []
    for k, cat in enumerate(cats):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            raise _bad(path, f"categories[{k}] has no integer 'id'")
        ids.append(cat["id"])
    if len(cats) != NUM_CLASSES or sorted(ids) != list(range(NUM_CLASSES)):
        raise _bad(
            path,
            f"has {len(cats)} categories ({len(set(ids))} distinct ids, "
            f"{min(ids, default=None)}..{max(ids, default=None)}); the MLPerf subset has "
            f"{NUM_CLASSES}, ids 0..{NUM_CLASSES - 1}",
        )
    return tuple(ids)


def _check_images(path: Path, items: list[Any]) -> tuple[ImageRecord, ...]:
    if not items:
        raise _bad(path, "lists no images")
    records: list[ImageRecord] = []
    seen: set[int] = set()
    for k, im in enumerate(items):
        ok = isinstance(im, dict) and _is_int(im.get("id")) and isinstance(im.get("file_name"), str)
        ok = ok and all(_is_int(im.get(s)) and im[s] > 0 for s in ("height", "width"))
        if not ok:
            raise _bad(
                path,
                f"images[{k}] needs an integer id, a file_name and positive integer "
                f"height/width, has {str(im)[:160]}",
            )
        if im["id"] in seen:
            raise _bad(path, f"images[{k}] repeats image id {im['id']}")
        seen.add(im["id"])
        records.append(ImageRecord(im["id"], im["file_name"], im["height"], im["width"]))
    return tuple(records)


def _check_annotations(
    path: Path, items: list[Any], image_ids: set[int], category_ids: set[int]
) -> set[int]:
    """The image ids that have annotations."""
    if not items:
        raise _bad(path, "lists no annotations")
    annotated: set[int] = set()
    for k, ann in enumerate(items):
        if not isinstance(ann, dict):
            raise _bad(path, f"annotations[{k}] is not an object")
        box = ann.get("bbox")
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
            and box[2] >= 0
            and box[3] >= 0
        ):
            raise _bad(path, f"annotations[{k}] has bbox {box!r}, not [x, y, w >= 0, h >= 0]")
        if ann.get("image_id") not in image_ids:
            raise _bad(path, f"annotations[{k}] names image id {ann.get('image_id')!r}, not listed")
        if ann.get("category_id") not in category_ids:
            raise _bad(
                path, f"annotations[{k}] names category {ann.get('category_id')!r}, not listed"
            )
        annotated.add(ann["image_id"])
    return annotated


def read_annotations(path: str | Path) -> Annotations:
    """Read and check an openimages-mlperf.json (or a synthetic one); DataError naming the
    problem and the fix for a missing, partial or malformed file."""
    p = Path(path)
    doc = _load_json(p)
    cats = _check_categories(p, doc["categories"])
    images = _check_images(p, doc["images"])
    annotated = _check_annotations(p, doc["annotations"], {r.id for r in images}, set(cats))
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    assert isinstance(info, dict)
    ann = Annotations(
        path=p,
        images=images,
        category_ids=cats,
        annotation_count=len(doc["annotations"]),
        images_without_annotations=len(images) - len(annotated),
        synthetic=bool(info.get("synthetic", False)),
        info=info,
    )
    if not ann.synthetic and not ann.complete:
        log.warning(
            "%s lists %d images, not the %d of the MLPerf set: a subset, whose mAP is not "
            "comparable with the reference",
            p,
            len(images),
            FULL_COUNT,
        )
    return ann


def default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def _map_in_order(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(x) for x in items]`` in threads; the first failure in input order is raised."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(workers, len(items)), "inferlab-openimages") as pool:
        futures = [pool.submit(fn, x) for x in items]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


class OpenImagesDataset:
    """QSL over ``<root>/annotations/openimages-mlperf.json`` + ``<root>/validation/data``
    (the real set or one written by :func:`write_synthetic_openimages`)."""

    def __init__(
        self,
        path: str | Path,
        *,
        count: int | None = None,
        workers: int | None = None,
        cache: Cache | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            what = "is not a directory" if self.path.exists() else "does not exist"
            raise DataError(f"OpenImages folder {self.path} {what}", fix=PATH_FIX)
        self.annotations = read_annotations(self.path / ANNOTATIONS)
        self.synthetic = self.annotations.synthetic
        self.dataset_id = SYNTHETIC_ID if self.synthetic else DATASET_ID
        self.full_count = len(self.annotations.images)
        if count is not None and count < 1:
            raise ConfigError(
                f"sample count must be at least 1, got {count}", "pass --count N >= 1"
            )
        if count is not None and count > self.full_count:
            raise DataError(
                f"asked for {count} samples but {self.annotations.path} lists only "
                f"{self.full_count}",
                fix=f"use --count {self.full_count} or less, or prepare the full dataset",
            )
        self.total_count = self.full_count if count is None else count
        self.images = self.annotations.images[: self.total_count]
        self.image_dir = self.path / IMAGES_DIR
        self._check_files_present()
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self.cache = None if cache is None else cache.with_key(transform_key())
        self.size_mismatches = 0
        self._resident: dict[int, np.ndarray] = {}

    @property
    def annotation_file(self) -> Path:
        return self.annotations.path

    def _check_files_present(self) -> None:
        if not self.image_dir.is_dir():
            raise DataError(
                f"OpenImages image folder {self.image_dir} does not exist",
                fix=f"run `inferlab prepare retinanet` (it downloads the {FULL_COUNT:,} images)",
            )
        with os.scandir(self.image_dir) as it:
            present = {entry.name for entry in it}
        missing = [r.file_name for r in self.images if r.file_name not in present]
        if missing:
            raise DataError(
                f"{self.annotations.path} names {missing[0]}, which is not in {self.image_dir} "
                f"({len(missing)} of {len(self.images)} listed files missing)",
                fix="re-run `inferlab prepare retinanet` to fetch the missing images",
            )

    def file_path(self, index: int) -> Path:
        return self.image_dir / self.images[index].file_name

    def image_sizes(self) -> np.ndarray:
        """(total_count, 2) int64 (height, width) from the annotations: what the accuracy
        script scales normalised boxes by."""
        return np.array([(r.height, r.width) for r in self.images], dtype=np.int64).reshape(-1, 2)

    def _make_input(self, index: int) -> np.ndarray:
        path = self.file_path(index)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise DataError(
                f"cannot read image {path}: {err.strerror or err}", fix=PREPARE_FIX
            ) from err

        def compute(raw: bytes) -> np.ndarray:
            chw, (h, w) = preprocess_bytes(raw, name=str(path))
            rec = self.images[index]
            if (h, w) != (rec.height, rec.width):
                self.size_mismatches += 1
                log.warning(
                    "%s decodes to %dx%d but the annotations say %dx%d; the accuracy script "
                    "scales its boxes by the annotations' size",
                    path,
                    h,
                    w,
                    rec.height,
                    rec.width,
                )
            return chw

        if self.cache is None:
            return compute(data)
        return self.cache.get_or_compute(data, compute)

    @property
    def resident_count(self) -> int:
        return len(self._resident)

    def _check_indices(self, indices: Sequence[int]) -> list[int]:
        out = [int(i) for i in indices]
        bad = [i for i in out if not 0 <= i < self.total_count]
        if bad:
            raise IndexError(
                f"sample index {bad[0]} outside 0..{self.total_count - 1} ({len(bad)} bad)"
            )
        return out

    def load(self, indices: Sequence[int]) -> None:
        todo = list(
            dict.fromkeys(i for i in self._check_indices(indices) if i not in self._resident)
        )
        if todo:
            inputs = _map_in_order(self._make_input, todo, self.workers)
            self._resident.update(zip(todo, inputs, strict=True))

    def unload(self, indices: Sequence[int]) -> None:
        for i in indices:
            self._resident.pop(int(i), None)

    def get_batch(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        batch = np.empty((idx.size, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        for row, i in enumerate(idx.tolist()):
            x = self._resident.get(i)
            if x is None:
                raise DataError(
                    f"{self.dataset_id} sample {i} was requested before it was loaded",
                    fix="call load() with the index first (LoadGen loads samples before issuing)",
                )
            batch[row] = x
        return batch

    def describe(self) -> dict[str, Any]:
        ann = self.annotations
        return {
            "dataset_id": self.dataset_id,
            "path": str(self.path),
            "annotations": str(ann.path),
            "total_count": self.total_count,
            "full_count": self.full_count,
            "subset": self.total_count < self.full_count,
            "complete_mlperf_set": ann.complete,
            "annotation_count": ann.annotation_count,
            "categories": len(ann.category_ids),
            "images_without_annotations": ann.images_without_annotations,
            "transform": f"{IMAGE_SIZE}x{IMAGE_SIZE} cv2 INTER_LINEAR float32, /255, NCHW",
            "preprocess_threads": self.workers,
            "cache": None
            if self.cache is None or not self.cache.enabled
            else str(self.cache.directory),
            "synthetic": self.synthetic,
            **({"seed": ann.info.get("seed")} if self.synthetic else {}),
        }


# --------------------------------------------------------------------------- synthetic data

GENERATOR_VERSION = 1
#: the colours of the synthetic rectangles; colour k is category id k
PALETTE = (
    (220, 30, 30),
    (30, 180, 40),
    (40, 60, 220),
    (235, 210, 20),
    (200, 40, 200),
    (20, 200, 210),
)
MIN_SIDE, MAX_SIDE = 96, 192


def synthetic_image(seed: int, index: int) -> tuple[np.ndarray, list[tuple[int, list[int]]]]:
    """The RGB uint8 image of synthetic sample ``index`` and its boxes as
    (category id, [x, y, w, h]) in pixels, from (seed, index) alone. Rectangles sit in distinct
    cells of a 2x2 grid, so none covers another."""
    rng = np.random.default_rng([seed, index, GENERATOR_VERSION])
    width, height = (int(v) for v in rng.integers(MIN_SIDE, MAX_SIDE + 1, size=2))
    grey = int(rng.integers(90, 166))
    img = np.full((height, width, 3), grey, dtype=np.uint8)
    cells = rng.permutation(4)[: int(rng.integers(1, 5))]
    boxes: list[tuple[int, list[int]]] = []
    for cell in sorted(cells.tolist()):
        cx0, cy0 = (cell % 2) * (width // 2), (cell // 2) * (height // 2)
        cw, ch = width // 2, height // 2
        w = int(rng.integers(cw // 3, cw - 3))
        h = int(rng.integers(ch // 3, ch - 3))
        x = cx0 + 2 + int(rng.integers(0, cw - w - 2))
        y = cy0 + 2 + int(rng.integers(0, ch - h - 2))
        cat = int(rng.integers(0, len(PALETTE)))
        img[y : y + h, x : x + w] = PALETTE[cat]
        boxes.append((cat, [x, y, w, h]))
    return img, boxes


def synthetic_file_name(index: int) -> str:
    return f"synthetic_{index:05d}.jpg"


def _synthetic_info(count: int, seed: int) -> dict[str, Any]:
    return dict(dataset=SYNTHETIC_ID, version=f"synthetic-v{GENERATOR_VERSION}", synthetic=True,
                seed=int(seed), count=int(count), generator_version=GENERATOR_VERSION)  # fmt: skip


#: the OpenImages-only annotation fields tools/openimages.py writes (all 0 here)
_FLAGS = dict.fromkeys(("IsOccluded", "IsInside", "IsDepiction", "IsTruncated", "IsGroupOf"), 0)


def write_synthetic_openimages(root: str | Path, count: int = 64, seed: int = 0) -> Path:
    """Write ``count`` synthetic images (JPEG, quality 95) and their COCO json in the
    OpenImages layout under ``root``; returns ``root``. The same (count, seed) gives the same
    bytes. An existing set with the same info and all its images is reused; the json is
    written last, so an interrupted write is redone."""
    if count < 1:
        raise ConfigError(f"sample count must be at least 1, got {count}", "pass --count N >= 1")
    root = Path(root)
    ann_path = root / ANNOTATIONS
    info = _synthetic_info(count, seed)
    try:
        if json.loads(ann_path.read_bytes()).get("info") == info and all(
            (root / IMAGES_DIR / synthetic_file_name(i)).is_file() for i in range(count)
        ):
            return root
    except (ValueError, OSError, AttributeError):
        pass
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(count):
        img, boxes = synthetic_image(seed, i)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=95)
        name = synthetic_file_name(i)
        atomic_write_bytes(root / IMAGES_DIR / name, buf.getvalue(), fsync=False)
        images.append(dict(id=i + 1, file_name=name, height=img.shape[0], width=img.shape[1],
                           license=None, coco_url=None))  # fmt: skip
        for cat, box in boxes:
            n = len(annotations) + 1
            annotations.append(dict(id=n, image_id=i + 1, category_id=cat, bbox=box,
                                    area=box[2] * box[3], iscrowd=0, **_FLAGS))  # fmt: skip
    categories = [
        {"id": k, "name": f"synthetic_class_{k:03d}", "supercategory": None}
        for k in range(NUM_CLASSES)
    ]
    doc = dict(
        info=info, licenses=[], categories=categories, images=images, annotations=annotations
    )
    atomic_write_text(ann_path, json.dumps(doc))
    return root
