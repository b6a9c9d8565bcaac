"""rnnt (RNN-T on LibriSpeech dev-clean; retired after v4.0): its data sources.

What ``inferlab prepare`` fetches for it (datasets, models, calibration lists), each
fact cited. Citation commits and shared helpers: :mod:`inferlab.data.sources_cite`; where
this table is listed: :data:`inferlab.data.sources.SOURCE_TABLES`.
"""

from __future__ import annotations

from inferlab.data.sources import BenchmarkSources, Source
from inferlab.data.sources_cite import RULES, auto, calibration_list, inf, model_source

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

RNNT_MODEL = model_source(
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

LIBRISPEECH_CAL = calibration_list(
    "calibration/LibriSpeech/calibration_files.txt",
    "MLPerf RNN-T calibration list: 500 train-clean-100 utterances",
    500,
    25_726,
    "327a4b245b6de982a5b36a781a3f38a43a82b57270543771d3062acb53cce1e8",
    legacy=True,
    notes=("the audio comes from LibriSpeech train-clean-100 (not listed here)",),
)

_RNNT_SOURCES = (LIBRISPEECH_DEV_CLEAN, LIBRISPEECH_WAV, RNNT_MODEL, LIBRISPEECH_CAL)


SOURCES: tuple[BenchmarkSources, ...] = (
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
)
