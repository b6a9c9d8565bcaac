"""llama2-70b-99 / llama2-70b-99.9 (Llama-2-70B-chat on OpenOrca): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.data.sources import R2_DOWNLOADER_URL, BenchmarkSources, Member, Source
from inferlab.data.sources_cite import R2, ROUNDS, RULES, accuracy_pair, auto, inf, model_source

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

LLAMA2_R2 = model_source(
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

LLAMA2_HF = model_source(
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

_LLAMA2_SOURCES = (OPENORCA, OPENORCA_RAW, LLAMA2_R2, LLAMA2_HF)


SOURCES: tuple[BenchmarkSources, ...] = accuracy_pair(
    "llama2-70b",
    "Llama-2-70B-chat on OpenOrca",
    _LLAMA2_SOURCES,
    ("llama2-70b", "llama2", "llama-2-70b"),
    ("llama-2-70b-99.9",),
    only_99={"last_round": "v6.0", "legacy_note": "the -99 target is not in v6.1"},
    cited_from=(ROUNDS,),
)
