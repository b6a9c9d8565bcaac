"""BERT QA network (HF key names, HF equivalence, padding invariance) and strict loading."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from inferlab.benchmarks.bert.logits import compare_logits  # noqa: E402
from inferlab.benchmarks.bert.model import (  # noqa: E402
    BertConfig,
    BertForQuestionAnswering,
    build_bert_qa,
    load_bert_checkpoint,
)
from inferlab.core.errors import ModelError  # noqa: E402

TINY = BertConfig(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=512,
)
MLPERF_CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 1024,
    "initializer_range": 0.02,
    "intermediate_size": 4096,
    "max_position_embeddings": 512,
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "type_vocab_size": 2,
    "vocab_size": 30522,
}


def hf_keys(n_layers: int) -> list[str]:
    """HF BertForQuestionAnswering state_dict keys (no pooler), in HF's order."""
    keys = [
        f"bert.embeddings.{name}.weight"
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings")
    ]
    keys += ["bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias"]
    for i in range(n_layers):
        p = f"bert.encoder.layer.{i}."
        for sub in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        ):
            keys += [f"{p}{sub}.weight", f"{p}{sub}.bias"]
    return keys + ["qa_outputs.weight", "qa_outputs.bias"]


def tiny(seed: int = 0, config: BertConfig = TINY) -> BertForQuestionAnswering:
    torch.manual_seed(seed)
    return build_bert_qa(config).eval()


def batch(lengths: list[int], width: int, seed: int = 0, vocab: int = 100) -> torch.Tensor:
    """(n, 3, width) int64: random ids, mask 1 on the first lengths[i], segment 1 on the second
    half of the real tokens; padding is all zeros like the reference's features."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(lengths), 3, width, dtype=torch.int64)
    for i, n in enumerate(lengths):
        x[i, 0, :n] = torch.randint(1, vocab, (n,), generator=gen)
        x[i, 1, :n] = 1
        x[i, 2, n // 2 : n] = 1
    return x


def run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x)


def save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


# ---------------------------------------------------------------------------------- layout, init


def test_state_dict_keys_are_hf_names() -> None:
    state = tiny().state_dict()
    assert list(state) == hf_keys(2)
    assert tuple(state["bert.embeddings.word_embeddings.weight"].shape) == (100, 32)
    assert tuple(state["bert.embeddings.position_embeddings.weight"].shape) == (512, 32)
    assert tuple(state["bert.encoder.layer.1.intermediate.dense.weight"].shape) == (64, 32)
    assert tuple(state["bert.encoder.layer.1.output.dense.weight"].shape) == (32, 64)
    assert tuple(state["qa_outputs.weight"].shape) == (2, 32)


def test_bert_large_layout_without_allocating() -> None:
    model = build_bert_qa(random_init=False)  # meta device: no memory, no init
    assert BertConfig.large() == BertConfig(**MLPERF_CONFIG)
    assert list(model.state_dict()) == hf_keys(24)
    # HF bert-large QA head without the pooler
    assert sum(p.numel() for p in model.parameters()) == 334_094_338


def test_init_like_hf_and_seeded() -> None:
    state = tiny(seed=3).state_dict()
    again = tiny(seed=3).state_dict()
    assert all(torch.equal(state[k], again[k]) for k in state)
    other = tiny(seed=4).state_dict()
    assert not torch.equal(state["qa_outputs.weight"], other["qa_outputs.weight"])
    assert bool((state["bert.embeddings.LayerNorm.weight"] == 1).all())
    assert bool((state["bert.encoder.layer.0.output.dense.bias"] == 0).all())
    assert bool((state["bert.embeddings.word_embeddings.weight"][0] == 0).all())
    big = torch.cat([state[k].flatten() for k in state if k.endswith("dense.weight")])
    assert float(big.std()) == pytest.approx(0.02, rel=0.1)


def test_forward_shape_dtype_and_int32_inputs() -> None:
    model = tiny()
    x = batch([7, 5], 7)
    out = run(model, x)
    assert out.shape == (2, 7, 2) and out.dtype == torch.float32
    assert torch.equal(run(model, x.to(torch.int32)), out)


@pytest.mark.parametrize(
    "x",
    [torch.zeros(2, 3, 8), torch.zeros(2, 8, dtype=torch.int64), torch.zeros(2, 2, 8).long()],
    ids=["float", "2d", "two-rows"],
)
def test_bad_input_is_a_model_error(x: torch.Tensor) -> None:
    with pytest.raises(ModelError, match=r"\(n, 3, L\)"):
        run(tiny(), x)


def test_too_long_input() -> None:
    small = BertConfig(**{**TINY.__dict__, "max_position_embeddings": 16})
    with pytest.raises(ModelError, match="17 positions"):
        run(tiny(config=small), batch([17], 17))


# ------------------------------------------------------------------------- equivalence with HF


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_matches_transformers(tmp_path: Path, impl: str) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=512,
        hidden_act="gelu",
    )
    hf = transformers.BertForQuestionAnswering(hf_config).eval()
    hf.config._attn_implementation = impl
    # what the MLPerf file holds: the QA state dict plus the pooler older HF models carried
    state = dict(hf.state_dict())
    state["bert.pooler.dense.weight"] = torch.zeros(32, 32)
    state["bert.pooler.dense.bias"] = torch.zeros(32)
    ours = build_bert_qa(TINY, random_init=False)
    facts = load_bert_checkpoint(ours, save(state, tmp_path / "model.pytorch"))
    assert facts["ignored_keys"] == ["bert.pooler.dense.bias", "bert.pooler.dense.weight"]

    lengths = [40, 9, 23, 1]
    x = batch(lengths, 40, seed=5)
    with torch.inference_mode():
        out = hf(input_ids=x[:, 0], attention_mask=x[:, 1], token_type_ids=x[:, 2])
        want = torch.stack([out.start_logits, out.end_logits], dim=-1)
        got = ours.eval()(x)
    for i, n in enumerate(lengths):
        torch.testing.assert_close(got[i, :n], want[i, :n], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- padding invariance


def test_real_positions_do_not_depend_on_padding() -> None:
    """Padded to 384, padded to the batch's longest, or alone unpadded: same real logits."""
    model = tiny(seed=1)
    lengths = [61, 17, 40, 3, 61]
    full = run(model, batch(lengths, 384))
    trimmed = run(model, batch(lengths, max(lengths)))
    for i, n in enumerate(lengths):
        alone = run(model, batch(lengths, max(lengths))[i : i + 1, :, :n])  # no padding at all
        torch.testing.assert_close(full[i, :n], alone[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(trimmed[i, :n], alone[0], rtol=1e-5, atol=1e-5)


def test_mask_paths_agree() -> None:
    """forward's check, always_mask and logits(has_padding=...) all give the same logits."""
    model = tiny(seed=2)
    padded, unpadded = batch([30, 12], 30), batch([30, 30], 30)
    masked = build_bert_qa(TINY, always_mask=True)
    masked.load_state_dict(model.state_dict())
    masked.eval()
    with torch.inference_mode():
        for x, has_padding in ((padded, True), (unpadded, False)):
            ref = model(x)
            torch.testing.assert_close(masked(x), ref, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(model.logits(x, has_padding=has_padding), ref)
        torch.testing.assert_close(
            model.logits(unpadded, has_padding=True), model(unpadded), rtol=1e-5, atol=1e-5
        )


def test_filler_row_without_real_tokens_stays_finite() -> None:
    x = batch([9, 9], 9)
    x[1] = 0  # an all-zero row, e.g. a batch filler
    assert bool(torch.isfinite(run(tiny(), x)).all())


# ------------------------------------------------------------------------------ lower precision


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_agrees_with_fp32_at_the_logit_level(dtype: torch.dtype) -> None:
    config = BertConfig(**{**TINY.__dict__, "initializer_range": 0.2})  # spread-out logits
    model = tiny(seed=3, config=config)
    lengths = [64, 50, 33, 20, 64, 7]
    x = batch(lengths, 64, seed=9)
    ref = run(model, x).numpy()
    low_model = tiny(seed=3, config=config).to(dtype)
    low = run(low_model, x)
    assert low.dtype == dtype
    agreement = compare_logits(ref, low.float().numpy(), np.array(lengths))
    assert agreement.nonfinite == 0
    assert agreement.cosine_min > 0.999
    assert agreement.max_rel_error < 0.05
    assert agreement.span_agreement >= 0.5


# --------------------------------------------------------------------------- checkpoint loading


def test_round_trip_and_facts(tmp_path: Path) -> None:
    source = tiny(seed=1)
    path = save(source.state_dict(), tmp_path / "model.pytorch")
    target = tiny(seed=2)
    facts = load_bert_checkpoint(target, path)
    assert facts == {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "n_tensors": len(hf_keys(2)),
        "ignored_keys": [],
    }
    x = batch([12, 5], 12)
    assert torch.equal(run(target, x), run(source, x))


def test_meta_build_takes_the_checkpoint_tensors(tmp_path: Path) -> None:
    source = tiny(seed=1)
    target = build_bert_qa(TINY, random_init=False)
    load_bert_checkpoint(target, save(source.state_dict(), tmp_path / "m.pt"))
    assert not any(p.is_meta for p in target.parameters())
    x = batch([12, 5], 12)
    assert torch.equal(run(target.eval(), x), run(source, x))


@pytest.mark.parametrize("wrap", ["model", "state_dict", "module_prefix"])
def test_wrapped_checkpoints_load(tmp_path: Path, wrap: str) -> None:
    source = tiny(seed=1).state_dict()
    obj: object = {"model": source, "step": 5474}
    if wrap == "state_dict":
        obj = {"state_dict": source}
    elif wrap == "module_prefix":
        obj = OrderedDict((f"module.{k}", v) for k, v in source.items())
    target = tiny(seed=2)
    load_bert_checkpoint(target, save(obj, tmp_path / "w.pt"))
    assert all(torch.equal(target.state_dict()[k], v) for k, v in source.items())


def test_harmless_extra_keys_are_ignored_and_reported(tmp_path: Path) -> None:
    state = dict(tiny(seed=1).state_dict())
    state["bert.embeddings.position_ids"] = torch.arange(512)[None]
    state["bert.pooler.dense.weight"] = torch.zeros(32, 32)
    facts = load_bert_checkpoint(tiny(seed=2), save(state, tmp_path / "p.pt"))
    assert facts["ignored_keys"] == ["bert.embeddings.position_ids", "bert.pooler.dense.weight"]
    assert facts["n_tensors"] == len(hf_keys(2))


def test_missing_keys_refused(tmp_path: Path) -> None:
    state = {k: v for k, v in tiny().state_dict().items() if not k.startswith("qa_outputs.")}
    state = {k: v for k, v in state.items() if ".layer.1." not in k}
    with pytest.raises(ModelError, match="missing key") as info:
        load_bert_checkpoint(tiny(), save(state, tmp_path / "m.pt"))
    text = str(info.value)
    assert "bert.encoder.layer.1.attention.self.query.weight" in text and "more)" in text
    assert "model.pytorch" in text and "\n" not in text


def test_unknown_extra_key_refused(tmp_path: Path) -> None:
    state = dict(tiny().state_dict())
    state["cls.predictions.bias"] = torch.zeros(100)
    with pytest.raises(ModelError, match="unexpected key.*cls.predictions.bias"):
        load_bert_checkpoint(tiny(), save(state, tmp_path / "u.pt"))


def test_shape_mismatch_names_key_and_shapes(tmp_path: Path) -> None:
    other = BertConfig(**{**TINY.__dict__, "intermediate_size": 48})
    path = save(tiny(config=other).state_dict(), tmp_path / "s.pt")
    with pytest.raises(ModelError) as info:
        load_bert_checkpoint(tiny(), path)
    text = str(info.value)
    assert "'bert.encoder.layer.0.intermediate.dense.weight'" in text
    assert "(48, 32)" in text and "(64, 32)" in text and "bert_config.json" in text


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_bert_checkpoint(tiny(), tmp_path / "nope.pytorch")


@pytest.mark.parametrize("content", [b"", b"not a torch file at all" * 10])
def test_garbage_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.pytorch"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not loadable") as info:
        load_bert_checkpoint(tiny(), path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "obj", [torch.zeros(3), {}, {"qa_outputs.weight": "x"}], ids=["tensor", "empty", "str"]
)
def test_not_a_state_dict(tmp_path: Path, obj: object) -> None:
    with pytest.raises(ModelError, match="not a state dict"):
        load_bert_checkpoint(tiny(), save(obj, tmp_path / "x.pt"))


def test_pickled_module_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="weights_only=False"):
        load_bert_checkpoint(tiny(), save(torch.nn.Linear(2, 2), tmp_path / "mod.pt"))


# ------------------------------------------------------------------------------- bert_config.json


def write_json(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(data))
    return path


def test_config_from_mlperf_json(tmp_path: Path) -> None:
    extra = {**MLPERF_CONFIG, "pad_token_id": 0, "model_type": "bert"}  # ignored
    assert BertConfig.from_json(write_json(tmp_path, extra)) == BertConfig.large()
    eps = BertConfig.from_json(write_json(tmp_path, {**MLPERF_CONFIG, "layer_norm_eps": 1e-5}))
    assert eps.layer_norm_eps == 1e-5


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"hidden_size": "1024"}, "hidden_size is '1024', expected an int"),
        ({"num_hidden_layers": 24.0}, "expected an int"),
        ({"vocab_size": True}, "expected an int"),
        ({"hidden_dropout_prob": "0.1"}, "expected a number"),
        ({"num_attention_heads": 0}, "positive integer"),
        ({"num_attention_heads": 12}, "not divisible"),
        ({"hidden_act": "relu"}, "hidden_act 'relu'"),
        ({"vocab_size": None}, "expected an int"),
    ],
)
def test_config_bad_values(tmp_path: Path, change: dict[str, object], match: str) -> None:
    with pytest.raises(ModelError, match=match) as info:
        BertConfig.from_json(write_json(tmp_path, {**MLPERF_CONFIG, **change}))
    assert info.value.fix and "\n" not in str(info.value)


def test_config_missing_key(tmp_path: Path) -> None:
    data = {k: v for k, v in MLPERF_CONFIG.items() if k != "type_vocab_size"}
    with pytest.raises(ModelError, match="lacks 1 key.*type_vocab_size"):
        BertConfig.from_json(write_json(tmp_path, data))


def test_config_not_an_object_or_not_json(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not an object"):
        BertConfig.from_json(write_json(tmp_path, [MLPERF_CONFIG]))
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        BertConfig.from_json(path)
    with pytest.raises(ModelError, match="does not exist"):
        BertConfig.from_json(tmp_path / "absent.json")
