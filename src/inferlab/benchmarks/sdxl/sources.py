"""stable-diffusion-xl (Stable Diffusion XL 1.0 base on COCO 2014 captions): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from typing import Any

from inferlab.data.sources import BenchmarkSources, Source
from inferlab.data.sources_cite import (
    INF_FULL,
    R2,
    RAW,
    ROUNDS,
    RULES,
    auto,
    by_blob,
    calibration_list,
    inf,
    model_source,
)

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
    return model_source(
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


COCO2014_CAL = calibration_list(
    "calibration/COCO-2014/coco_cal_captions_list.txt",
    "MLPerf SDXL calibration list: 500 COCO 2014 train caption ids",
    500,
    3_431,
    "d712f9bb13e11a16b438dd6283a8dbf860733ca6262792a1f4f05a0300983cb8",
    notes=("tools/coco_calibration.py turns it into captions using annotations_trainval2014.zip",),
)

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


SOURCES: tuple[BenchmarkSources, ...] = (
    BenchmarkSources(
        "stable-diffusion-xl",
        "Stable Diffusion XL 1.0 base on COCO 2014 captions",
        _SDXL_SOURCES,
        ("sdxl", "sd-xl", "stable-diffusion"),
        cited_from=(ROUNDS,),
    ),
)
