"""Models for the generation engine: random ones from config classes (seeded, the global RNG
untouched) and local Hugging Face checkpoint directories (safetensors only, no network), with a
clear ModelError for every way a directory can be missing or incomplete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402

from inferlab.core.errors import ModelError  # noqa: E402
from inferlab.generation.models import (  # noqa: E402
    Arch,
    architecture,
    load_model,
    random_model,
    tiny_config,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny models gain nothing from threads, and on a shared machine two OpenMP threads wait
    for each other on every small op."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("arch", ["llama", "gptj"])
def test_random_model_is_seeded_and_leaves_the_global_rng(arch: Arch) -> None:
    config = tiny_config(arch, vocab_size=100, hidden_size=32, num_layers=2, num_heads=4)
    state = torch.random.get_rng_state()
    a, b = random_model(config, seed=3), random_model(config, seed=3)
    c = random_model(config, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (dict(m.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert any(not torch.equal(pa[k], pc[k]) for k in pa)
    assert architecture(a) == arch and not a.training
    assert a.config.vocab_size == 100


def test_tiny_config_shapes() -> None:
    llama = tiny_config("llama", hidden_size=64, num_heads=4, num_kv_heads=2, num_layers=3)
    assert (llama.num_key_value_heads, llama.num_hidden_layers) == (2, 3)
    gptj = tiny_config("gptj", hidden_size=64, num_heads=4)
    assert gptj.rotary_dim == 8  # half the head size, as GPT-J 6B (64 of 256)
    with pytest.raises(ValueError, match="unknown architecture"):
        tiny_config("mixtral")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a multiple"):
        tiny_config("llama", hidden_size=30, num_heads=4)


def _saved(tmp_path: Path, arch: Arch) -> tuple[Path, Any]:
    model = random_model(tiny_config(arch, vocab_size=64, hidden_size=32, num_heads=2), seed=1)
    model.save_pretrained(tmp_path / arch)
    return tmp_path / arch, model


@pytest.mark.parametrize("arch", ["llama", "gptj"])
def test_load_model_round_trip(tmp_path: Path, arch: Arch) -> None:
    path, model = _saved(tmp_path, arch)
    assert (path / "model.safetensors").is_file()
    loaded = load_model(path)
    ids = torch.tensor([[1, 5, 9, 2]])
    with torch.inference_mode():
        assert torch.equal(loaded(ids).logits, model(ids).logits)
    half = load_model(path, dtype=torch.bfloat16)
    assert next(half.parameters()).dtype == torch.bfloat16


def test_load_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist") as err:
        load_model(tmp_path / "nowhere")
    assert err.value.fix and "config.json" in err.value.fix

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="has no config.json"):
        load_model(tmp_path / "empty")

    path, _ = _saved(tmp_path, "llama")
    weights = path / "model.safetensors"
    data = weights.read_bytes()

    weights.unlink()
    (path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"no model.safetensors .*found pytorch_model.bin"):
        load_model(path)

    weights.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ModelError, match="cannot load the checkpoint"):
        load_model(path)

    weights.write_bytes(b"")
    with pytest.raises(ModelError, match="empty weight file"):
        load_model(path)

    weights.unlink()
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002.st"}}
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    (path / "model-00001-of-00002.safetensors").write_bytes(data)
    with pytest.raises(ModelError, match="lacks 1 of the 2 shards"):
        load_model(path)

    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "model_type": "mixtral"}))
    with pytest.raises(ModelError, match="'mixtral' is not supported"):
        load_model(path)
    (path / "config.json").write_text("[1, 2")
    with pytest.raises(ModelError, match="not a JSON object"):
        load_model(path)
