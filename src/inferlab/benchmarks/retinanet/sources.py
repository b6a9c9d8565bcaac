"""retinanet (RetinaNet 800x800 on the MLPerf OpenImages subset): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.data.sources import BenchmarkSources, Source
from inferlab.data.sources_cite import (
    ROUNDS,
    RULES,
    auto,
    by_auto,
    calibration_list,
    inf,
    model_source,
)

OPENIMAGES = Source(
    id="openimages-v6-mlperf",
    kind="dataset",
    what="MLPerf OpenImages v6 validation subset: 24,781 images of 264 classes, COCO-style json",
    acquisition="generated",
    directory=True,
    urls=(
        "https://storage.googleapis.com/openimages/v5/validation-annotations-bbox.csv",
        "https://storage.googleapis.com/openimages/v5/class-descriptions-boxable.csv",
    ),
    file_count=24_781,
    sample_count=24_781,
    layout="validation/data/*.jpg + annotations/openimages-mlperf.json",
    licence="OpenImages: annotations CC BY 4.0, images listed as CC BY 2.0 (per image)",
    steps=(
        "Download the OpenImages validation box annotations and class descriptions (the two urls).",
        "Keep the validation images that contain any of the 264 MLPerf classes (MLPERF_CLASSES in "
        "vision/classification_and_detection/tools/openimages_mlperf.sh).",
        "Download those 24,781 images from the public 'open-images-dataset' S3 bucket "
        "(anonymous access) into <root>/openimages-v6-mlperf/validation/data/.",
        "Write annotations/openimages-mlperf.json (COCO format), as tools/openimages.py does.",
    ),
    cited_from=(
        inf("vision/classification_and_detection/tools/openimages_mlperf.sh"),
        inf("vision/classification_and_detection/tools/openimages.py"),
        f"{RULES} sections 4 and 7 (24,781 images)",
        "ecosystem-notes.md pain point 2 (full download and preprocessing about 1 h on 48 cores)",
    ),
)

OPENIMAGES_ANNOTATIONS = Source(
    id="openimages-v6-mlperf/annotations/openimages-mlperf_annotations_2.1.json.zip",
    kind="auxiliary",
    what="prebuilt openimages-mlperf.json annotations (inference v2.1 release asset)",
    acquisition="download",
    urls=(
        "https://github.com/mlcommons/inference/releases/download/v2.1/"
        "openimages-mlperf_annotations_2.1.json.zip",
    ),
    archive="zip",
    md5="817fd8da3aeeb0575f1e2d2926b15e68",
    checksum_published_by=by_auto("get-dataset-openimages-annotations"),
    unverified=False,
    cited_from=(auto("get-dataset-openimages-annotations"),),
)

RETINANET_PTH = model_source(
    "retinanet",
    "resnext50_32x4d_fpn.pth",
    what="RetinaNet 800x800 (ResNeXt50-32x4d FPN) PyTorch weights, mAP 0.3755",
    acquisition="download",
    urls=("https://zenodo.org/record/6617981/files/resnext50_32x4d_fpn.pth",),
    md5="a55f6bec3464f605ce8d686da8ac1533",
    checksum_published_by=by_auto("get-ml-model-retinanet"),
    variant="pytorch",
    unverified=False,
    cited_from=(
        inf("vision/classification_and_detection/README.md"),
        auto("get-ml-model-retinanet"),
    ),
)

RETINANET_ONNX = model_source(
    "retinanet",
    "resnext50_32x4d_fpn.onnx",
    what="RetinaNet 800x800 ONNX (converted from the PyTorch model), mAP 0.3757",
    acquisition="download",
    urls=("https://zenodo.org/record/6617879/files/resnext50_32x4d_fpn.onnx",),
    md5="4544f4e56e0a4684215831cc937ea45c",
    checksum_published_by=by_auto("get-ml-model-retinanet"),
    variant="onnx",
    unverified=False,
    cited_from=(
        inf("vision/classification_and_detection/README.md"),
        auto("get-ml-model-retinanet"),
    ),
)

OPENIMAGES_CAL = calibration_list(
    "calibration/openimages/openimages_cal_images_list.txt",
    "MLPerf OpenImages calibration list (500 image ids from the OpenImages train split)",
    500,
    10_499,
    "f5c20ee508bf9449ac26e4db6c6035760e31385a3deefb1856ad47dbe5b0d7be",
    "get-dataset-openimages-calibration",
    "5c3196ddcec4605c6a9fcf004d9615e6",
)

_RETINANET = (OPENIMAGES, OPENIMAGES_ANNOTATIONS, RETINANET_PTH, RETINANET_ONNX, OPENIMAGES_CAL)


SOURCES: tuple[BenchmarkSources, ...] = (
    BenchmarkSources(
        "retinanet",
        "RetinaNet 800x800 on the MLPerf OpenImages subset",
        _RETINANET,
        ("retinanet-800", "retinanet-resnext50"),
        last_round="v6.0",
        legacy_note="not in v6.1 (YOLO replaced it)",
        cited_from=(ROUNDS,),
    ),
)
