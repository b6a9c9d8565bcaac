"""RetinaNet mAP from a LoadGen accuracy log, computed like the official
``vision/classification_and_detection/tools/accuracy-openimages.py`` (and, with its options,
``tools/accuracy-coco.py`` for the COCO detectors).

The rules and their sources are in :mod:`inferlab.metrics.detection`, which does the work; this
module reads the log (streamed, :func:`inferlab.loadgen.accuracy_log.iter_entries`), picks the
annotation file and the script's options, and turns the result into the task's
:class:`~inferlab.core.task.Evaluation` (metric ``mAP`` in percent, as the checker reads it from
the ``mAP=xx.xxx%`` line).

Differences from the official scripts, all deliberate:

* the annotation file is an argument: the official openimages script also honours the
  ``DATASET_ANNOTATIONS_FILE_PATH`` environment variable (l.46-50); inferlab reads no
  environment outside its config layer, so a caller passes that path instead;
* errors where the official scripts crash are :class:`~inferlab.core.errors.DataError`; a log
  with no detection at all scores 0 here (``official_would_fail``);
* the official script always writes its detections json (``--output-file``, default
  ``openimages-results.json`` in the working directory); here only when ``output_file`` is given.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from inferlab.core.task import Evaluation, MetricValue
from inferlab.loadgen.accuracy_log import iter_entries
from inferlab.metrics.detection import (
    DetectionMap,
    coco_bbox_map,
    decode_detection_log,
    image_map,
    inverse_label_map,
    load_ground_truth,
)

__all__ = [
    "ANNOTATIONS",
    "COCO_ANNOTATIONS",
    "coco_map_from_log",
    "evaluation",
    "openimages_map_from_log",
]

log = logging.getLogger(__name__)

#: where the official openimages script finds the annotations under ``--openimages-dir``
ANNOTATIONS = "annotations/openimages-mlperf.json"
#: its image folder under ``--openimages-dir`` (only for the output file's ``image_loc``)
IMAGES = "validation/data"
#: accuracy-coco.py's annotations and images under ``--coco-dir``
COCO_ANNOTATIONS = "annotations/instances_val2017.json"
COCO_IMAGES = "val2017"


def _score(
    log_path: str | os.PathLike[str],
    annotation_file: Path,
    *,
    use_inv_map: bool,
    remove_empty_images: bool,
    verbose: bool,
    output_file: str | os.PathLike[str] | None,
    image_dir: Path | None,
) -> DetectionMap:
    gt, header = load_ground_truth(annotation_file)
    entries = ((e.qsl_idx, e.data) for e in iter_entries(log_path))
    decoded = decode_detection_log(
        entries,
        image_map(gt, remove_empty_images=remove_empty_images),
        inv_map=inverse_label_map(gt) if use_inv_map else None,
        verbose=verbose,
        where=str(log_path),
        image_dir=None if image_dir is None else str(image_dir),
    )
    result = coco_bbox_map(
        gt,
        decoded,
        header=header,
        verbose=verbose,
        output_file=None if output_file is None else Path(output_file),
    )
    log.info(
        "%s (%d images, %d detections, %d without detections, %d duplicates ignored)",
        result.line(),
        result.images,
        result.detections,
        result.no_results,
        result.duplicates,
    )
    return result


def openimages_map_from_log(
    log_path: str | os.PathLike[str],
    annotation_file: str | os.PathLike[str],
    *,
    use_inv_map: bool = False,
    verbose: bool = False,
    output_file: str | os.PathLike[str] | None = None,
    openimages_dir: str | os.PathLike[str] | None = None,
) -> DetectionMap:
    """What ``accuracy-openimages.py --mlperf-accuracy-file LOG`` computes and prints against
    ``annotation_file`` (the official default: ``<openimages-dir>/annotations/
    openimages-mlperf.json``). The MLPerf retinanet runs pass no ``--use-inv-map``: the
    reference model's labels are the category ids 0..263 already."""
    return _score(
        log_path,
        Path(annotation_file),
        use_inv_map=use_inv_map,
        remove_empty_images=False,
        verbose=verbose,
        output_file=output_file,
        image_dir=None if openimages_dir is None else Path(openimages_dir) / IMAGES,
    )


def coco_map_from_log(
    log_path: str | os.PathLike[str],
    coco_dir: str | os.PathLike[str],
    *,
    use_inv_map: bool = False,
    remove_48_empty_images: bool = False,
    verbose: bool = False,
    output_file: str | os.PathLike[str] | None = None,
) -> DetectionMap:
    """What ``accuracy-coco.py --mlperf-accuracy-file LOG --coco-dir DIR`` computes and prints
    (annotations ``DIR/annotations/instances_val2017.json``; ``--use-inv-map`` maps model label
    L to ``([0] + catIds)[L]``; ``--remove-48-empty-images`` indexes only the annotated images,
    for a QSL built without the 48 empty ones)."""
    root = Path(coco_dir)
    return _score(
        log_path,
        root / COCO_ANNOTATIONS,
        use_inv_map=use_inv_map,
        remove_empty_images=remove_48_empty_images,
        verbose=verbose,
        output_file=output_file,
        image_dir=root / COCO_IMAGES,
    )


def evaluation(result: DetectionMap, *, synthetic: bool = False) -> Evaluation:
    """The task's Evaluation: metric ``mAP`` (percent, the checker's key) and the official
    script's stdout as ``accuracy.txt``."""
    return Evaluation(
        values=(MetricValue("mAP", result.map_percent, "%"),),
        accuracy_txt=result.text,
        details={
            "mAP": result.map,
            "coco_stats": list(result.stats),
            "images": result.images,
            "detections": result.detections,
            "entries": result.entries,
            "duplicates": result.duplicates,
            "no_results": result.no_results,
            "official_would_fail": result.official_would_fail,
            "synthetic": synthetic,
        },
    )
