"""3d-unet-99 / 3d-unet-99.9 (3D-UNet on KiTS19): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.data.sources import BenchmarkSources, Source
from inferlab.data.sources_cite import (
    RAW,
    ROUNDS,
    RULES,
    accuracy_pair,
    auto,
    by_auto,
    by_blob,
    calibration_list,
    inf,
    model_source,
)

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
    return model_source(
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


KITS_CAL = calibration_list(
    "calibration/KiTS/calibration_cases.txt",
    "MLPerf KiTS19 calibration list: 20 training cases",
    20,
    220,
    "a671b8d7aec51a1242a2f58c4bb4aa9bc7887e0388060ef1fc495f61beacaeb9",
)

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


SOURCES: tuple[BenchmarkSources, ...] = accuracy_pair(
    "3d-unet",
    "3D-UNet on KiTS19",
    _UNET_SOURCES,
    ("3d-unet", "3dunet", "3d-unet-kits19"),
    ("3dunet-99.9",),
    cited_from=(ROUNDS,),
)
