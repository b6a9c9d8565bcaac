"""Tokenizers from installed packages (issue 17 item 4): Llama 3.1 from llama-models' tiktoken
ranks, GPT-J's GPT-2 BPE from openai-whisper's asset; known ids from official sources, the cache,
a user's directory winning, and the errors when a package is missing.

Known ids: Llama 3 "This is a test sentence." and the chat header ids are Meta's own tests
(llama_models/llama3/tests/api/test_tokenizer.py); GPT-2 "hello world" / "hello <|endoftext|>" /
"0" "00" "000" are tiktoken's tests of its "gpt2" encoding."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

import pytest

from inferlab.core.errors import ConfigError, ModelError
from inferlab.generation import tokenizers as T

pytest.importorskip("transformers")


def _need(kind: str) -> None:
    """Skip where the package is not installed, except in CI (.ci/run installs both)."""
    try:
        T.packaged_asset(kind)
    except ModelError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inferlab-cache")


@pytest.fixture(scope="module")
def llama3(cache: Path):  # type: ignore[no-untyped-def]
    _need("llama3")
    return T.load_tokenizer("llama3", cache_dir=cache)


@pytest.fixture(scope="module")
def gpt2(cache: Path):  # type: ignore[no-untyped-def]
    _need("gpt2")
    return T.load_tokenizer("gpt2", cache_dir=cache)


# ---- Llama 3 / 3.1 ------------------------------------------------------------------------------


def test_llama3_known_ids(llama3) -> None:  # type: ignore[no-untyped-def]
    assert llama3("Hello world", add_special_tokens=False).input_ids == [9906, 1917]
    assert llama3("Hello world").input_ids == [128000, 9906, 1917]
    assert llama3.encode("This is a test sentence.") == [128000, 2028, 374, 264, 1296, 11914, 13]
    chat = "<|start_header_id|>user<|end_header_id|>\n\nThis is a test sentence.<|eot_id|>"
    assert llama3(chat, add_special_tokens=False).input_ids == [
        128006, 882, 128007, 271, 2028, 374, 264, 1296, 11914, 13, 128009,
    ]  # fmt: skip
    for word, tid in (("system", 9125), ("assistant", 78191)):
        assert llama3(word, add_special_tokens=False).input_ids == [tid]


def test_llama3_special_tokens(llama3) -> None:  # type: ignore[no-untyped-def]
    assert len(llama3) == 128_256
    assert llama3.vocab_size == 128_000
    assert (llama3.bos_token, llama3.bos_token_id) == ("<|begin_of_text|>", 128000)
    assert (llama3.eos_token, llama3.eos_token_id) == ("<|eot_id|>", 128009)
    ids = llama3.convert_tokens_to_ids
    assert ids("<|end_of_text|>") == 128001
    assert ids("<|finetune_right_pad_id|>") == 128004
    assert ids("<|start_header_id|>") == 128006
    assert ids("<|end_header_id|>") == 128007
    assert ids("<|eom_id|>") == 128008
    assert ids("<|python_tag|>") == 128010
    assert ids("<|reserved_special_token_0|>") == 128002
    assert ids("<|reserved_special_token_2|>") == 128005
    assert ids("<|reserved_special_token_3|>") == 128011
    assert ids("<|reserved_special_token_247|>") == 128255
    assert llama3.decode([128000, 2028, 374, 264, 1296, 11914, 13, 128001]) == (
        "<|begin_of_text|>This is a test sentence.<|end_of_text|>"
    )


def test_llama3_round_trip(llama3) -> None:  # type: ignore[no-untyped-def]
    for text in (
        "Hello world",
        "x != y and a.b == c, the word 'social' ! ! !",
        "  leading and trailing spaces  \n\n\tand tabs\r\n12345678 3.14159",
        "Größe, café, 日本語のテキスト, 한국어, emoji 🙂🚀",
    ):
        ids = llama3(text).input_ids
        assert ids[0] == 128000
        assert llama3.decode(ids, skip_special_tokens=True) == text


def test_llama3_matches_meta_tokenizer(llama3) -> None:  # type: ignore[no-untyped-def]
    """Meta's tiktoken Tokenizer from the same package gives the same ids."""
    pytest.importorskip("tiktoken")
    meta_mod = pytest.importorskip("llama_models.llama3.tokenizer")
    meta = meta_mod.Tokenizer(T.packaged_asset("llama3")[0])
    for text in ("Hello world", "def f(x):\n    return x**2  # 1234567\n", "¿Qué tal? 中文 🙂"):
        assert llama3.encode(text) == meta.encode(text, bos=True, eos=False)
    # the named ones; the package numbers its reserved tokens (and names 128005 and 128011) as
    # Llama 3.2 does, the HF Llama-3.1 tokenizer as below
    ours = [s for s in T.LLAMA3_NAMED_SPECIALS if "reserved" not in s]
    named = {s: i for s, i in meta.special_tokens.items() if s in ours}
    assert len(named) == 8
    assert {s: llama3.convert_tokens_to_ids(s) for s in named} == named
    assert sorted(meta.special_tokens.values()) == list(range(128000, 128256))


# ---- GPT-2 (GPT-J) ------------------------------------------------------------------------------


def test_gpt2_known_ids(gpt2) -> None:  # type: ignore[no-untyped-def]
    assert gpt2("Hello world").input_ids == [15496, 995]  # no bos, as GPT-J's tokenizer
    assert gpt2("hello world").input_ids == [31373, 995]
    assert gpt2("hello <|endoftext|>").input_ids == [31373, 220, 50256]
    assert [gpt2(s).input_ids for s in ("0", "00", "000")] == [[15], [405], [830]]
    alpaca = (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\n"
    )
    assert gpt2(alpaca).input_ids == [
        21106, 318, 281, 12064, 326, 8477, 257, 4876, 13, 19430, 257, 2882, 326, 20431, 32543,
        262, 2581, 13, 198, 198, 21017, 46486, 25, 198,
    ]  # fmt: skip


def test_gpt2_special_tokens_and_round_trip(gpt2) -> None:  # type: ignore[no-untyped-def]
    assert len(gpt2) == 50_257
    assert gpt2.eos_token == gpt2.bos_token == "<|endoftext|>"
    assert gpt2.eos_token_id == 50256
    assert gpt2.decode([31373, 995]) == "hello world"
    for text in ("Hello world", " a .b , c 'd'", "tabs\tnew\nlines  ", "ünïcödé 🙂"):
        assert gpt2.decode(gpt2(text).input_ids) == text
    assert gpt2.decode([15496, 995, 50256], skip_special_tokens=True) == "Hello world"


# ---- cache, user directory, errors --------------------------------------------------------------


def test_cache_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need("gpt2")
    first = T.resolve_tokenizer("gpt2", cache_dir=tmp_path)
    assert first.origin == "package"
    assert first.describe()["package"] == "openai-whisper"
    assert first.describe()["sha256"] == first.sha256 and len(first.sha256) == 64
    first.load()
    converted = first.tokenizer_dir
    assert converted.parent == tmp_path / "tokenizers"
    assert first.sha256[:16] in converted.name
    assert first.describe()["known_file"] is True
    assert {p.name for p in converted.iterdir()} == {"tokenizer.json", "tokenizer_config.json"}
    mtime = (converted / "tokenizer.json").stat().st_mtime_ns

    def no_conversion(*args: object, **kwargs: object) -> Path:
        raise AssertionError("the cached tokenizer was converted again")

    monkeypatch.setattr(T, "convert_to_dir", no_conversion)
    again = T.load_tokenizer("gpt2", cache_dir=tmp_path)
    assert again("Hello world").input_ids == [15496, 995]
    assert (converted / "tokenizer.json").stat().st_mtime_ns == mtime


def test_default_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert T.default_cache_dir() == tmp_path / "inferlab"


def _tiny_tokenizer_dir(path: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path.mkdir(parents=True, exist_ok=True)
    tok.save(str(path / "tokenizer.json"))
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]"}
    (path / "tokenizer_config.json").write_text(json.dumps(cfg))
    return path


def test_a_user_directory_wins(tmp_path: Path) -> None:
    user = _tiny_tokenizer_dir(tmp_path / "model")
    for given in (user, user / "tokenizer.json"):
        src = T.resolve_tokenizer("llama3", user_dir=given, cache_dir=tmp_path / "cache")
        assert src.origin == "user_dir"
        assert src.describe()["file"] == str(user / "tokenizer.json")
        tok = src.load()
        assert tok("hello world").input_ids == [1, 2]
    assert not (tmp_path / "cache").exists()  # nothing converted


def test_a_user_directory_without_tokenizer_json_falls_back(tmp_path: Path) -> None:
    _need("gpt2")
    (tmp_path / "weights").mkdir()
    src = T.resolve_tokenizer("gpt2", user_dir=tmp_path / "weights", cache_dir=tmp_path)
    assert src.origin == "package"
    with pytest.raises(ConfigError, match="does not exist"):
        T.resolve_tokenizer("gpt2", user_dir=tmp_path / "missing", cache_dir=tmp_path)


def test_missing_package_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_installed(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(T.importlib.metadata, "distribution", not_installed)
    with pytest.raises(ModelError) as err:
        T.load_tokenizer("gpt2", cache_dir=tmp_path)
    assert "openai-whisper" in str(err.value)
    assert "pip install --no-deps 'openai-whisper==20250625'" in str(err.value)
    with pytest.raises(ModelError, match=r"pip install 'llama-models==0\.3\.0'"):
        T.load_tokenizer("llama3", cache_dir=tmp_path)
    # a user's directory needs no package
    user = _tiny_tokenizer_dir(tmp_path / "model")
    assert T.load_tokenizer("gpt2", user_dir=user)("world").input_ids == [2]


def test_unknown_kind_and_damaged_ranks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown tokenizer kind"):
        T.resolve_tokenizer("llama2")
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("IQ== 0\nIg== 5\n")
    with pytest.raises(ModelError, match="contiguous"):
        T.read_tiktoken_ranks(bad)
    bad.write_text("not base64 at all\n")
    with pytest.raises(ModelError, match="not a tiktoken ranks line"):
        T.read_tiktoken_ranks(bad)


def test_bytes_to_unicode_is_a_bijection_onto_printables() -> None:
    table = T.bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"


def test_a_damaged_cache_entry_is_converted_again(tmp_path: Path) -> None:
    _need("gpt2")
    src = T.resolve_tokenizer("gpt2", cache_dir=tmp_path)
    src.load()
    (src.tokenizer_dir / "tokenizer.json").write_text('{"truncated": ')
    assert src.load()("Hello world").input_ids == [15496, 995]


def test_llama_accuracy_decodes_with_transformers_4_clean_up(tmp_path: Path) -> None:
    """evaluation.py (transformers 4.46.2, the Hub config's clean_up_tokenization_spaces=true)
    turns " ," and " ." into "," and "."; GEN_LEN counts the cleaned characters."""
    import json
    import types

    import numpy as np

    from inferlab.benchmarks.llama3_1_8b.spec import PYTORCH
    from inferlab.benchmarks.llama3_1_8b.task import TASK
    from inferlab.generation.tokenizers import clean_up_tokenization, load_tokenizer

    assert clean_up_tokenization("He said , it is n't so . I 'm here !") == (
        "He said, it isn't so. I'm here!"
    )
    tok = load_tokenizer("llama3")
    text = "Storms hit , officials said . Nobody 's hurt ."
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text  # the packaged tokenizer itself round-trips exactly
    log = tmp_path / "mlperf_log_accuracy.json"
    data = np.asarray(ids, np.int32).tobytes().hex().upper()
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 0, "data": data}]))
    dataset: Any = types.SimpleNamespace(references=["Storms hit, officials said."])
    ev = TASK.evaluate(log, dataset, PYTORCH, tmp_path)
    gen_len = {m.metric: m.value for m in ev.values}["GEN_LEN"]
    assert gen_len == len("Storms hit, officials said. Nobody's hurt.")
    assert ev.details["clean_up_tokenization_spaces"] is True
