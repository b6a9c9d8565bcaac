"""Causal language models for the generation engine, built from `transformers` config classes.

Two architectures, the two the MLPerf LLM benchmarks run here: ``llama`` (``LlamaForCausalLM``:
Llama 2/3.x) and ``gptj`` (``GPTJForCausalLM``: GPT-J 6B). A model is either

- **random** (:func:`random_model`): a config from :func:`tiny_config` (or any ``LlamaConfig`` /
  ``GPTJConfig``), weights drawn from a seeded generator without touching the global RNG, or
- **loaded** (:func:`load_model`): a local Hugging Face checkpoint directory (``config.json`` and
  safetensors weights, one file or an index with shards), ``local_files_only=True``: the network
  is never used.

Both come back in eval mode on the requested dtype and device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch

from inferlab.core.errors import ModelError

Arch = Literal["llama", "gptj"]
ARCHITECTURES: tuple[Arch, ...] = ("llama", "gptj")
_SINGLE = "model.safetensors"
_INDEX = "model.safetensors.index.json"
_FIX_DIR = (
    "give a Hugging Face checkpoint directory holding config.json and model.safetensors "
    "(or model.safetensors.index.json and its shards)"
)


def tiny_config(
    arch: Arch,
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int | None = None,
    intermediate_size: int | None = None,
    max_positions: int = 2048,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
    initializer_range: float = 0.02,
) -> Any:
    """A small ``LlamaConfig`` or ``GPTJConfig``.

    ``num_kv_heads`` (Llama only) below ``num_heads`` gives grouped-query attention as in Llama 3;
    GPT-J gets a rotary dimension of half the head size (GPT-J 6B: 64 of 256). A larger
    ``initializer_range`` makes a random model's next-token distribution peaked (fewer near-ties).
    """
    from transformers import GPTJConfig, LlamaConfig

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} is not a multiple of num_heads {num_heads}")
    if arch == "llama":
        return LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            intermediate_size=intermediate_size or 2 * hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_kv_heads or num_heads,
            max_position_embeddings=max_positions,
            bos_token_id=None,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            initializer_range=initializer_range,
            tie_word_embeddings=False,
        )
    if arch == "gptj":
        head_dim = hidden_size // num_heads
        return GPTJConfig(
            vocab_size=vocab_size,
            n_positions=max_positions,
            n_embd=hidden_size,
            n_layer=num_layers,
            n_head=num_heads,
            n_inner=intermediate_size,
            rotary_dim=max(2, head_dim // 2),
            bos_token_id=None,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            initializer_range=initializer_range,
            tie_word_embeddings=False,
        )
    raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")


def random_model(
    config: Any,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> Any:
    """``LlamaForCausalLM`` / ``GPTJForCausalLM`` with random weights drawn with ``seed``."""
    cls = _model_class(str(getattr(config, "model_type", "")))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    return _finish(model, dtype, device)


def load_model(
    path: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> Any:
    """A Llama or GPT-J model from a local Hugging Face checkpoint directory (safetensors only).

    :class:`ModelError` for a missing directory, a missing ``config.json``, an architecture other
    than Llama / GPT-J, missing weights or shards, or weights the library cannot load.
    """
    root = Path(path)
    if not root.is_dir():
        raise ModelError(f"model directory {root} does not exist", _FIX_DIR)
    config_path = root / "config.json"
    if not config_path.is_file():
        raise ModelError(f"{root} has no config.json", _FIX_DIR)
    try:
        model_type = str(json.loads(config_path.read_text()).get("model_type", ""))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise ModelError(f"{config_path} is not a JSON object: {err}", _FIX_DIR) from err
    cls = _model_class(model_type)
    _check_weights(root)
    try:
        model = cls.from_pretrained(root, local_files_only=True, use_safetensors=True, dtype=dtype)
    except Exception as err:  # safetensors' own error types are not OSError/ValueError
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load the checkpoint in {root}: {first}", _FIX_DIR) from err
    return _finish(model, dtype, device)


def architecture(model: Any) -> Arch:
    """``"llama"`` or ``"gptj"`` for a model this module builds; :class:`ModelError` otherwise."""
    model_type = str(getattr(model.config, "model_type", ""))
    if model_type == "llama":
        return "llama"
    if model_type == "gptj":
        return "gptj"
    raise ModelError(
        f"model type {model_type!r} is not supported by the generation engine",
        "use a Llama (LlamaForCausalLM) or GPT-J (GPTJForCausalLM) checkpoint",
    )


def _model_class(model_type: str) -> Any:
    from transformers import GPTJForCausalLM, LlamaForCausalLM

    classes = {"llama": LlamaForCausalLM, "gptj": GPTJForCausalLM}
    if model_type not in classes:
        raise ModelError(
            f"model type {model_type!r} is not supported by the generation engine",
            "use a Llama (LlamaForCausalLM) or GPT-J (GPTJForCausalLM) checkpoint",
        )
    return classes[model_type]


def _check_weights(root: Path) -> None:
    """The safetensors files the directory promises are there and not empty."""
    index = root / _INDEX
    if (root / _SINGLE).is_file():
        files = [root / _SINGLE]
    elif index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
            files = sorted({root / str(name) for name in weight_map.values()})
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
            raise ModelError(f"{index} has no weight_map", _FIX_DIR) from None
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ModelError(
                f"{root} lacks {len(missing)} of the {len(files)} shards its index lists: "
                + ", ".join(missing[:3])
                + (" ..." if len(missing) > 3 else ""),
                "copy the missing shard files next to model.safetensors.index.json",
            )
    else:
        found = sorted(p.name for p in root.glob("*.bin")) + sorted(
            p.name for p in root.glob("*.safetensors")
        )
        hint = f" (found {', '.join(found[:3])})" if found else ""
        raise ModelError(f"{root} has no {_SINGLE} or {_INDEX}{hint}", _FIX_DIR)
    empty = [f.name for f in files if f.stat().st_size == 0]
    if empty:
        raise ModelError(f"{root}: empty weight file {', '.join(empty)}", _FIX_DIR)


def _finish(model: Any, dtype: torch.dtype, device: str | torch.device) -> Any:
    model = model.to(device=torch.device(device), dtype=dtype)
    model.eval()
    return model
