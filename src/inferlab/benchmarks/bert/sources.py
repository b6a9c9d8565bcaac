"""bert-99 / bert-99.9 (BERT-Large on SQuAD v1.1): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.data.sources import BenchmarkSources, Source
from inferlab.data.sources_cite import (
    ROUNDS,
    RULES,
    accuracy_pair,
    auto,
    by_auto,
    calibration_list,
    inf,
    model_source,
)

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

BERT_PYTORCH = model_source(
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

BERT_ONNX = model_source(
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

SQUAD_CAL_FEATURES = calibration_list(
    "calibration/SQuAD-v1.1/bert_calibration_features.txt",
    "MLPerf SQuAD calibration list: 100 feature indices",
    100,
    495,
    "5a4ace54371313359193a661d653731115fc749c6ed92812ada1f74d4b1b708a",
)
SQUAD_CAL_QAS = calibration_list(
    "calibration/SQuAD-v1.1/bert_calibration_qas_ids.txt",
    "MLPerf SQuAD calibration list: 100 question ids",
    100,
    2_500,
    "282d3175dc3d67b33f4883ad109a024b4ef126ef436bb0dd4b0c98bf0f004a19",
)

_BERT = (SQUAD_DEV, BERT_VOCAB, BERT_PYTORCH, BERT_ONNX, SQUAD_CAL_FEATURES, SQUAD_CAL_QAS)


SOURCES: tuple[BenchmarkSources, ...] = accuracy_pair(
    "bert",
    "BERT-Large on SQuAD v1.1",
    _BERT,
    ("bert", "bert-large", "bert-large-99"),
    ("bert-large-99.9",),
    cited_from=(ROUNDS,),
)
