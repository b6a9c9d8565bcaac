"""gptj-99 / gptj-99.9: the spec and its registration, the reference's prompt (Alpaca template,
GPT-J's tokenizer, truncation to 1,919 tokens) on made-up records with known token counts, the
response payload (int64 ids), and the accuracy of evaluation.py on hand-made predictions, with
the expected ROUGE values computed here by rouge_score directly.

The optional test at the end runs the reference's dataset.py and evaluation.py when
INFERLAB_OFFICIAL_INFERENCE points at a mlcommons/inference checkout.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferlab.benchmarks.gptj import dataset as cnndm
from inferlab.benchmarks.gptj import spec as gspec
from inferlab.benchmarks.gptj.task import (
    TASK_99,
    make_decoder,
    score_log,
)
from inferlab.core import registry
from inferlab.core.errors import DataError, ModelError
from inferlab.core.rounds import RULES
from inferlab.core.spec import Scenario
from inferlab.core.task import SampleOutput
from inferlab.generation.tokenizers import clean_up_tokenization, packaged_asset
from inferlab.metrics import punkt

pytest.importorskip("rouge_score")
try:  # GPT-J's tokenizer comes from openai-whisper's asset (installed with --no-deps)
    packaged_asset("gpt2")
except ModelError as exc:
    if os.environ.get("CI"):
        raise
    pytest.skip(str(exc), allow_module_level=True)

# GPT-2 BPE ids (checked against the tokenizer below): "hello" 31373, " hello" 23748,
# "\n" 198, "###" 21017, " Response" 18261, ":" 25, "Below" 21106, <|endoftext|> 50256
HELLO, SP_HELLO, EOS = 31373, 23748, 50256
PREFIX_LEN = 47  # the template up to and including "### Input:\n" (instruction filled in)
SUFFIX = [198, 198, 21017, 18261, 25]  # "\n\n### Response:"


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Punkt files and the converted tokenizer go to a temporary XDG cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    root = tmp_path_factory.mktemp("xdg")
    os.environ["XDG_CACHE_HOME"] = str(root)
    yield root
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="module")
def tok() -> Any:
    from inferlab.generation.tokenizers import load_tokenizer

    return load_tokenizer("gpt2")


def _encode(tok: Any) -> cnndm.Encode:
    return lambda texts: [list(t) for t in tok(texts, verbose=False)["input_ids"]]


def _record(article: str, summary: str = "A summary.") -> dict[str, str]:
    return {"instruction": gspec.INSTRUCTION, "input": article, "output": summary}


def _hellos(n: int) -> str:
    return "hello" + " hello" * (n - 1)  # n tokens: 31373, then 23748 x (n - 1)


# ---- the spec and its registration -----------------------------------------------------------


def test_registered_with_the_rounds_facts() -> None:
    assert registry.BENCHMARKS["gptj-99"] == "inferlab.benchmarks.gptj.spec:SPEC_99"
    assert registry.BENCHMARKS["gptj-99.9"] == "inferlab.benchmarks.gptj.spec:SPEC_99_9"
    for alias in ("GPTJ", "gpt-j", "gpt-j-99", "gpt-j-6b"):
        assert registry.canonical_id(alias) == "gptj-99"
    assert registry.canonical_id("gpt-j-99.9") == "gptj-99.9"
    for bid, lower in (("gptj-99", 0.99), ("gptj-99.9", 0.999)):
        spec = registry.get(bid)
        assert (spec.loadgen_name, spec.checker_name) == ("gptj", bid)
        assert set(spec.targets) == {"v4.1", "v5.0"}  # retired after v5.0
        assert all(bid not in RULES[r].benchmarks for r in ("v5.1", "v6.0", "v6.1"))
        for r, targets in spec.targets.items():
            assert targets == RULES[r].benchmarks[bid].targets
            by = {t.metric: t for t in targets}
            assert by["ROUGE1"].reference == 42.9865 and by["ROUGE1"].lower == lower
            assert by["GEN_LEN"].reference == 4_016_878 and by["GEN_LEN"].lower == 0.9
        rules = RULES["v5.0"].benchmarks[bid]
        assert set(spec.scenarios) == {
            Scenario.parse(s) for c in ("datacenter", "edge") for s in rules.scenarios(c)
        }
        assert spec.server_latency_ms * 1e6 == rules.server_latency_ns
        assert spec.dataset_size == spec.performance_sample_count == 13_368
        assert spec.result_field(Scenario.OFFLINE)[0] == "result_inferred_tokens_per_second"
        assert (
            spec.result_field(Scenario.SERVER)[0] == "result_inferred_completed_tokens_per_second"
        )
        assert spec.result_field(Scenario.SINGLE_STREAM)[0] == "early_stopping_latency_ss"
        assert {v.name: v.output_dtype for v in spec.variants} == {
            "pytorch": "int64",
            "tiny": "int64",
        }
        assert spec.synthetic_variant == "tiny"
        assert set(spec.quick) == set(spec.scenarios)
        assert spec.quick[Scenario.SERVER].min_query_count == 459  # early stopping, 99th pct


def test_generation_settings_are_the_reference_s() -> None:
    s = TASK_99.generation_settings(gspec.PYTORCH)
    assert (s.num_beams, s.early_stopping, s.min_new_tokens, s.max_new_tokens) == (4, True, 30, 128)
    assert s.eos_token_ids == (EOS,)
    assert s.output_dtype == "int64"
    assert s.stream_scenarios == ()  # whole responses only, as the reference
    assert s.max_seq_len >= gspec.MAX_PROMPT_TOKENS + s.max_new_tokens


# ---- the prompt ----------------------------------------------------------------------------------


def test_prompt_is_the_alpaca_template_around_the_article(tok: Any) -> None:
    rec = _record("Some {braces} stay as they are.")
    text = cnndm.prompt_text(rec)
    assert text == (
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nSummarize the following news article:\n\n"
        "### Input:\nSome {braces} stay as they are.\n\n### Response:"
    )
    ds = cnndm.CnnDmDataset(
        [_record(_hellos(5))], _encode(tok), dataset_id="t", source={}, synthetic=True,
        full_count=1,
    )  # fmt: skip
    ids = ds.prompt(0).tolist()
    assert ds.prompt(0).dtype == np.int32
    assert len(ids) == PREFIX_LEN + 5 + len(SUFFIX)
    assert ids[0] == 21106  # "Below": no BOS, as GPT-J's tokenizer
    assert ids[PREFIX_LEN : PREFIX_LEN + 5] == [HELLO] + [SP_HELLO] * 4
    assert ids[-len(SUFFIX) :] == SUFFIX
    assert ds.references == ["A summary."] and ds.truncated == 0


@pytest.mark.parametrize(
    ("n", "kept_article", "truncated"),
    [
        (1919 - PREFIX_LEN - 5, 1919 - PREFIX_LEN - 5, False),  # exactly 1,919: kept whole
        (1919 - PREFIX_LEN - 4, 1919 - PREFIX_LEN - 4, True),  # 1,920: the final ":" goes
        (3000, 1919 - PREFIX_LEN, True),  # the article's end and "### Response:" go
    ],
)
def test_prompt_is_cut_to_its_first_1919_tokens(
    tok: Any, n: int, kept_article: int, truncated: bool
) -> None:
    text = cnndm.prompt_text(_record(_hellos(n)))
    ds = cnndm.CnnDmDataset(
        [_record(_hellos(n))], _encode(tok), dataset_id="t", source={}, synthetic=True,
        full_count=1,
    )  # fmt: skip
    ids = ds.prompt(0).tolist()
    assert len(ids) == min(1919, PREFIX_LEN + n + len(SUFFIX))
    assert ids[PREFIX_LEN:].count(HELLO) + ids[PREFIX_LEN:].count(SP_HELLO) == kept_article
    assert ds.truncated == int(truncated) and ds.describe()["prompts_truncated"] == int(truncated)
    # what the reference's tokenizer(..., truncation=True, max_length=1919) keeps: the start
    assert ids == tok(text, truncation=True, max_length=1919)["input_ids"]
    assert int(ds.lengths[0]) == len(ids)
    batch = ds.get_batch(np.array([0]))
    assert batch[0, 0] == len(ids) and batch[0, 1:].tolist() == ids


def test_synthetic_records_are_seeded_and_in_the_reference_format(tok: Any) -> None:
    a = cnndm.generate_records(5, seed=3)
    assert a == cnndm.generate_records(5, seed=3) != cnndm.generate_records(5, seed=4)
    assert all(set(r) == set(cnndm.FIELDS) and r["instruction"] == gspec.INSTRUCTION for r in a)
    ds = cnndm.load_synthetic(5, 3, _encode(tok), "gpt2")
    assert ds.synthetic and ds.total_count == 5 and ds.describe()["synthetic"]


# ---- the real file: loading and its errors ---------------------------------------------------


def test_load_real_file_or_directory(tmp_path: Path, tok: Any) -> None:
    records = [_record(_hellos(i + 1), f"Summary {i}.") for i in range(4)]
    (tmp_path / "cnn_eval.json").write_text(json.dumps(records, indent=4))
    for where in (tmp_path, tmp_path / "cnn_eval.json"):
        ds = cnndm.load_real(where, _encode(tok), full_count=13_368, count=3, tokenizer="gpt2")
        assert ds.total_count == 3 and not ds.synthetic
        assert ds.references == ["Summary 0.", "Summary 1.", "Summary 2."]
        assert ds.describe()["subset"] and ds.describe()["records_in_file"] == 4
    with pytest.raises(DataError, match="--count 9"):
        cnndm.load_real(tmp_path, _encode(tok), full_count=13_368, count=9, tokenizer="gpt2")


def test_load_real_errors_name_the_fix(tmp_path: Path, tok: Any) -> None:
    enc = _encode(tok)
    with pytest.raises(DataError, match="holds no cnn_eval.json") as err:
        cnndm.load_real(tmp_path, enc, full_count=1, count=None, tokenizer="gpt2")
    assert "download_cnndm.py" in str(err.value.fix)
    bad = tmp_path / "cnn_eval.json"
    bad.write_text('[{"instruction": "x", "input": "y", "out')  # cut short
    with pytest.raises(DataError, match="not readable JSON") as err:
        cnndm.load_real(bad, enc, full_count=1, count=None, tokenizer="gpt2")
    assert "download_cnndm.py" in str(err.value.fix)
    bad.write_bytes(b'[{"input": "\xff"}]')
    with pytest.raises(DataError, match="not UTF-8"):
        cnndm.load_real(bad, enc, full_count=1, count=None, tokenizer="gpt2")
    bad.write_text(json.dumps({"data": []}))
    with pytest.raises(DataError, match="JSON dict, not the list"):
        cnndm.load_real(bad, enc, full_count=1, count=None, tokenizer="gpt2")
    llama = [{"instruction": {"llama": "t"}, "input": "a", "tok_input": [1], "output": "b"}]
    bad.write_text(json.dumps(llama))
    with pytest.raises(DataError, match="record 0 .*llama3.1-8b's processed file"):
        cnndm.load_real(bad, enc, full_count=1, count=None, tokenizer="gpt2")
    bad.write_text("[]")
    with pytest.raises(DataError, match="no records"):
        cnndm.load_real(bad, enc, full_count=1, count=None, tokenizer="gpt2")


def test_model_path_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no config.json"):
        TASK_99.resolve_model_path(None, tmp_path, gspec.PYTORCH)
    (tmp_path / "config.json").write_text("{}")
    assert TASK_99.resolve_model_path(None, tmp_path, gspec.PYTORCH) == tmp_path
    root = tmp_path / "root"
    assert TASK_99.resolve_model_path(root, None, gspec.PYTORCH) is None
    official = root / "models" / "gptj" / "checkpoint"
    official.mkdir(parents=True)
    (official / "config.json").write_text("{}")
    assert TASK_99.resolve_model_path(root, None, gspec.PYTORCH) == official
    (official / "pytorch_model.bin").write_bytes(b"x")
    pytest.importorskip("torch")
    from inferlab.benchmarks.gptj.model import build

    with pytest.raises(ModelError, match=r"\.bin weights only") as err:
        build(official, seed=0)
    assert "save_pretrained" in str(err.value.fix)


def test_tiny_model_ends_its_beams_on_eos_after_the_minimum() -> None:
    pytest.importorskip("torch")
    from inferlab.benchmarks.gptj.model import build
    from inferlab.generation.engine import Engine, Request

    model, facts = build(None, seed=0)
    assert facts.random_weights and facts.extra["eos_logit_bias"] == gspec.TINY_EOS_LOGIT_BIAS
    assert model.config.model_type == "gptj" and model.config.vocab_size == 50_257
    s = TASK_99.generation_settings(gspec.TINY)
    engine = Engine(model, max_seqs=4, max_seq_len=256, eos_token_ids=s.eos_token_ids)
    request = Request(0, [HELLO, SP_HELLO, SP_HELLO], num_beams=4, early_stopping=True,
                      min_new_tokens=30, max_new_tokens=128)  # fmt: skip
    (done,) = engine.generate([request])
    assert len(done.tokens) == 31 and done.tokens[-1] == EOS and EOS not in done.tokens[:-1]
    assert done.finish_reason == "eos"


# ---- the response payload ------------------------------------------------------------------------


def test_responses_are_int64_ids_with_their_count() -> None:
    outputs = np.zeros((3, 1 + 128), dtype=np.int32)
    outputs[0, :4] = [3, 464, 3797, EOS]
    outputs[1, :32] = [31, *range(100, 130), EOS]
    outs = TASK_99.postprocess(outputs, gspec.PYTORCH, np.arange(3), None)  # type: ignore[arg-type]
    assert all(isinstance(o, SampleOutput) and o.dtype == "int64" for o in outs)
    assert np.frombuffer(outs[0].data, np.int64).tolist() == [464, 3797, EOS]
    assert outs[0].n_tokens == 3 and outs[1].n_tokens == 31
    assert np.frombuffer(outs[1].data, np.int64).tolist() == [*range(100, 130), EOS]
    assert all(o.first_token is None for o in outs)  # nothing streamed ahead
    assert outs[2].n_tokens == 2  # the null backend's zeros: placeholder ids
    assert np.frombuffer(outs[2].data, np.int64).tolist() == [0, 0]


# ---- accuracy: evaluation.py -------------------------------------------------------------------


def _expected(preds: list[str], refs: list[str]) -> dict[str, Any]:
    """evaluation.py's numbers computed here from rouge_score and NLTK directly."""
    import nltk
    from rouge_score import rouge_scorer

    punkt.ensure_punkt()

    def pp(text: str) -> str:
        return "\n".join(nltk.sent_tokenize(text.strip()))

    p, r = [pp(t) for t in preds], [pp(t) for t in refs]
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=True)
    scores = [scorer.score(ref, pred) for ref, pred in zip(r, p, strict=True)]
    out: dict[str, Any] = {
        k: f"{round(np.mean([s[k].fmeasure for s in scores]) * 100, 4)}" for k in types
    }
    out["gen_len"] = sum(len(x) for x in p)
    out["gen_num"] = len(p)
    return out


def test_clean_up_tokenization_spaces() -> None:
    assert clean_up_tokenization("He said , it is n't so . I 'm here ! ok ?") == (
        "He said, it isn't so. I'm here! ok?"
    )
    assert clean_up_tokenization("the ' best ' one 's") == "the'best'one's"


def test_accuracy_on_hand_made_predictions(tmp_path: Path, tok: Any) -> None:
    refs = [
        "Police arrested a man in Boston. He was 25 years old.",
        "A storm hit the coast on Monday. Thousands lost power.",
        "The U.S. team won the final. Fans celebrated in the streets.",
        "Nobody predicted this one.",
    ]
    preds = [  # as the model would emit them: the ids end with EOS, which decoding skips
        "Police arrested a man , 25 , in Boston. He was charged on Monday.",
        "The storm hit the coast. Thousands of homes lost power.",
        "The U.S. team won the final.",
    ]
    ids = [tok(p)["input_ids"] + [EOS] for p in preds]
    assert tok.decode(ids[0], skip_special_tokens=True) == preds[0]  # the raw round trip

    def hexed(i: int) -> str:
        return np.asarray(ids[i], dtype=np.int64).tobytes().hex().upper()

    log = [  # qsl 3 never logged; qsl 1 twice (the first is kept)
        {"seq_id": 0, "qsl_idx": 2, "data": hexed(2)},
        {"seq_id": 1, "qsl_idx": 0, "data": hexed(0)},
        {"seq_id": 2, "qsl_idx": 1, "data": hexed(1)},
        {"seq_id": 3, "qsl_idx": 1, "data": hexed(0)},
    ]
    path = tmp_path / "mlperf_log_accuracy.json"
    path.write_text(json.dumps(log))
    ds = cnndm.CnnDmDataset(
        [_record("x", r) for r in refs], _encode(tok), dataset_id="t", source={},
        synthetic=False, full_count=4,
    )  # fmt: skip
    ev = TASK_99.evaluate(path, ds, gspec.PYTORCH, tmp_path)
    # decoded as the reference's tokenizer did: " ," -> "," (tokenization spaces cleaned up)
    decoded = [preds[2], preds[0].replace(" ,", ","), preds[1]]
    want = _expected(decoded, [refs[2], refs[0], refs[1]])
    printed = ast.literal_eval(ev.accuracy_txt.strip().splitlines()[-1])
    assert ev.accuracy_txt.startswith("\nResults\n\n{'rouge1': '")
    assert printed == want
    values = {m.metric: m.value for m in ev.values}
    assert values["ROUGE1"] == float(want["rouge1"]) and values["GEN_LEN"] == want["gen_len"]
    assert values["ROUGELSUM"] == float(want["rougeLsum"])
    assert ev.details["total"] == 3 and ev.details["duplicates"] == 1
    assert ev.details["token_dtype"] == "int64"
    assert 0 < values["ROUGE2"] < values["ROUGE1"] < 100

    # int32 ids of odd length cannot be int64 ids: the dtype is checked
    bad = [{"seq_id": 0, "qsl_idx": 0, "data": np.asarray([1, 2, 3], np.int32).tobytes().hex()}]
    path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match="not a multiple of 8"):
        TASK_99.evaluate(path, ds, gspec.PYTORCH, tmp_path)


def test_score_log_with_a_word_decoder() -> None:
    words = {1: "the", 2: "cat", 3: "sat", 4: "on", 5: "mat", 0: "<eos>"}

    def decode(ids: np.ndarray) -> str:
        return " ".join(words[int(i)] for i in ids if i != 0)

    entries = [(0, np.asarray([1, 2, 3, 4, 1, 5, 0], np.int64).tobytes().hex())]
    ev = score_log(entries, ["the cat lay on the mat"], decode, "int64")
    # unigrams 5 of 6 each side -> 83.3333; bigrams 3 of 5 -> 60 (tests/unit/test_rouge.py)
    assert {m.metric: m.value for m in ev.values} == {
        "ROUGE1": 83.3333,
        "ROUGE2": 60.0,
        "ROUGEL": 83.3333,
        "ROUGELSUM": 83.3333,
        "GEN_LEN": float(len("the cat sat on the mat")),
    }


# ---- optional: the reference's dataset.py and evaluation.py ------------------------------------

OFFICIAL = os.environ.get("INFERLAB_OFFICIAL_INFERENCE")

# What the scripts fetch from a hub stands in as: EleutherAI/gpt-j-6B's tokenizer = the packaged
# GPT-2 BPE (encoding and truncation by transformers itself; decoding with the clean-up of
# transformers < 4.45), evaluate.load("rouge") = evaluate's metric code (RougeScorer per sample),
# nltk.download = a no-op with the offline Punkt data on nltk.data.path.
_LAUNCHER = """
import json, runpy, sys, types
import nltk
nltk.download = lambda *a, **k: True
nltk.data.path.insert(0, {nltk_data!r})
from inferlab.generation.tokenizers import clean_up_tokenization
from inferlab.generation.tokenizers import load_tokenizer

class Tok:
    def __init__(self):
        self.inner = load_tokenizer("gpt2")
        self.eos_token = self.inner.eos_token
        self.eos_token_id = self.inner.eos_token_id
        self.pad_token = None
    def __call__(self, text, **kw):
        kw.pop("padding", None)
        return self.inner(text, **kw)
    def batch_decode(self, seqs, skip_special_tokens=False):
        return [clean_up_tokenization(self.inner.decode([int(i) for i in s],
                skip_special_tokens=skip_special_tokens)) for s in seqs]

import transformers  # the real one, its AutoTokenizer stood in for
transformers.AutoTokenizer = types.SimpleNamespace(from_pretrained=lambda *a, **k: Tok())
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
sys.modules.update(datasets=ds, evaluate=ev)
mode, script = sys.argv[1], sys.argv[2]
sys.path.insert(0, script.rsplit("/", 1)[0])
if mode == "prompts":  # dataset.py's prompt ids, one list per record
    from dataset import Dataset
    d = Dataset(sys.argv[3])
    print("PROMPTS " + json.dumps([t[0].tolist() for t in d.source_encoded_input_ids]))
else:
    sys.argv = sys.argv[2:]
    runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.skipif(
    not OFFICIAL, reason="set INFERLAB_OFFICIAL_INFERENCE to a mlcommons/inference checkout"
)
def test_official_dataset_and_evaluation_scripts_agree(tmp_path: Path, tok: Any) -> None:
    pytest.importorskip("torch")  # dataset.py imports it
    gptj = Path(OFFICIAL or "") / "language" / "gpt-j"
    if not (gptj / "evaluation.py").is_file():
        pytest.skip(f"no {gptj / 'evaluation.py'}")
    rng = np.random.default_rng(11)
    records = cnndm.generate_records(12, seed=5)
    records[4]["input"] = _hellos(2500)  # truncated to 1,919 tokens
    records[7]["input"] = "Quotes ' and braces {x} , odd spacing ."
    dataset = tmp_path / "cnn_eval.json"
    dataset.write_text(json.dumps(records))
    root = punkt.ensure_punkt(tmp_path / "nltk_data")
    launcher = tmp_path / "launch.py"
    launcher.write_text(textwrap.dedent(_LAUNCHER.format(nltk_data=str(root))))

    def official(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, str(launcher), *args], capture_output=True, text=True, timeout=600
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    ours = cnndm.load_real(dataset, _encode(tok), full_count=12, count=None, tokenizer="gpt2")
    (line,) = [x for x in official("prompts", str(gptj / "dataset.py"), str(dataset)).splitlines()
               if x.startswith("PROMPTS ")]  # fmt: skip
    assert json.loads(line.removeprefix("PROMPTS ")) == [p.tolist() for p in ours.prompts]
    assert ours.truncated == 1

    entries = []
    for q in [*rng.permutation(12)[:10].tolist(), 3]:  # 2 never logged, 1 repeated
        # part of the reference, reordered, a few random ids, " , " (cleaned up), then EOS
        words = records[q]["output"].split()
        kept = " ".join(rng.permutation(words)[: max(2, len(words) // 2)].tolist())
        ids = [*tok(kept + " , and")["input_ids"], *rng.integers(0, 50_256, size=5).tolist()]
        entries.append((int(q), np.asarray([*ids, EOS], np.int64).tobytes().hex().upper()))
    log = tmp_path / "mlperf_log_accuracy.json"
    log.write_text(
        json.dumps([{"seq_id": i, "qsl_idx": q, "data": d} for i, (q, d) in enumerate(entries)])
    )
    stdout = official(
        "eval", str(gptj / "evaluation.py"), "--mlperf-accuracy-file", str(log),
        "--dataset-file", str(dataset),
    )  # fmt: skip
    lines = stdout.splitlines()
    printed = lines[lines.index("Results") + 2]
    import re

    printed = re.sub(r"np\.\w+\(([^)]*)\)", r"\1", printed)  # numpy 2's repr of gen_len
    ev = score_log(entries, ours.references, make_decoder(), "int64")
    got = ast.literal_eval(printed)
    want = ast.literal_eval(ev.accuracy_txt.strip().splitlines()[-1])
    if isinstance(got["rouge1"], float):  # the v4.1 script printed floats, later ones strings
        want = {k: float(v) if k.startswith("rouge") else v for k, v in want.items()}
    assert got == want
    assert 0 < float(want["rouge2"]) < float(want["rouge1"]) < 100
