"""The per-benchmark source tables behind :mod:`inferlab.data.sources` (data only, cited).

Citations name ``repo@commit:path``. The commits:
- mlcommons/inference ``b66003e1`` (b66003e10e2db4b8c36a448b0545ec90fcc6e9e9, master 2026-08-20),
  older rounds at tags v2.0 ``33894a19``, v2.1 ``318cb131``, v4.0 ``e39003a9``, v4.1 ``379ee534``;
- mlcommons/mlperf-automations ``20d3d94c`` (20d3d94c4fbbefca1a69f0e2b23295d196fd3e63,
  2026-07-22): the MLCommons download scripts, which publish md5s for many files;
- shared/spec/mlperf-rules.md (the project's rules fact sheet), sections 4, 7 and 8.
Sizes and sha256 of files kept in the mlcommons/inference repository were computed from the git
blobs at b66003e1. Facts from outside MLCommons name their source in the citation.
"""

from __future__ import annotations

from typing import Any

from inferlab.data.sources import R2_DOWNLOADER_URL, BenchmarkSources, Member, Source

INF = "b66003e1"
INF_FULL = "b66003e10e2db4b8c36a448b0545ec90fcc6e9e9"
AUTO = "20d3d94c"
RAW = f"https://raw.githubusercontent.com/mlcommons/inference/{INF_FULL}/"
R2 = "https://inference.mlcommons-storage.org/metadata/"
RULES = "shared/spec/mlperf-rules.md"


def inf(path: str, commit: str = INF) -> str:
    return f"mlcommons/inference@{commit}:{path}"


def auto(script: str, file: str = "meta.yaml") -> str:
    return f"mlcommons/mlperf-automations@{AUTO}:script/{script}/{file}"


def by_auto(script: str, file: str = "meta.yaml") -> str:
    return f"MLCommons ({auto(script, file)})"


def by_blob(path: str) -> str:
    return f"MLCommons (git blob mlcommons/inference@{INF}:{path}; digest computed from it)"


def _model(model_id: str, file: str, **kw: Any) -> Source:
    return Source(id=f"models/{model_id}/{file}", kind="model", **kw)


def _calibration(
    repo_path: str,
    what: str,
    entries: int,
    size: int,
    sha256: str,
    md5_script: str | None = None,
    md5: str | None = None,
    legacy: bool = False,
    notes: tuple[str, ...] = (),
) -> Source:
    """An MLPerf calibration list from the repository's calibration/ folder, pinned to INF."""
    published = by_blob(repo_path)
    if md5_script:
        published += f"; md5 by {by_auto(md5_script)}"
    return Source(
        id="mlperf-calibration/" + repo_path.removeprefix("calibration/"),
        kind="calibration",
        what=what,
        acquisition="download",
        urls=(RAW + repo_path,),
        size_bytes=size,
        file_count=entries,
        layout=f"a text file, {entries:,} entries, one per line",
        sha256=sha256,
        md5=md5,
        checksum_published_by=published,
        cited_from=(inf(repo_path),) + ((auto(md5_script),) if md5_script else ()),
        legacy=legacy,
        unverified=False,
        notes=("closed division: calibrate only on this set",) + notes,
    )


# ---------------------------------------------------------------------------------- ResNet50
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

RESNET50_PTH = _model(
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

RESNET50_ONNX = _model(
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

RESNET50_ONNX_OPSET11 = _model(
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

IMAGENET_CAL_1 = _calibration(
    "calibration/ImageNet/cal_image_list_option_1.txt",
    "MLPerf ImageNet calibration list, option 1 (500 validation image names)",
    500,
    14_500,
    "7662247d1d9407d6cb564268f64c5a4a6cf9f1a34fd2e6cdc3b94dcf278b3dc9",
    "get-dataset-imagenet-calibration",
    "f09719174af3553119e2c621157773a6",
    notes=("use at most one of the two options (calibration/ImageNet/README.md)",),
)
IMAGENET_CAL_2 = _calibration(
    "calibration/ImageNet/cal_image_list_option_2.txt",
    "MLPerf ImageNet calibration list, option 2 (500 validation image names, numbered 0..499)",
    500,
    16_390,
    "11ce810122226ec0ca8c56e47ee356e3c1185f3c6ce8262edb50c3c1d0a9705e",
    "get-dataset-imagenet-calibration",
    "e44582af00e3b4fc3fac30efd6bdd05f",
    notes=("use at most one of the two options (calibration/ImageNet/README.md)",),
)

# --------------------------------------------------------------------------------- RetinaNet
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

RETINANET_PTH = _model(
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

RETINANET_ONNX = _model(
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

OPENIMAGES_CAL = _calibration(
    "calibration/openimages/openimages_cal_images_list.txt",
    "MLPerf OpenImages calibration list (500 image ids from the OpenImages train split)",
    500,
    10_499,
    "f5c20ee508bf9449ac26e4db6c6035760e31385a3deefb1856ad47dbe5b0d7be",
    "get-dataset-openimages-calibration",
    "5c3196ddcec4605c6a9fcf004d9615e6",
)

# ------------------------------------------------------------ SSD (retired after v2.0)
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


COCO_CAL = _calibration(
    "calibration/COCO/coco_cal_images_list.txt",
    "MLPerf COCO calibration list (500 image names from the COCO train split)",
    500,
    8_500,
    "ca6f97a9e49db992d18bf01dc98d7b164c5f57c0ce2553c45365ca8445bec559",
    legacy=True,
    notes=("the images are not in val2017: they come from COCO train (train2017.zip)",),
)


def _ssd_model(model_id: str, file: str, record: str, what: str, variant: str) -> Source:
    return _model(
        model_id,
        file,
        what=what,
        acquisition="download",
        urls=(f"https://zenodo.org/record/{record}/files/{file}",),
        variant=variant,
        legacy=True,
        cited_from=(_V2_README, inf("vision/classification_and_detection/README.md")),
    )


# ------------------------------------------------------------------------------------ BERT
SQUAD_DEV = Source(
    id="squad-v1.1/dev-v1.1.json",
    kind="dataset",
    what="SQuAD v1.1 dev set: 10,570 questions -> 10,833 features of 384 tokens",
    acquisition="download",
    urls=(
        "https://raw.githubusercontent.com/rajpurkar/SQuAD-explorer/master/dataset/dev-v1.1.json",
        "https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json",
    ),
    size_bytes=4_854_279,
    sample_count=10_833,
    md5="3e85deb501d4e538b6bc56f786231552",
    checksum_published_by=by_auto("get-dataset-squad") + " and PyTorch (torchtext SQuAD1 MD5)",
    licence="CC BY-SA 4.0",
    unverified=False,
    cited_from=(
        inf("language/bert/Makefile"),
        auto("get-dataset-squad"),
        f"{RULES} sections 4 and 7",
        "size: public SQuAD download scripts (Stanford CS224n starter code: 4854279 bytes)",
    ),
)

BERT_VOCAB = Source(
    id="squad-v1.1/vocab.txt",
    kind="auxiliary",
    what="BERT-Large uncased WordPiece vocabulary (30,522 tokens)",
    acquisition="download",
    urls=(
        "https://zenodo.org/record/3733868/files/vocab.txt",
        "https://zenodo.org/record/3733896/files/vocab.txt",
    ),
    md5="64800d5d8528ce344256daf115d4965e",
    checksum_published_by=by_auto("get-dataset-squad-vocab"),
    unverified=False,
    cited_from=(inf("language/bert/Makefile"), auto("get-dataset-squad-vocab")),
    notes=("md5 published for the zenodo 3733868 copy; 3733896 (with model.pytorch) is a mirror",),
)

BERT_PYTORCH = _model(
    "bert",
    "model.pytorch",
    what="BERT-Large SQuAD v1.1 PyTorch state dict (HF BertForQuestionAnswering keys), F1 90.874",
    acquisition="download",
    urls=("https://zenodo.org/record/3733896/files/model.pytorch",),
    md5="00fbcbfaebfa20d87ac9885120a6e9b4",
    checksum_published_by=by_auto("get-ml-model-bert-large-squad"),
    variant="pytorch",
    unverified=False,
    cited_from=(
        inf("language/bert/README.md"),
        inf("language/bert/Makefile"),
        auto("get-ml-model-bert-large-squad"),
    ),
)

BERT_ONNX = _model(
    "bert",
    "model.onnx",
    what="BERT-Large SQuAD v1.1 ONNX (fp32), F1 90.874",
    acquisition="download",
    urls=("https://zenodo.org/record/3733910/files/model.onnx",),
    md5="819b25b19cd8e59080c10892689750ca",
    checksum_published_by=by_auto("get-ml-model-bert-large-squad"),
    variant="onnx",
    unverified=False,
    cited_from=(inf("language/bert/README.md"), auto("get-ml-model-bert-large-squad")),
)

SQUAD_CAL_FEATURES = _calibration(
    "calibration/SQuAD-v1.1/bert_calibration_features.txt",
    "MLPerf SQuAD calibration list: 100 feature indices",
    100,
    495,
    "5a4ace54371313359193a661d653731115fc749c6ed92812ada1f74d4b1b708a",
)
SQUAD_CAL_QAS = _calibration(
    "calibration/SQuAD-v1.1/bert_calibration_qas_ids.txt",
    "MLPerf SQuAD calibration list: 100 question ids",
    100,
    2_500,
    "282d3175dc3d67b33f4883ad109a024b4ef126ef436bb0dd4b0c98bf0f004a19",
)

# ------------------------------------------------------------------- RNN-T (retired after v4.0)
_RNNT = "retired_benchmarks/speech_recognition/rnnt/"
LIBRISPEECH_DEV_CLEAN = Source(
    id="librispeech/dev-clean.tar.gz",
    kind="dataset",
    what="LibriSpeech dev-clean (about 5 hours of 16 kHz read English speech, FLAC)",
    acquisition="download",
    urls=("http://www.openslr.org/resources/12/dev-clean.tar.gz",),
    size_bytes=337_926_286,
    archive="tar.gz",
    md5="42e2234ba48799c1f50f24a7926300a1",
    checksum_published_by=f"MLCommons ({inf(_RNNT + 'pytorch/utils/librispeech-inference.csv')})",
    licence="CC BY 4.0 (LibriSpeech, openslr.org/12)",
    legacy=True,
    unverified=False,
    cited_from=(
        inf(_RNNT + "pytorch/utils/librispeech-inference.csv"),
        inf(_RNNT + "README.md"),
        "size: kaldi-asr/kaldi egs/librispeech/s5/local/download_and_untar.sh (337926286)",
    ),
)

LIBRISPEECH_WAV = Source(
    id="librispeech-dev-clean-wav",
    kind="dataset",
    what="dev-clean converted to 16 kHz WAV + manifest; the QSL keeps utterances <= 15 s (2,513)",
    acquisition="generated",
    size_bytes=0,
    directory=True,
    sample_count=2_513,
    layout="dev-clean-wav/<speaker>/<chapter>/<utterance>.wav + dev-clean-wav.json",
    legacy=True,
    steps=(
        "Fetch librispeech/dev-clean.tar.gz and extract it.",
        "Convert every FLAC to WAV and write the dev-clean-wav.json manifest, as "
        "pytorch/utils/convert_librispeech.py does (needs sox).",
    ),
    cited_from=(inf(_RNNT + "run.sh"), inf(_RNNT + "README.md"), f"{RULES} sections 4 and 7"),
)

RNNT_MODEL = _model(
    "rnnt",
    "rnnt.pt",
    what="RNN-T PyTorch checkpoint (DistributedDataParallel_1576581068.9962234-epoch-100.pt)",
    acquisition="download",
    urls=(
        "https://zenodo.org/record/3662521/files/"
        "DistributedDataParallel_1576581068.9962234-epoch-100.pt",
    ),
    variant="pytorch",
    legacy=True,
    cited_from=(inf(_RNNT + "run.sh"), auto("get-ml-model-rnnt")),
)

LIBRISPEECH_CAL = _calibration(
    "calibration/LibriSpeech/calibration_files.txt",
    "MLPerf RNN-T calibration list: 500 train-clean-100 utterances",
    500,
    25_726,
    "327a4b245b6de982a5b36a781a3f38a43a82b57270543771d3062acb53cce1e8",
    legacy=True,
    notes=("the audio comes from LibriSpeech train-clean-100 (not listed here)",),
)

# --------------------------------------------------------------------------------- 3D-UNet
_UNET = "vision/medical_imaging/3d-unet-kits19/"
KITS19 = Source(
    id="kits19",
    kind="dataset",
    what="KiTS 2019 CT volumes + segmentations; the benchmark uses 43 cases (case_00400 = a "
    "copy of case_00185)",
    acquisition="generated",
    directory=True,
    urls=("https://github.com/neheller/kits19", "https://kits19.sfo2.digitaloceanspaces.com/"),
    sample_count=43,
    layout="data/case_XXXXX/{imaging,segmentation}.nii.gz (+ case_00400)",
    licence="KiTS19 challenge data terms (see the neheller/kits19 repository)",
    steps=(
        "git clone https://github.com/neheller/kits19 (~500MB: the segmentations and kits.json).",
        "In the clone, run `python3 -m starter_code.get_imaging`: it downloads each case's "
        "imaging.nii.gz from https://kits19.sfo2.digitaloceanspaces.com/.",
        "Copy data/case_00185 to data/case_00400 (the reference's 43rd inference case).",
        "Preprocess the 43 cases of meta/inference_cases.json (resample, clip, normalise, pad) "
        "as preprocess.py does; its per-case md5s are in meta/checksum_inference.json.",
    ),
    cited_from=(
        inf(_UNET + "Makefile") + " (download_kits19_and_duplicate)",
        inf(_UNET + "README.md"),
        inf(_UNET + "meta/inference_cases.json") + " (43 cases)",
        "neheller/kits19@3aeed41c:starter_code/get_imaging.py (imaging url)",
        "neheller/kits19@acaaecd7:README.md (clone ~500MB; imaging fetched separately)",
        f"{RULES} sections 4 and 7",
    ),
    notes=(
        "no size is published for the imaging (an older kits19 README, from when the imaging "
        "was in git-lfs, put the whole clone at ~20G)",
        "ecosystem-notes.md pain point 2: preprocessing has failed on missing cases (#1797)",
    ),
)

KITS19_CASES = Source(
    id="kits19/meta/inference_cases.json",
    kind="auxiliary",
    what="the 43 inference case ids",
    acquisition="download",
    urls=(RAW + _UNET + "meta/inference_cases.json",),
    size_bytes=776,
    file_count=43,
    sha256="09eb35cf865f9eab52c5ab342c591937843606f6d6cc632ff69dfd20f6ae7da4",
    checksum_published_by=by_blob(_UNET + "meta/inference_cases.json"),
    unverified=False,
    cited_from=(inf(_UNET + "meta/inference_cases.json"),),
)

KITS19_CHECKSUMS = Source(
    id="kits19/meta/checksum_inference.json",
    kind="auxiliary",
    what="md5 of each of the 43 preprocessed case pickles (checks our preprocessing)",
    acquisition="download",
    urls=(RAW + _UNET + "meta/checksum_inference.json",),
    size_bytes=2_496,
    file_count=43,
    sha256="0527aa95f0c90109d880c17108429bd24d0b06ab966ab1ec6f3b21f54f6d8665",
    checksum_published_by=by_blob(_UNET + "meta/checksum_inference.json"),
    unverified=False,
    cited_from=(inf(_UNET + "meta/checksum_inference.json"), inf(_UNET + "preprocess.py")),
)


def _unet(file: str, md5: str, what: str, variant: str) -> Source:
    return _model(
        "3d-unet",
        file,
        what=what,
        acquisition="download",
        urls=(f"https://zenodo.org/record/5597155/files/{file}",),
        md5=md5,
        checksum_published_by=by_auto("get-ml-model-3d-unet-kits19"),
        variant=variant,
        unverified=False,
        cited_from=(inf(_UNET + "Makefile"), auto("get-ml-model-3d-unet-kits19")),
    )


KITS_CAL = _calibration(
    "calibration/KiTS/calibration_cases.txt",
    "MLPerf KiTS19 calibration list: 20 training cases",
    20,
    220,
    "a671b8d7aec51a1242a2f58c4bb4aa9bc7887e0388060ef1fc495f61beacaeb9",
)

# ------------------------------------------------------------------ DLRM-v2 (retired after v5.1)
_DLRM = "recommendation/dlrm_v2/pytorch/"
_CRITEO_CSUM = "get-preprocessed-dataset-criteo"
CRITEO_DAY23 = Source(
    id="criteo-1tb-multihot-day23",
    kind="dataset",
    what="multi-hot Criteo 1 TB, day 23 preprocessed (the first half is the evaluation set)",
    acquisition="r2-manifest",
    directory=True,
    urls=(R2 + "dlrm-v2-preprocessed-dataset.uri",),
    sample_count=330_067,
    members=(
        Member("day_23_dense.npy", md5="cdf7af87cbc7e9b468c0be46b1767601"),
        Member("day_23_labels.npy", md5="dd68f93301812026ed6f58dfb0757fa7"),
        Member("day_23_sparse_multi_hot.npz", md5="c46b7e31ec6f2f8768fa60bdfc0f6e40"),
    ),
    checksum_published_by=by_auto(_CRITEO_CSUM, "checksums.txt"),
    licence="Criteo 1TB Click Logs terms (Criteo AI Lab)",
    legacy=True,
    unverified=False,
    cited_from=(
        inf(_DLRM + "README.md"),
        auto(_CRITEO_CSUM),
        auto(_CRITEO_CSUM, "checksums.txt"),
        f"{RULES} sections 4 and 7",
    ),
    notes=("no size published; the raw 24 days are ~343GB and preprocessing needs ~6.1 TB",),
)

CRITEO_RAW = Source(
    id="criteo-1tb-multihot-day23@from-raw",
    dest="criteo-1tb-multihot-day23",
    kind="dataset",
    what="the same day-23 multi-hot data built from the raw Criteo 1 TB click logs",
    acquisition="manual",
    directory=True,
    size_bytes=343_000_000_000,
    size_approximate=True,
    licence="Criteo 1TB Click Logs terms (Criteo AI Lab)",
    gated=True,
    alternative_to="criteo-1tb-multihot-day23",
    legacy=True,
    steps=(
        "Accept the terms at https://ailab.criteo.com/ressources/criteo-1tb-click-logs-dataset-"
        "for-mlperf/ and download day_0.gz .. day_23.gz (~343GB).",
        "Build the multi-hot dataset with mlcommons/training recommendation_v2/torchrec_dlrm "
        "('create the synthetic multi-hot dataset'); plan for ~6.1 TB of scratch space.",
        "Put day_23_dense.npy, day_23_sparse_multi_hot.npz and day_23_labels.npy in "
        "<root>/criteo-1tb-multihot-day23/.",
    ),
    cited_from=(inf(_DLRM + "README.md"), "ecosystem-notes.md pain point 2 (inference #1408)"),
)

DLRM_TRACE = Source(
    id="criteo-1tb-multihot-day23/dlrm_trace_of_aggregated_samples.txt",
    kind="auxiliary",
    what="the sample -> user-item-pair grouping (numpy seed 123, tools/dist_quantile.txt)",
    acquisition="generated",
    size_bytes=0,
    md5="3db90209564316f2506c99cc994ad0b2",
    checksum_published_by=f"MLCommons ({inf(_DLRM + 'README.md')})",
    legacy=True,
    unverified=False,
    steps=("Generate it as the reference QSL does (multihot_criteo.py) and compare its md5.",),
    cited_from=(inf(_DLRM + "README.md"), f"{RULES} section 4"),
)

DLRM_WEIGHTS = _model(
    "dlrm-v2",
    "model_weights",
    what="DLRM-v2 (DCNv2) PyTorch weights, sharded (torchsnapshot), AUC 80.31 %",
    acquisition="r2-manifest",
    directory=True,
    urls=(R2 + "dlrm-v2-model-weights.uri",),
    size_bytes=97_310_000_000,
    size_approximate=True,
    variant="pytorch",
    legacy=True,
    cited_from=(
        inf(_DLRM + "README.md") + " (weights table: 97.31GB)",
        auto("get-ml-model-dlrm-terabyte"),
    ),
)

CRITEO_CAL = Source(
    id="criteo-1tb-multihot-day23/calibration",
    kind="calibration",
    what="calibration set: rows 89,137,319..89,265,318 of day_23 (128,000 user-item pairs)",
    acquisition="generated",
    size_bytes=0,
    legacy=True,
    steps=("Take those rows (0-based, inclusive) of day 23 from the raw or preprocessed data.",),
    cited_from=(inf("calibration/CriteoTerabyte/README.md"), inf(_DLRM + "README.md")),
)

# --------------------------------------------------------------------- GPT-J (retired after v5.0)
_GPTJ = "language/gpt-j/"
CNNDM_EVAL = Source(
    id="cnn-dailymail/cnn_eval.json",
    kind="dataset",
    what="CNN/DailyMail 3.0.0 validation split as prompts + reference summaries (13,368 samples)",
    acquisition="generated",
    sample_count=13_368,
    legacy=True,
    steps=(
        "Load the Hugging Face dataset 'cnn_dailymail', config '3.0.0', split 'validation'.",
        "Write instruction/input/output records to cnn_eval.json as download_cnndm.py does.",
    ),
    cited_from=(
        inf(_GPTJ + "download_cnndm.py"),
        inf(_GPTJ + "README.md"),
        f"{RULES} sections 4, 7",
    ),
)

GPTJ_CHECKPOINT = _model(
    "gptj",
    "checkpoint",
    what="GPT-J 6B fine-tuned on CNN/DailyMail by MLCommons (HF format), fp32",
    acquisition="r2-manifest",
    directory=True,
    urls=(R2 + "gpt-j-model-checkpoint.uri",),
    variant="pytorch",
    legacy=True,
    cited_from=(inf(_GPTJ + "README.md"), auto("get-ml-model-gptj")),
    notes=("not EleutherAI/gpt-j-6b from the Hub: that one is not fine-tuned (README)",),
)

CNNDM_CAL = _calibration(
    "calibration/CNNDailyMail/calibration-list.txt",
    "MLPerf CNN/DailyMail calibration list: 1,000 article ids (train split)",
    1_000,
    41_000,
    "4de1bc2bcf345ba8fc118788455dfaf2e09530fd9ed4daedf2b15661324ad9a7",
    legacy=True,
    notes=(
        "identical to language/gpt-j/calibration-list.txt; prepare-calibration.py builds the json",
    ),
)

# ------------------------------------------------------------------------------ Llama2-70B
_LLAMA = "language/llama2-70b/README.md"
_LLAMA_STEPS = (
    "Use your organisation's email to accept the MLCommons Llama 2 confidentiality notice at "
    "https://llama2.mlcommons.org (MLCommons members only; if the form is closed to you, "
    "subscribe at https://mlcommons.org/community/subscribe/ and associate a Google account).",
)
OPENORCA = Source(
    id="open-orca-llama2",
    kind="dataset",
    what="OpenOrca GPT-4 subset tokenised for Llama 2: 24,576 samples + 1,000 calibration samples",
    acquisition="r2-manifest",
    directory=True,
    urls=(R2 + "llama-2-70b-open-orca-dataset.uri",),
    sample_count=24_576,
    members=(
        Member("open_orca_gpt4_tokenized_llama.sampled_24576.pkl.gz"),
        Member("open_orca_gpt4_tokenized_llama.calibration_1000.pkl.gz"),
    ),
    archive="pkl.gz",
    gated=True,
    cited_from=(
        inf(_LLAMA),
        auto("get-preprocessed-dataset-openorca"),
        auto("get-preprocessed-dataset-openorca", "customize.py"),
        f"{RULES} sections 4, 7",
    ),
    notes=("MLCommons hosts it for members (README); the R2 downloader opens a login page",),
)

OPENORCA_RAW = Source(
    id="open-orca-llama2@from-raw",
    dest="open-orca-llama2",
    kind="dataset",
    what="the same 24,576 samples built from Open-Orca/OpenOrca with processorca.py",
    acquisition="generated",
    directory=True,
    sample_count=24_576,
    alternative_to="open-orca-llama2",
    gated=True,
    licence="OpenOrca dataset card; the tokenizer comes from the gated Llama 2 checkpoint",
    steps=(
        "git clone https://huggingface.co/datasets/Open-Orca/OpenOrca (1M-GPT4-Augmented.parquet).",
        "python3 processorca.py --dataset_pq_path=<parquet> --model_dir=<Llama-2-70b-chat-hf> "
        "--seqlen_limit=1024 --export_dir=<dir> --num_total_samples=24576",
        "Use <dir>/open_orca_gpt4_tokenized_llama.sampled_24576.pkl.",
    ),
    cited_from=(inf(_LLAMA),),
)

LLAMA2_R2 = _model(
    "llama2-70b",
    "Llama-2-70b-chat-hf",
    what="meta-llama/Llama-2-70b-chat-hf checkpoint, as hosted by MLCommons",
    acquisition="manual",
    directory=True,
    urls=("https://llama2.mlcommons-storage.org/metadata/llama-2-70b-chat-hf.uri",),
    variant="pytorch",
    gated=True,
    licence="Llama 2 Community License (Meta) + MLCommons confidentiality notice",
    steps=_LLAMA_STEPS
    + (
        "Once approved, run the MLCommons R2 downloader on the manifest: "
        f"bash <(curl -s {R2_DOWNLOADER_URL}) -d <root>/models/llama2-70b/Llama-2-70b-chat-hf "
        "https://llama2.mlcommons-storage.org/metadata/llama-2-70b-chat-hf.uri",
        "Check that the checkpoint is in <root>/models/llama2-70b/Llama-2-70b-chat-hf/ "
        "(config.json, tokenizer and the weight shards).",
    ),
    cited_from=(
        inf(_LLAMA),
        auto("get-ml-model-llama2"),
        "ecosystem-notes.md pain point 1 (gated llama2 access)",
    ),
)

LLAMA2_HF = _model(
    "llama2-70b",
    "Llama-2-70b-chat-hf@huggingface",
    dest="models/llama2-70b/Llama-2-70b-chat-hf",
    what="the same checkpoint from Hugging Face (README: not recommended for official submission)",
    acquisition="manual",
    directory=True,
    urls=("https://huggingface.co/meta-llama/Llama-2-70b-chat-hf",),
    variant="pytorch",
    gated=True,
    alternative_to="models/llama2-70b/Llama-2-70b-chat-hf",
    licence="Llama 2 Community License (Meta)",
    steps=(
        "Request access at https://ai.meta.com/resources/models-and-libraries/llama-downloads/ "
        "with the same email as your Hugging Face account.",
        "git lfs install && git clone https://huggingface.co/meta-llama/Llama-2-70b-chat-hf "
        "<root>/models/llama2-70b/Llama-2-70b-chat-hf",
    ),
    cited_from=(inf(_LLAMA),),
)

# ---------------------------------------------------------------------------- Mixtral-8x7B
_MIX = "language/mixtral-8x7b/README.md"
_MIX_STORE = "https://inference.mlcommons-storage.org/mixtral_8x7b"
MIXTRAL_DATA = Source(
    id="mixtral-15k/09292024_mixtral_15k_mintoken2_v1.pkl",
    kind="dataset",
    what="15,000 prompts: 5,000 each of OpenOrca, GSM8K and MBXP",
    acquisition="r2-manifest",
    urls=(R2 + "mixtral-8x7b-validation-dataset.uri",),
    sample_count=15_000,
    cited_from=(inf(_MIX), auto("get-dataset-mlperf-inference-mixtral"), f"{RULES} sections 4, 7"),
    notes=(
        "the rules sheet names the earlier 2024_06_06_mixtral_15k_v4.pkl; the README now "
        "serves this file",
    ),
)
MIXTRAL_DATA_WGET = Source(
    id="mixtral-15k/09292024_mixtral_15k_mintoken2_v1.pkl@direct",
    dest="mixtral-15k/09292024_mixtral_15k_mintoken2_v1.pkl",
    kind="dataset",
    what="the same file by plain HTTPS",
    acquisition="download",
    urls=(f"{_MIX_STORE}/09292024_mixtral_15k_mintoken2_v1.pkl",),
    sample_count=15_000,
    alternative_to="mixtral-15k/09292024_mixtral_15k_mintoken2_v1.pkl",
    cited_from=(inf(_MIX),),
)
MIXTRAL_CAL = Source(
    id="mixtral-15k/2024.06.06_mixtral_15k_calibration_v4.pkl",
    kind="calibration",
    what="Mixtral calibration prompts",
    acquisition="r2-manifest",
    urls=(R2 + "mixtral-8x7b-calibration-dataset.uri",),
    cited_from=(inf(_MIX), auto("get-dataset-mlperf-inference-mixtral")),
    notes=(f"also by plain HTTPS: {_MIX_STORE}%2F2024.06.06_mixtral_15k_calibration_v4.pkl",),
)
MIXTRAL_MODEL = _model(
    "mixtral-8x7b",
    "Mixtral-8x7B-Instruct-v0.1",
    what="mistralai/Mixtral-8x7B-Instruct-v0.1 checkpoint as hosted by MLCommons (fp16)",
    acquisition="r2-manifest",
    directory=True,
    urls=(R2 + "mixtral-8x7b-model-checkpoint.uri",),
    variant="pytorch",
    licence="Apache-2.0 (Mistral AI model card)",
    cited_from=(inf(_MIX), auto("get-ml-model-mixtral")),
)
MIXTRAL_HF = _model(
    "mixtral-8x7b",
    "Mixtral-8x7B-Instruct-v0.1@huggingface",
    dest="models/mixtral-8x7b/Mixtral-8x7B-Instruct-v0.1",
    what="the same model from Hugging Face, pinned to the benchmark's commit",
    acquisition="manual",
    directory=True,
    urls=("https://huggingface.co/mistralai/Mixtral-8x7B-Instruct-v0.1",),
    variant="pytorch",
    alternative_to="models/mixtral-8x7b/Mixtral-8x7B-Instruct-v0.1",
    steps=(
        "git lfs install && git clone https://huggingface.co/mistralai/Mixtral-8x7B-Instruct-v0.1 "
        "<root>/models/mixtral-8x7b/Mixtral-8x7B-Instruct-v0.1",
        "git -C <that folder> checkout a60832cb6c88d5cb6e507680d0e9996fbad77050 (files on the "
        "Hub have changed since; the README asks for this commit).",
    ),
    cited_from=(inf(_MIX),),
)

# ------------------------------------------------------------------------------------- SDXL
_SD = "text_to_image/"
SDXL_CAPTIONS = Source(
    id="coco2014-captions/captions/captions_source.tsv",
    kind="dataset",
    what="5,000 COCO 2014 val captions (one per image), the SDXL prompts",
    acquisition="download",
    urls=(RAW + _SD + "coco2014/captions/captions_source.tsv",),
    size_bytes=862_324,
    sample_count=5_000,
    sha256="2eeb95637b30fe5af26dd644bafa7affe4e5472ad0bda32d0feb1bd261280d5e",
    checksum_published_by=by_blob(_SD + "coco2014/captions/captions_source.tsv"),
    licence="COCO annotations CC BY 4.0",
    unverified=False,
    cited_from=(
        inf(_SD + "coco2014/captions/captions_source.tsv"),
        inf(_SD + "tools/coco.py"),
        f"{RULES} sections 4 and 7",
    ),
    notes=("images are not needed for accuracy: FID uses val2014.npz, CLIP the captions",),
)
COCO2014_ANNOTATIONS = Source(
    id="coco2014-captions/annotations_trainval2014.zip",
    kind="auxiliary",
    what="COCO 2014 annotations, to regenerate the captions or the calibration captions",
    acquisition="download",
    urls=(
        "https://s3.amazonaws.com/images.cocodataset.org/annotations/annotations_trainval2014.zip",
    ),
    archive="zip",
    sha256="031296bbc80c45a1d1f76bf9a90ead27e94e99ec629208449507a4917a3bf009",
    checksum_published_by=f"MLCommons ({inf(_SD + 'tools/coco.py')}: the pinned archive sha256)",
    alternative_to="coco2014-captions/captions/captions_source.tsv",
    licence="CC BY 4.0",
    unverified=False,
    cited_from=(inf(_SD + "tools/coco.py"), inf(_SD + "tools/coco_calibration.py")),
)


def _repo_file(path: str, dest: str, what: str, size: int, sha256: str, **kw: Any) -> Source:
    return Source(
        id=dest,
        kind="auxiliary",
        what=what,
        acquisition="download",
        urls=(RAW + path,),
        size_bytes=size,
        sha256=sha256,
        checksum_published_by=by_blob(path),
        unverified=False,
        cited_from=(inf(path), f"{RULES} section 4"),
        **kw,
    )


SDXL_LATENTS = _repo_file(
    _SD + "tools/latents.npy",
    "coco2014-captions/latents/latents.npy",
    "the fixed initial latent, (1, 4, 128, 128) float32, used for every prompt",
    262_272,
    "78cac10a20ea287f88b5851382e21504a755338d3f8ba8ffd2bcf9e9bf2404f9",
)
SDXL_LATENTS_PT = _repo_file(
    _SD + "tools/latents.pt",
    "coco2014-captions/latents/latents.pt",
    "the same latent as a torch file",
    263_324,
    "de038bcfd04ca1d4f59041000b509013a9617d79c772d58f338c56cbf083c76f",
    alternative_to="coco2014-captions/latents/latents.npy",
)
SDXL_FID_STATS = Source(
    id="coco2014-captions/statistics/val2014.npz",
    kind="auxiliary",
    what="Inception statistics of COCO 2014 val for FID",
    acquisition="download",
    urls=(f"https://github.com/mlcommons/inference/raw/{INF_FULL}/{_SD}tools/val2014.npz",),
    cited_from=(inf(_SD + "tools/val2014.npz"), inf(_SD + "tools/accuracy_coco.py")),
    notes=("its blob is missing from the snapshot read here, so size and digest are unknown",),
)


def _sdxl(precision: str) -> Source:
    return _model(
        "stable-diffusion-xl",
        f"{precision}-checkpoint",
        what=f"stabilityai/stable-diffusion-xl-base-1.0 pipeline snapshot, {precision} (MLCommons)",
        acquisition="r2-manifest",
        directory=True,
        urls=(R2 + f"stable-diffusion-xl-1-0-{precision}-checkpoint.uri",),
        variant=precision,
        licence="CreativeML Open RAIL++-M (Stability AI model card)",
        cited_from=(inf(_SD + "README.md"), auto("get-ml-model-stable-diffusion")),
    )


COCO2014_CAL = _calibration(
    "calibration/COCO-2014/coco_cal_captions_list.txt",
    "MLPerf SDXL calibration list: 500 COCO 2014 train caption ids",
    500,
    3_431,
    "d712f9bb13e11a16b438dd6283a8dbf860733ca6262792a1f4f05a0300983cb8",
    notes=("tools/coco_calibration.py turns it into captions using annotations_trainval2014.zip",),
)

# ------------------------------------------------------------------------------ the table
_ROUNDS = (
    f"{RULES} sections 2.4, 7 and 8; {inf('tools/submission/submission_checker/constants.py')}"
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
_RETINANET = (OPENIMAGES, OPENIMAGES_ANNOTATIONS, RETINANET_PTH, RETINANET_ONNX, OPENIMAGES_CAL)
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
_BERT = (SQUAD_DEV, BERT_VOCAB, BERT_PYTORCH, BERT_ONNX, SQUAD_CAL_FEATURES, SQUAD_CAL_QAS)
_RNNT_SOURCES = (LIBRISPEECH_DEV_CLEAN, LIBRISPEECH_WAV, RNNT_MODEL, LIBRISPEECH_CAL)
_UNET_SOURCES = (
    KITS19,
    KITS19_CASES,
    KITS19_CHECKSUMS,
    _unet(
        "3dunet_kits19_pytorch.ptc",
        "2251109371f408c9f10a4320ffdcaef8",
        "3D-UNet KiTS19 TorchScript model, mean DICE 0.86170",
        "pytorch",
    ),
    _unet(
        "3dunet_kits19_pytorch_checkpoint.pth",
        "09c696e3ec13d83c628498bcd831eb5b",
        "3D-UNet KiTS19 training checkpoint (state dict)",
        "pytorch-checkpoint",
    ),
    _unet(
        "3dunet_kits19_128x128x128_dynbatch.onnx",
        "82f0618fde78f9839e7c712274019b4a",
        "3D-UNet KiTS19 ONNX, 128^3 patches, dynamic batch",
        "onnx",
    ),
    KITS_CAL,
)
_DLRM_SOURCES = (CRITEO_DAY23, CRITEO_RAW, DLRM_TRACE, DLRM_WEIGHTS, CRITEO_CAL)
_GPTJ_SOURCES = (CNNDM_EVAL, GPTJ_CHECKPOINT, CNNDM_CAL)
_LLAMA2_SOURCES = (OPENORCA, OPENORCA_RAW, LLAMA2_R2, LLAMA2_HF)
_MIXTRAL_SOURCES = (MIXTRAL_DATA, MIXTRAL_DATA_WGET, MIXTRAL_CAL, MIXTRAL_MODEL, MIXTRAL_HF)
_SDXL_SOURCES = (
    SDXL_CAPTIONS,
    COCO2014_ANNOTATIONS,
    SDXL_LATENTS,
    SDXL_LATENTS_PT,
    SDXL_FID_STATS,
    _sdxl("fp32"),
    _sdxl("fp16"),
    COCO2014_CAL,
)


def _pair(
    base: str,
    description: str,
    sources: tuple[Source, ...],
    aliases_99: tuple[str, ...],
    aliases_999: tuple[str, ...],
    only_99: dict[str, Any] | None = None,
    **kw: Any,
) -> tuple[BenchmarkSources, BenchmarkSources]:
    """The -99 and -99.9 accuracy variants of one benchmark share their sources; ``only_99``
    holds what differs for the -99 one (its last round)."""
    return (
        BenchmarkSources(f"{base}-99", description, sources, aliases_99, **(kw | (only_99 or {}))),
        BenchmarkSources(f"{base}-99.9", description, sources, aliases_999, **kw),
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

BENCHMARK_SOURCES: tuple[BenchmarkSources, ...] = (
    BenchmarkSources(
        "resnet50",
        "ResNet50-v1.5 on ImageNet 2012 validation",
        _RESNET,
        ("resnet", "resnet-50", "resnet50-v1.5"),
        cited_from=(_ROUNDS,),
    ),
    BenchmarkSources(
        "retinanet",
        "RetinaNet 800x800 on the MLPerf OpenImages subset",
        _RETINANET,
        ("retinanet-800", "retinanet-resnext50"),
        last_round="v6.0",
        legacy_note="not in v6.1 (YOLO replaced it)",
        cited_from=(_ROUNDS,),
    ),
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
    *_pair(
        "bert",
        "BERT-Large on SQuAD v1.1",
        _BERT,
        ("bert", "bert-large", "bert-large-99"),
        ("bert-large-99.9",),
        cited_from=(_ROUNDS,),
    ),
    BenchmarkSources(
        "rnnt",
        "RNN-T on LibriSpeech dev-clean",
        _RNNT_SOURCES,
        ("rnn-t",),
        legacy=True,
        last_round="v4.0",
        legacy_note="in the v4.0 checker, gone from v4.1",
        cited_from=(
            "mlcommons/inference@e39003a9 (tag v4.0):tools/submission/submission_checker.py",
            f"{RULES} section 8",
        ),
    ),
    *_pair(
        "3d-unet",
        "3D-UNet on KiTS19",
        _UNET_SOURCES,
        ("3d-unet", "3dunet", "3d-unet-kits19"),
        ("3dunet-99.9",),
        cited_from=(_ROUNDS,),
    ),
    *_pair(
        "dlrm-v2",
        "DLRM-v2 (DCNv2) on multi-hot Criteo 1 TB",
        _DLRM_SOURCES,
        ("dlrm-v2", "dlrmv2", "dlrm-dcnv2"),
        ("dlrmv2-99.9",),
        legacy=True,
        last_round="v5.1",
        legacy_note="in the v5.1 checker; gone from v6.0 (DLRM-v3 replaced it)",
        cited_from=(_ROUNDS, inf("tools/submission/submission_checker/constants.py", "6776245e")),
    ),
    *_pair(
        "gptj",
        "GPT-J 6B on CNN/DailyMail",
        _GPTJ_SOURCES,
        ("gptj", "gpt-j", "gpt-j-99", "gpt-j-6b"),
        ("gpt-j-99.9",),
        legacy=True,
        last_round="v5.0",
        legacy_note="in v5.0; gone from v5.1",
        cited_from=(_ROUNDS,),
    ),
    *_pair(
        "llama2-70b",
        "Llama-2-70B-chat on OpenOrca",
        _LLAMA2_SOURCES,
        ("llama2-70b", "llama2", "llama-2-70b"),
        ("llama-2-70b-99.9",),
        only_99={"last_round": "v6.0", "legacy_note": "the -99 target is not in v6.1"},
        cited_from=(_ROUNDS,),
    ),
    BenchmarkSources(
        "mixtral-8x7b",
        "Mixtral-8x7B-Instruct on OpenOrca + GSM8K + MBXP",
        _MIXTRAL_SOURCES,
        ("mixtral", "mixtral-8x7b-instruct"),
        last_round="v6.0",
        legacy_note="not in v6.1",
        cited_from=(_ROUNDS,),
    ),
    BenchmarkSources(
        "stable-diffusion-xl",
        "Stable Diffusion XL 1.0 base on COCO 2014 captions",
        _SDXL_SOURCES,
        ("sdxl", "sd-xl", "stable-diffusion"),
        cited_from=(_ROUNDS,),
    ),
)
