"""dlrm-v2-99 / dlrm-v2-99.9 (DLRM-v2 on multi-hot Criteo 1 TB, gone after v5.1): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.data.sources import BenchmarkSources, Member, Source
from inferlab.data.sources_cite import (
    R2,
    ROUNDS,
    RULES,
    accuracy_pair,
    auto,
    by_auto,
    inf,
    model_source,
)

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

DLRM_WEIGHTS = model_source(
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

_DLRM_SOURCES = (CRITEO_DAY23, CRITEO_RAW, DLRM_TRACE, DLRM_WEIGHTS, CRITEO_CAL)


SOURCES: tuple[BenchmarkSources, ...] = accuracy_pair(
    "dlrm-v2",
    "DLRM-v2 (DCNv2) on multi-hot Criteo 1 TB",
    _DLRM_SOURCES,
    ("dlrm-v2", "dlrmv2", "dlrm-dcnv2"),
    ("dlrmv2-99.9",),
    legacy=True,
    last_round="v5.1",
    legacy_note="in the v5.1 checker; gone from v6.0 (DLRM-v3 replaced it)",
    cited_from=(ROUNDS, inf("tools/submission/submission_checker/constants.py", "6776245e")),
)
