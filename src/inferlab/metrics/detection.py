"""COCO-style bbox mAP from a LoadGen accuracy log, as the MLPerf detection accuracy scripts
compute it (``vision/classification_and_detection/tools/accuracy-openimages.py`` and
``tools/accuracy-coco.py``; the two differ only in the options named below).

The rules reproduced (line numbers are accuracy-openimages.py's at mlcommons/inference
b66003e):

* the ground truth is ``pycocotools.coco.COCO(<annotation json>)`` (l.51); QSL index i is
  ``images[i]`` of the json, in file order (l.64), not the image id;
* log entries are visited in file order; only the first entry of each ``qsl_idx`` counts
  (l.66-71);
* each payload is float32 (``np.frombuffer(bytes.fromhex(data), np.float32)``, l.78); fewer
  than 7 floats means "no detections": the image still joins the evaluated image ids, so its
  ground truth counts as missed (l.79-88);
* otherwise every 7 floats are ``[qsl_idx, ymin, xmin, ymax, xmax, score, label]`` with box
  coordinates normalised to [0, 1] (l.90-91); ``int(qsl_idx)`` differing from the entry's index
  prints ``ERROR: loadgen(i) and payload(j) disagree on image_idx`` and is otherwise ignored
  (l.93-99); y is multiplied by the image's json ``height`` and x by its ``width`` (l.101-105),
  in numpy scalar arithmetic (float32 under numpy >= 2, float64 under numpy 1: reproduced for
  the installed numpy); the category is ``int(label)``, or ``([0] + gt.getCatIds())[int(label)]``
  with ``--use-inv-map`` (l.53-55, l.109-111); the COCO box is
  ``[xmin, ymin, xmax - xmin, ymax - ymin]`` and the score ``float(score)`` (l.114-126);
* ``gt.loadRes(detections)``, ``COCOeval(gt, dt, "bbox")`` with ``params.imgIds`` = the images
  seen in the log (l.132-136), ``evaluate(); accumulate(); summarize()``, then
  ``mAP={:.3f}%`` of ``100 * stats[0]`` (l.137-141); ``--verbose`` adds four count lines
  (l.142-146) and a ``no results: <coco_url>, idx=<i>`` line per empty image (l.86-87).

accuracy-coco.py differs only in: the annotation file (``<coco-dir>/annotations/
instances_val2017.json``; no ``DATASET_ANNOTATIONS_FILE_PATH``), and ``--remove-48-empty-images``
(its l.65-72): QSL index i is then the i-th image id of ``list(set(ids))``, where ``ids``
concatenates ``gt.catToImgs[c]`` over ``gt.getCatIds()`` (the images with at least one
annotation, in Python's set order, reproduced here by building the same set the same way).

Where the official scripts would crash (an index past the image list, a partial 7-float group,
a NaN label, a payload that is not whole float32s) we raise :class:`DataError`. An accuracy log
without a single detection makes the official ``loadRes`` fail (IndexError on ``anns[0]``);
here it scores 0 with an empty result set, and ``official_would_fail`` says so.

pycocotools is imported lazily (the ``[detection]`` extra). Its progress lines (printed with
``print``) are captured into the result's ``text``, in the order the official script prints
them, so ``text`` is that script's stdout apart from the ``(t=...s)`` timings.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inferlab.core.errors import ConfigError, DataError

__all__ = [
    "DETECTION_FLOATS",
    "DecodedLog",
    "DetectionMap",
    "coco_bbox_map",
    "decode_detection_log",
    "image_map",
    "inverse_label_map",
    "load_ground_truth",
]

#: floats per detection in the payload: qsl_idx, ymin, xmin, ymax, xmax, score, label
DETECTION_FLOATS = 7
PYCOCOTOOLS_INSTALL = "pip install pycocotools (or install inferlab with the [detection] extra)"
_FIX_LOG = "re-run the accuracy test; the SUT must write float32 groups of 7 per detection"


def _pycocotools() -> tuple[Any, Any]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ConfigError(
            "COCO mAP needs pycocotools, which is not installed", fix=PYCOCOTOOLS_INSTALL
        ) from None
    return COCO, COCOeval


@contextlib.contextmanager
def _capture(buffer: io.StringIO) -> Any:
    with contextlib.redirect_stdout(buffer):
        yield


def load_ground_truth(annotation_file: str | Path) -> tuple[Any, str]:
    """``COCO(annotation_file)`` and what it printed. DataError for a missing or broken file."""
    COCO, _ = _pycocotools()
    path = Path(annotation_file)
    if not path.is_file():
        raise DataError(
            f"annotation file {path} does not exist",
            "point at the COCO-format annotation json of the dataset the run used",
        )
    out = io.StringIO()
    try:
        with _capture(out):
            gt = COCO(str(path))
    except (ValueError, AssertionError, KeyError, TypeError) as err:
        raise DataError(
            f"annotation file {path} is not a COCO-format json ({str(err)[:200]})",
            "re-download or regenerate the annotation file",
        ) from err
    return gt, out.getvalue()


def inverse_label_map(gt: Any) -> list[int]:
    """``[0] + gt.getCatIds()``: the ``--use-inv-map`` table (model label -> category id)."""
    return [0, *gt.getCatIds()]


def image_map(gt: Any, *, remove_empty_images: bool = False) -> list[dict[str, Any]]:
    """The image record of each QSL index: the json's ``images`` in file order, or with
    ``remove_empty_images`` (accuracy-coco.py's ``--remove-48-empty-images``) the images with
    at least one annotation, in the order the official script's ``list(set(...))`` gives."""
    if not remove_empty_images:
        images: list[dict[str, Any]] = gt.dataset["images"]
        return images
    ids: list[int] = []
    for cat in gt.getCatIds():
        ids += gt.catToImgs[cat]
    return [gt.imgs[i] for i in list(set(ids))]


@dataclass
class DecodedLog:
    """The detections of an accuracy log in pycocotools' result format, and its counts."""

    detections: list[dict[str, Any]] = field(default_factory=list)
    image_ids: list[int] = field(default_factory=list)  # in the official script's set order
    entries: int = 0
    unique: int = 0
    no_results: int = 0
    lines: list[str] = field(default_factory=list)  # what the official script prints meanwhile

    @property
    def duplicates(self) -> int:
        return self.entries - self.unique


def _scaled(values: np.ndarray, size: Any) -> np.ndarray:
    """``float32 scalar * size`` as the official script's ``ymin *= height`` computes it, for
    a whole column: in the type numpy gives that scalar product (float32 under NEP 50)."""
    kind = type(np.float32(1) * size)
    out: np.ndarray = values.astype(kind) * kind(size)
    return out


def decode_detection_log(
    entries: Iterable[tuple[int, str]],
    images: Sequence[Mapping[str, Any]],
    *,
    inv_map: Sequence[int] | None = None,
    verbose: bool = False,
    where: str = "accuracy log",
    image_dir: str | None = None,
) -> DecodedLog:
    """Decode ``(qsl_idx, hex payload)`` pairs (file order) into COCO result dicts, as the
    official script does (module docstring). ``images[i]`` is QSL index i's image record
    (``id``, ``height``, ``width``; ``coco_url`` for verbose lines). ``image_dir``: if given,
    each detection carries ``image_loc`` = ``image_dir/<file_name>`` as the official output file
    does (it does not affect the score)."""
    out = DecodedLog()
    seen: set[int] = set()
    image_ids: set[int] = set()
    for idx, hex_data in entries:
        out.entries += 1
        if idx in seen:
            continue
        seen.add(idx)
        if not 0 <= idx < len(images):
            raise DataError(
                f"{where}: qsl_idx {idx} is outside the {len(images)} images of the annotations",
                "score the log against the annotation file of the dataset the run used",
            )
        image = images[idx]
        try:
            data = np.frombuffer(bytes.fromhex(hex_data), np.float32)
        except ValueError as err:
            raise DataError(
                f"{where}: qsl_idx {idx} has a payload that is not float32 hex ({err})", _FIX_LOG
            ) from None
        if len(data) < DETECTION_FLOATS:
            image_ids.add(image["id"])
            out.no_results += 1
            if verbose:
                out.lines.append(f"no results: {image.get('coco_url')}, idx={idx}")
            continue
        whole = len(data) // DETECTION_FLOATS
        rows = data[: whole * DETECTION_FLOATS].reshape(whole, DETECTION_FLOATS)
        height, width = image["height"], image["width"]
        ys = _scaled(rows[:, [1, 3]], height)
        xs = _scaled(rows[:, [2, 4]], width)
        box_w = (xs[:, 1] - xs[:, 0]).tolist()
        box_h = (ys[:, 1] - ys[:, 0]).tolist()
        ymin, xmin = ys[:, 0].tolist(), xs[:, 0].tolist()
        loc = None if image_dir is None else str(Path(image_dir) / str(image.get("file_name")))
        for r, (payload_idx, score, label) in enumerate(rows[:, [0, 5, 6]].tolist()):
            try:
                payload_int, label_int = int(payload_idx), int(label)
            except (ValueError, OverflowError):
                raise DataError(
                    f"{where}: qsl_idx {idx} detection {r} has image index {payload_idx} and "
                    f"label {label}, not numbers",
                    _FIX_LOG,
                ) from None
            if payload_int != idx:
                out.lines.append(
                    f"ERROR: loadgen({idx}) and payload({payload_int}) disagree on image_idx"
                )
            category = label_int
            if inv_map is not None:
                try:
                    category = inv_map[label_int]
                except IndexError:
                    raise DataError(
                        f"{where}: qsl_idx {idx} detection {r} has label {label_int}, past the "
                        f"{len(inv_map)}-entry inverse label map",
                        "drop use_inv_map if the model's labels are category ids already",
                    ) from None
            det: dict[str, Any] = {
                "image_id": image["id"],
                "category_id": category,
                "bbox": [xmin[r], ymin[r], box_w[r], box_h[r]],
                "score": score,
            }
            if loc is not None:
                det["image_loc"] = loc
            out.detections.append(det)
            image_ids.add(image["id"])
        if len(data) % DETECTION_FLOATS:
            raise DataError(
                f"{where}: qsl_idx {idx} has {len(data)} floats, not a multiple of "
                f"{DETECTION_FLOATS}",
                _FIX_LOG,
            )
    out.unique = len(seen)
    out.image_ids = list(image_ids)
    return out


@dataclass(frozen=True)
class DetectionMap:
    """The result: ``stats`` are COCOeval's 12 summary numbers (stats[0] = AP@[.5:.95])."""

    stats: tuple[float, ...]
    text: str  # the official script's stdout (pycocotools' lines + ours), timings included
    images: int
    detections: int
    entries: int
    duplicates: int
    no_results: int
    official_would_fail: bool = False

    @property
    def map(self) -> float:
        """AP@[.5:.95] as a fraction (stats[0]); -1 when no ground truth was evaluated."""
        return self.stats[0]

    @property
    def map_percent(self) -> float:
        return 100.0 * self.stats[0]

    def line(self) -> str:
        """The official script's result line, e.g. ``mAP=37.552%``."""
        return f"mAP={self.map_percent:.3f}%"


def coco_bbox_map(
    gt: Any,
    decoded: DecodedLog,
    *,
    header: str = "",
    verbose: bool = False,
    output_file: str | Path | None = None,
) -> DetectionMap:
    """``loadRes`` + ``COCOeval(bbox)`` over ``decoded.image_ids`` + summarize, as the official
    script does; ``header`` is what was printed before (the ground truth's loading lines).
    ``output_file``: also write the detections json the official script writes (sorted keys,
    indent 4)."""
    COCO, COCOeval = _pycocotools()
    if not decoded.image_ids:
        raise DataError(
            "the accuracy log has no entries",
            "run LoadGen in AccuracyOnly mode so every sample is logged",
        )
    buf = io.StringIO()
    buf.write(header)
    buf.writelines(text + "\n" for text in decoded.lines)  # printed while decoding
    if output_file is not None:
        with Path(output_file).open("w", encoding="utf-8") as fp:
            json.dump(decoded.detections, fp, sort_keys=True, indent=4)
    with _capture(buf):
        if decoded.detections:
            # loadRes adds id/area/iscrowd/segmentation to each dict: give it copies
            dt = gt.loadRes([dict(d) for d in decoded.detections])
        else:  # the official loadRes fails here (anns[0]); score an empty result set
            dt = COCO()
            dt.dataset = {
                "images": list(gt.dataset["images"]),
                "categories": list(gt.dataset.get("categories", [])),
                "annotations": [],
            }
            dt.createIndex()
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.imgIds = list(decoded.image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = tuple(float(s) for s in ev.stats)
    buf.write(f"mAP={100.0 * stats[0]:.3f}%\n")
    if verbose:
        buf.write(f"found {decoded.entries} results\n")
        buf.write(f"found {len(decoded.image_ids)} images\n")
        buf.write(f"found {decoded.no_results} images with no results\n")
        buf.write(f"ignored {decoded.duplicates} dupes\n")
    return DetectionMap(
        stats=stats,
        text=buf.getvalue(),
        images=len(decoded.image_ids),
        detections=len(decoded.detections),
        entries=decoded.entries,
        duplicates=decoded.duplicates,
        no_results=decoded.no_results,
        official_would_fail=not decoded.detections,
    )
