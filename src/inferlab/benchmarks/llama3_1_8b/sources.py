"""llama3.1-8b / llama3.1-8b-edge (Llama-3.1-8B-Instruct on CNN/DailyMail): their data sources.

What ``inferlab prepare`` fetches for them (the processed datasets, the calibration set, the
model), each fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`;
where this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.benchmarks.llama3_1_8b.spec import CHECKPOINT_DIR, DATASET_DIR, MODEL_ID
from inferlab.data.sources import R2_DOWNLOADER_URL, BenchmarkSources, Member, Source
from inferlab.data.sources_cite import R2, ROUNDS, RULES, inf, model_source

_README = "language/llama3.1-8b/README.md"
_PREP = "language/llama3.1-8b/download_cnndm.py"


def _dataset(file: str, uri: str, samples: int, what: str) -> Source:
    return Source(
        id=f"{DATASET_DIR}/{file}",
        kind="dataset",
        what=what,
        acquisition="r2-manifest",
        urls=(R2 + uri,),
        sample_count=samples,
        members=(Member(file),),
        layout="a JSON list of records {instruction, input, tok_input, output}: the article, "
        "the prompt's Llama 3.1 token ids (instruction template, BOS), the reference summary",
        cited_from=(inf(_README), inf(_PREP), inf("language/llama3.1-8b/dataset.py"), RULES),
    )


CNN_EVAL = _dataset(
    "cnn_eval.json",
    "llama3-1-8b-cnn-eval.uri",
    13_368,
    "CNN/DailyMail 3.0.0 validation (13,368 articles) processed for Llama 3.1 (datacenter)",
)
CNN_EVAL_EDGE = _dataset(
    "sample_cnn_eval_5000.json",
    "llama3-1-8b-sample-cnn-eval-5000.uri",
    5_000,
    "the 5,000-article sample of it (random.sample with seed 42) for llama3.1-8b-edge",
)
CNN_CALIBRATION = Source(
    id=f"{DATASET_DIR}/cnn_dailymail_calibration.json",
    kind="calibration",
    what="the CNN/DailyMail calibration set for Llama 3.1 (closed division quantization)",
    acquisition="r2-manifest",
    urls=(R2 + "llama3-1-8b-cnn-dailymail-calibration.uri",),
    members=(Member("cnn_dailymail_calibration.json"),),
    cited_from=(inf(_README),),
)
CHECKPOINT = model_source(
    MODEL_ID,
    CHECKPOINT_DIR,
    what="meta-llama/Llama-3.1-8B-Instruct (Hugging Face format, safetensors), gated",
    acquisition="manual",
    directory=True,
    urls=("https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct",),
    variant="pytorch",
    gated=True,
    licence="Llama 3.1 Community License (Meta)",
    steps=(
        "MLCommons members: request access at http://llama3-1.mlcommons.org and download with "
        f"the R2 downloader ({R2_DOWNLOADER_URL}) as the e-mail says (README: recommended for "
        "official submission).",
        "Otherwise: request access at https://ai.meta.com/resources/models-and-libraries/"
        "llama-downloads/ with your Hugging Face account, then git lfs install && git clone "
        "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct "
        f"<root>/models/{MODEL_ID}/{CHECKPOINT_DIR} && git -C <that dir> checkout "
        "be673f326cab4cd22ccfef76109faf68e41aa5f1",
    ),
    cited_from=(inf(_README),),
)

_COMMON = (CNN_CALIBRATION, CHECKPOINT)
SOURCES: tuple[BenchmarkSources, ...] = (
    BenchmarkSources(
        "llama3.1-8b",
        "Llama-3.1-8B-Instruct summarising CNN/DailyMail (datacenter)",
        (CNN_EVAL, *_COMMON),
        ("llama3.1-8b-99", "llama3_1-8b"),
        cited_from=(ROUNDS,),
    ),
    BenchmarkSources(
        "llama3.1-8b-edge",
        "Llama-3.1-8B-Instruct summarising 5,000 CNN/DailyMail articles (edge)",
        (CNN_EVAL_EDGE, *_COMMON),
        ("llama3_1-8b-edge",),
        cited_from=(ROUNDS,),
    ),
)
