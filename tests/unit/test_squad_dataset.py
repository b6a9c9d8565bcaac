"""The BERT QSL (inferlab.benchmarks.bert.dataset) and the synthetic SQuAD generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inferlab.benchmarks.bert import synthetic as synthetic_squad
from inferlab.benchmarks.bert.dataset import SquadDataset, find_files, load_synthetic
from inferlab.benchmarks.bert.preprocess import WordPieceTokenizer, read_examples
from inferlab.core.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def synth() -> SquadDataset:
    return load_synthetic(count=200, seed=7)


def test_synthetic_set_is_exactly_count_features_and_deterministic(synth: SquadDataset) -> None:
    assert synth.total_count == 200 and synth.synthetic and not synth.subset
    again = load_synthetic(count=200, seed=7)
    assert np.array_equal(again.lengths, synth.lengths)
    assert np.array_equal(again.get_batch(np.arange(200)), synth.get_batch(np.arange(200)))
    other = load_synthetic(count=200, seed=8)
    assert not np.array_equal(other.lengths, synth.lengths)
    desc = synth.describe()
    assert desc["dataset_id"] == "synthetic-squad-v1.1" and "_document" not in desc
    assert desc["seed"] == 7 and desc["total_count"] == 200


def test_synthetic_lengths_and_windows_look_like_the_mix() -> None:
    ds = load_synthetic(count=1000, seed=0)
    lengths = ds.lengths
    # target mix: mean 182, sd 70, clipped [64, 384], approximately (words -> tokens varies; the
    # last window of a long context may be short)
    assert lengths.max() <= 384 and np.mean((lengths >= 56) & (lengths <= 384)) > 0.95
    assert 150 < lengths.mean() < 230
    windows = ds.describe()["summary"]["windows_per_question"]
    assert any(int(k) >= 2 for k in windows)  # some contexts need several windows


def test_get_batch_pads_to_the_batch_longest_rounded_or_to_384(synth: SquadDataset) -> None:
    idx = np.argsort(synth.lengths)[:5]
    longest = int(synth.lengths[idx].max())
    batch = synth.get_batch(idx)
    assert batch.dtype == np.int32 and batch.shape[:2] == (5, 3)
    assert batch.shape[2] == -(-longest // 8) * 8
    for row, i in zip(batch, idx, strict=True):
        n = int(synth.lengths[i])
        assert row[1, :n].all() and not row[1, n:].any()  # mask: ones then zeros
    synth.set_padding("batch", 1)
    assert synth.get_batch(idx).shape[2] == longest
    synth.set_padding("max")
    assert synth.get_batch(idx).shape[2] == 384
    assert synth.padded_lengths(idx).tolist() == [384] * 5
    synth.set_padding("batch", 8)
    assert synth.padded_lengths(idx).tolist() == [-(-int(n) // 8) * 8 for n in synth.lengths[idx]]
    with pytest.raises(ConfigError, match="padding"):
        synth.set_padding("none")


def test_count_beyond_the_features_is_an_error(synth: SquadDataset) -> None:
    with pytest.raises(ConfigError, match="--count 500"):
        SquadDataset(synth.examples, synth.features, count=500)
    cut = SquadDataset(synth.examples, synth.features, count=50)
    assert cut.total_count == 50 and cut.cut and cut.subset


def test_generated_document_reads_back_with_answers_at_their_offsets(tmp_path: Path) -> None:
    doc, vocab = synthetic_squad.generate(3, 20)
    names = synthetic_squad.write(doc, vocab, tmp_path)
    assert json.loads((tmp_path / names["dataset"]).read_text())["version"] == "1.1"
    for art in doc["data"]:
        for par in art["paragraphs"]:
            for qa in par["qas"]:
                a = qa["answers"][0]
                assert par["context"][a["answer_start"] :].startswith(a["text"])
    examples = read_examples(tmp_path / names["dataset"])
    assert len(examples) == 20
    tok = WordPieceTokenizer(tmp_path / names["vocab"])
    assert tok.vocab_size == len(vocab)
    assert "[UNK]" not in tok.tokenize(" ".join(examples[0].doc_tokens))  # vocab covers it


def test_find_files_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dev-v1.1.json"):
        find_files(tmp_path, None)
    (tmp_path / "dev-v1.1.json").write_text("{}")
    with pytest.raises(DataError, match="vocab.txt") as err:
        find_files(tmp_path, tmp_path / "data")
    assert "models/bert" in err.value.message and err.value.fix
    models = tmp_path / "data" / "models" / "bert"
    models.mkdir(parents=True)
    (models / "vocab.txt").write_text("[PAD]\n")
    assert find_files(tmp_path, tmp_path / "data") == (
        tmp_path / "dev-v1.1.json",
        models / "vocab.txt",
    )


def test_official_size_file_checks_the_reference_feature_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from inferlab.benchmarks.bert.dataset import OFFICIAL_FEATURES, OFFICIAL_QUESTIONS, load_real

    doc, vocab = synthetic_squad.generate(0, OFFICIAL_QUESTIONS)
    del doc["synthetic"]  # as if it were a real file of the dev set's size
    names = synthetic_squad.write(doc, vocab, tmp_path)
    with caplog.at_level("WARNING"):
        ds = load_real(tmp_path / names["dataset"], tmp_path / names["vocab"], count=None,
                       cache_dir=None)  # fmt: skip
    n = len(ds.features)
    assert n != OFFICIAL_FEATURES  # this generator's windows differ from the real dev set's
    assert ds.describe()["matches_reference_feature_count"] is False
    assert f"gave {n} features, not the reference's {OFFICIAL_FEATURES}" in caplog.text
    assert ds.synthetic is False  # not generated as far as the file says: judged on its size


def test_a_generated_file_stays_synthetic_when_loaded_as_real_data(tmp_path: Path) -> None:
    from inferlab.benchmarks.bert.dataset import load_real

    doc, vocab = synthetic_squad.generate(0, 12)
    names = synthetic_squad.write(doc, vocab, tmp_path)
    ds = load_real(tmp_path / names["dataset"], tmp_path / names["vocab"], count=None,
                   cache_dir=None)  # fmt: skip
    assert ds.synthetic and ds.dataset_id == "synthetic-squad-v1.1"
    assert ds.describe()["generator"] == {"generator": synthetic_squad.GENERATOR_VERSION}
