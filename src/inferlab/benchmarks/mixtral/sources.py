"""mixtral-8x7b (Mixtral-8x7B-Instruct on OpenOrca + GSM8K + MBXP): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.data.sources import BenchmarkSources, Source
from inferlab.data.sources_cite import R2, ROUNDS, RULES, auto, inf, model_source

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
MIXTRAL_MODEL = model_source(
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
MIXTRAL_HF = model_source(
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

_MIXTRAL_SOURCES = (MIXTRAL_DATA, MIXTRAL_DATA_WGET, MIXTRAL_CAL, MIXTRAL_MODEL, MIXTRAL_HF)


SOURCES: tuple[BenchmarkSources, ...] = (
    BenchmarkSources(
        "mixtral-8x7b",
        "Mixtral-8x7B-Instruct on OpenOrca + GSM8K + MBXP",
        _MIXTRAL_SOURCES,
        ("mixtral", "mixtral-8x7b-instruct"),
        last_round="v6.0",
        legacy_note="not in v6.1",
        cited_from=(ROUNDS,),
    ),
)
