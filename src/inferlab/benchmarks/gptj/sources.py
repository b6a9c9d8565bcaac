"""gptj-99 / gptj-99.9 (GPT-J 6B on CNN/DailyMail; retired after v5.0): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.data.sources import BenchmarkSources, Source
from inferlab.data.sources_cite import (
    R2,
    ROUNDS,
    RULES,
    accuracy_pair,
    auto,
    calibration_list,
    inf,
    model_source,
)

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

GPTJ_CHECKPOINT = model_source(
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

CNNDM_CAL = calibration_list(
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

_GPTJ_SOURCES = (CNNDM_EVAL, GPTJ_CHECKPOINT, CNNDM_CAL)


SOURCES: tuple[BenchmarkSources, ...] = accuracy_pair(
    "gptj",
    "GPT-J 6B on CNN/DailyMail",
    _GPTJ_SOURCES,
    ("gptj", "gpt-j", "gpt-j-99", "gpt-j-6b"),
    ("gpt-j-99.9",),
    legacy=True,
    last_round="v5.0",
    legacy_note="in v5.0; gone from v5.1",
    cited_from=(ROUNDS,),
)
