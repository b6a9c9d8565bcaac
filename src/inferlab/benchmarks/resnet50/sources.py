"""resnet50 (ResNet50-v1.5 on ImageNet 2012 validation): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.

The validation set has no public download: ``inferlab prepare resnet50 --from PATH`` imports a
user's copy through the importer it declares (:func:`.imagenet_import.import_source`), and
:func:`preprocessed_cache_bytes` sizes the crop cache a run builds (for ``inferlab check``).
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

IMAGENET_VAL = Source(
    id="imagenet2012-val",
    kind="dataset",
    what="ImageNet 2012 (ILSVRC2012) validation images, 50,000 JPEGs, labels 0..999",
    acquisition="manual",
    directory=True,
    size_bytes=6_744_924_160,
    file_count=50_000,
    sample_count=50_000,
    archive="tar",
    layout="ILSVRC2012_val_00000001.JPEG .. ILSVRC2012_val_00050000.JPEG (flat) + val_map.txt",
    md5="29b22e2961454d5413ddabcf34fc5622",
    checksum_published_by=by_auto("get-dataset-imagenet-val")
    + " and PyTorch (pytorch/vision torchvision/datasets/imagenet.py ARCHIVE_META)",
    licence="ImageNet terms of access: registration, non-commercial research/education only",
    gated=True,
    unverified=False,
    importer="inferlab.benchmarks.resnet50.imagenet_import:import_source",
    steps=(
        "Create an account at https://image-net.org/ and accept the ImageNet terms of access "
        "(non-commercial research and educational use).",
        "From the ILSVRC 2012 download page, download ILSVRC2012_img_val.tar (6,744,924,160 bytes,"
        " about 6.3 GB; md5 29b22e2961454d5413ddabcf34fc5622): 50,000 JPEGs.",
        "For the labels, download ILSVRC2012_devkit_t12.tar.gz from the same page, or bring the "
        "MLPerf val_map.txt (one line per image: '<file name> <label 0..999>').",
        "Run: inferlab prepare resnet50 --from /path/to/ILSVRC2012_img_val.tar-or-extracted-dir "
        "[--devkit /path/to/ILSVRC2012_devkit_t12.tar.gz]. It links or copies the images into "
        "<root>/imagenet2012-val/, writes val_map.txt and records both in the manifest.",
    ),
    cited_from=(
        f"{RULES} sections 4 and 7 (50,000 images, label order)",
        auto("get-dataset-imagenet-val"),
        "pytorch/vision torchvision/datasets/imagenet.py (ARCHIVE_META md5)",
        "size: Content-Length of image-net.org ILSVRC2012_img_val.tar in public download logs "
        "(e.g. github.com/jkjung-avt/keras_imagenet README: 6744924160 bytes)",
        "ecosystem-notes.md pain point 1 (ImageNet has no public download; inference #542)",
    ),
)

IMAGENET_DEVKIT = Source(
    id="imagenet2012-devkit",
    dest="imagenet2012-devkit/ILSVRC2012_devkit_t12.tar.gz",
    kind="auxiliary",
    what="ILSVRC 2012 development kit: meta.mat and the validation ground truth (labels)",
    acquisition="manual",
    size_bytes=2_568_634,
    archive="tar.gz",
    md5="fa75699e90414af021442c21a62c3abf",
    checksum_published_by="PyTorch (pytorch/vision torchvision/datasets/imagenet.py ARCHIVE_META)",
    gated=True,
    alternative_to="imagenet2012-val",
    notes=("labels only: one way to build imagenet2012-val/val_map.txt (--devkit)",),
    steps=(
        "Download ILSVRC2012_devkit_t12.tar.gz from the image-net.org ILSVRC 2012 page "
        "(same account as the images).",
        "Pass it as --devkit to `inferlab prepare resnet50` (not needed with a val_map.txt).",
    ),
    cited_from=(
        "pytorch/vision torchvision/datasets/imagenet.py (ARCHIVE_META md5)",
        "size: public ImageNet download scripts listing ILSVRC2012_devkit_t12.tar.gz = 2568634",
        f"{RULES} section 4 (val_map.txt from the devkit's ground truth and meta.mat)",
    ),
)

IMAGENET_CAFFE_AUX = Source(
    id="imagenet2012-caffe-aux",
    dest="imagenet2012-caffe-aux/caffe_ilsvrc12.tar.gz",
    kind="auxiliary",
    what="Caffe's ILSVRC12 auxiliary files (val.txt labels), what MLCommons' scripts fetch",
    acquisition="download",
    urls=("http://dl.caffe.berkeleyvision.org/caffe_ilsvrc12.tar.gz",),
    archive="tar.gz",
    md5="f963098ea0e785a968ca1eb634003a90",
    checksum_published_by=by_auto("get-dataset-imagenet-aux"),
    alternative_to="imagenet2012-val",
    unverified=False,
    cited_from=(auto("get-dataset-imagenet-aux"), f"{RULES} section 4"),
    notes=(
        "labels only: val.txt is believed to equal MLPerf's val_map.txt; confirm before use",
        "MLCommons also lists a Dropbox copy with another md5 (ee346d67141e476df9c1a3f813552503)",
    ),
)

RESNET50_PTH = model_source(
    "resnet50",
    "resnet50-19c8e357.pth",
    what="ResNet50-v1.5 PyTorch state dict (torchvision), 1000 classes, top-1 76.014 %",
    acquisition="download",
    urls=(
        "https://zenodo.org/record/4588417/files/resnet50-19c8e357.pth",
        "https://download.pytorch.org/models/resnet50-19c8e357.pth",
    ),
    size_bytes=102_502_400,
    sha256_prefix="19c8e357",
    md5="9e9c86b324d80e65229fab49b8d9a8e8",
    checksum_published_by=by_auto("get-ml-model-resnet50")
    + "; sha256 prefix in the file name (PyTorch, checked by torch.hub)",
    variant="pytorch",
    unverified=False,
    cited_from=(
        inf("vision/classification_and_detection/README.md"),
        auto("get-ml-model-resnet50"),
        "size: torch.hub download logs of download.pytorch.org/models/resnet50-19c8e357.pth "
        "(102502400/102502400)",
    ),
)

RESNET50_ONNX = model_source(
    "resnet50",
    "resnet50_v1.onnx",
    what="ResNet50-v1.5 ONNX (opset 8, from the TF model), 1001 classes, top-1 76.456 %",
    acquisition="download",
    urls=("https://zenodo.org/record/2592612/files/resnet50_v1.onnx",),
    md5="a638cf028b5870da29e09ccc2f7182e7",
    checksum_published_by=by_auto("get-ml-model-resnet50"),
    variant="onnx",
    unverified=False,
    cited_from=(
        inf("vision/classification_and_detection/README.md"),
        auto("get-ml-model-resnet50"),
    ),
)

RESNET50_ONNX_OPSET11 = model_source(
    "resnet50",
    "resnet50_v1.onnx@opset-11",
    dest="models/resnet50/resnet50_v1.onnx",
    what="ResNet50-v1.5 ONNX, opset-11 export of the same TF model",
    acquisition="download",
    urls=("https://zenodo.org/record/4735647/files/resnet50_v1.onnx",),
    md5="f6a4da60cd5f084d97efc2c1ddb10beb",
    checksum_published_by=by_auto("get-ml-model-resnet50"),
    variant="onnx",
    alternative_to="models/resnet50/resnet50_v1.onnx",
    unverified=False,
    cited_from=(
        inf("vision/classification_and_detection/README.md"),
        auto("get-ml-model-resnet50"),
    ),
)

IMAGENET_CAL_1 = calibration_list(
    "calibration/ImageNet/cal_image_list_option_1.txt",
    "MLPerf ImageNet calibration list, option 1 (500 validation image names)",
    500,
    14_500,
    "7662247d1d9407d6cb564268f64c5a4a6cf9f1a34fd2e6cdc3b94dcf278b3dc9",
    "get-dataset-imagenet-calibration",
    "f09719174af3553119e2c621157773a6",
    notes=("use at most one of the two options (calibration/ImageNet/README.md)",),
)
IMAGENET_CAL_2 = calibration_list(
    "calibration/ImageNet/cal_image_list_option_2.txt",
    "MLPerf ImageNet calibration list, option 2 (500 validation image names, numbered 0..499)",
    500,
    16_390,
    "11ce810122226ec0ca8c56e47ee356e3c1185f3c6ce8262edb50c3c1d0a9705e",
    "get-dataset-imagenet-calibration",
    "e44582af00e3b4fc3fac30efd6bdd05f",
    notes=("use at most one of the two options (calibration/ImageNet/README.md)",),
)

_RESNET = (
    IMAGENET_VAL,
    IMAGENET_DEVKIT,
    IMAGENET_CAFFE_AUX,
    RESNET50_PTH,
    RESNET50_ONNX,
    RESNET50_ONNX_OPSET11,
    IMAGENET_CAL_1,
    IMAGENET_CAL_2,
)


SOURCES: tuple[BenchmarkSources, ...] = (
    BenchmarkSources(
        "resnet50",
        "ResNet50-v1.5 on ImageNet 2012 validation",
        _RESNET,
        ("resnet", "resnet-50", "resnet50-v1.5"),
        cited_from=(ROUNDS,),
        preprocessed_cache="inferlab.benchmarks.resnet50.sources:preprocessed_cache_bytes",
    ),
)


def preprocessed_cache_bytes() -> int:
    """The crop cache a run builds: one uint8 224x224x3 crop per validation image (imported
    here, on use: the preprocessing module imports numpy and Pillow)."""
    from inferlab.benchmarks.resnet50.imagenet_import import VAL_COUNT
    from inferlab.benchmarks.resnet50.preprocess import CROP_SIZE

    return VAL_COUNT * CROP_SIZE * CROP_SIZE * 3
