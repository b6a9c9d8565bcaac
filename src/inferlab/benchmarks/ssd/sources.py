"""ssd-mobilenet and ssd-resnet34 (SSD on COCO 2017 val; retired after v2.0): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.data.sources import BenchmarkSources, Source
from inferlab.data.sources_cite import auto, by_auto, calibration_list, inf, model_source

_V2 = "mlcommons/inference@33894a19 (tag v2.0)"
_V2_README = f"{_V2}:vision/classification_and_detection/README.md"

COCO2017_VAL = Source(
    id="coco2017-val",
    kind="dataset",
    what="COCO 2017 validation images (5,000 JPEGs)",
    acquisition="download",
    directory=True,
    urls=("http://images.cocodataset.org/zips/val2017.zip",),
    size_bytes=815_585_330,
    file_count=5_000,
    sample_count=5_000,
    archive="zip",
    layout="val2017/*.jpg",
    md5="442b8da7639aecaf257c1dceb8ba8c80",
    checksum_published_by=by_auto("get-dataset-coco", "customize.py"),
    licence="COCO: annotations CC BY 4.0; images under the Flickr terms of use",
    legacy=True,
    unverified=False,
    cited_from=(
        f"{_V2_README} (Datasets table)",
        auto("get-dataset-coco", "customize.py"),
        "size: Content-Length of val2017.zip in public download logs (815585330)",
    ),
)

COCO2017_ANNOTATIONS = Source(
    id="coco2017-val/annotations_trainval2017.zip",
    kind="auxiliary",
    what="COCO 2017 train/val annotations (instances_val2017.json for the accuracy script)",
    acquisition="download",
    urls=("http://images.cocodataset.org/annotations/annotations_trainval2017.zip",),
    size_bytes=252_907_541,
    archive="zip",
    layout="annotations/instances_val2017.json, ...",
    md5="f4bbac642086de4f52a3fdda2de5fa2c",
    checksum_published_by=by_auto("get-dataset-coco", "customize.py"),
    licence="CC BY 4.0",
    legacy=True,
    unverified=False,
    cited_from=(
        f"{_V2_README} (Datasets table)",
        auto("get-dataset-coco", "customize.py"),
        "size: Content-Length in public download logs (252907541)",
    ),
)


def _coco_resized(size: int) -> Source:
    return Source(
        id=f"coco2017-val-{size}",
        kind="dataset",
        what=f"COCO 2017 val resized to {size}x{size} PNGs (for non-reference harnesses)",
        acquisition="generated",
        size_bytes=0,
        directory=True,
        file_count=5_000,
        sample_count=5_000,
        legacy=True,
        steps=(
            "Fetch coco2017-val and its annotations.",
            f"Resize every image to {size}x{size} and rewrite the annotations as "
            f"tools/upscale_coco/upscale_coco.py --size {size} {size} --format png does.",
        ),
        cited_from=(f"{_V2_README} (Prepare the coco dataset)", f"{_V2}:tools/upscale_coco"),
        notes=("the reference harness resizes on the fly and needs only coco2017-val",),
    )


COCO_CAL = calibration_list(
    "calibration/COCO/coco_cal_images_list.txt",
    "MLPerf COCO calibration list (500 image names from the COCO train split)",
    500,
    8_500,
    "ca6f97a9e49db992d18bf01dc98d7b164c5f57c0ce2553c45365ca8445bec559",
    legacy=True,
    notes=("the images are not in val2017: they come from COCO train (train2017.zip)",),
)


def _ssd_model(model_id: str, file: str, record: str, what: str, variant: str) -> Source:
    return model_source(
        model_id,
        file,
        what=what,
        acquisition="download",
        urls=(f"https://zenodo.org/record/{record}/files/{file}",),
        variant=variant,
        legacy=True,
        cited_from=(_V2_README, inf("vision/classification_and_detection/README.md")),
    )


_SSD_MOBILENET = (
    COCO2017_VAL,
    COCO2017_ANNOTATIONS,
    _coco_resized(300),
    _ssd_model(
        "ssd-mobilenet",
        "ssd_mobilenet_v1_coco_2018_01_28.onnx",
        "3163026",
        "SSD-MobileNet-v1 300x300 ONNX (opset 8), mAP 0.23",
        "onnx",
    ),
    _ssd_model(
        "ssd-mobilenet",
        "ssd_mobilenet_v1.pytorch",
        "3239977",
        "SSD-MobileNet-v1 300x300 PyTorch weights, mAP 0.23",
        "pytorch",
    ),
    COCO_CAL,
)
_SSD_RESNET34 = (
    COCO2017_VAL,
    COCO2017_ANNOTATIONS,
    _coco_resized(1200),
    _ssd_model(
        "ssd-resnet34",
        "resnet34-ssd1200.onnx",
        "3228411",
        "SSD-ResNet34 1200x1200 ONNX (opset 8, from PyTorch), mAP 0.20",
        "onnx",
    ),
    _ssd_model(
        "ssd-resnet34",
        "resnet34-ssd1200.pytorch",
        "3236545",
        "SSD-ResNet34 1200x1200 PyTorch weights, mAP 0.20",
        "pytorch",
    ),
    COCO_CAL,
)

_SSD_NOTE = (
    "in the v2.0 checker as {}; gone from v2.1 (RetinaNet replaced the SSDs); the README "
    "lists it as removed since v2.1"
)
_SSD_CITE = (
    f"{_V2}:tools/submission/submission-checker.py (v2.0 models)",
    "mlcommons/inference@318cb131 (tag v2.1):tools/submission/submission-checker.py",
    inf("vision/classification_and_detection/README.md") + " (deprecated models)",
)


SOURCES: tuple[BenchmarkSources, ...] = (
    BenchmarkSources(
        "ssd-mobilenet",
        "SSD-MobileNet-v1 on COCO 2017 val at 300x300",
        _SSD_MOBILENET,
        ("ssd-small", "ssd-mobilenet-v1", "mobilenet-ssd"),
        legacy=True,
        last_round="v2.0",
        legacy_note=_SSD_NOTE.format("ssd-small"),
        cited_from=_SSD_CITE,
    ),
    BenchmarkSources(
        "ssd-resnet34",
        "SSD-ResNet34 on COCO 2017 val at 1200x1200",
        _SSD_RESNET34,
        ("ssd-large", "ssd-resnet34-1200"),
        legacy=True,
        last_round="v2.0",
        legacy_note=_SSD_NOTE.format("ssd-large"),
        cited_from=_SSD_CITE,
    ),
)
