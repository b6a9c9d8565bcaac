"""The network of llama3.1-8b: Llama-3.1-8B-Instruct from a local Hugging Face checkpoint
directory, or a small random Llama with the real vocabulary (the synthetic default). Imported
lazily by the task (torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inferlab.benchmarks.llama3_1_8b.spec import EOS_TOKEN_IDS, TINY_ARCH
from inferlab.core.task import ModelFacts

VOCAB_SIZE = 128_256  # Llama 3.1: 128,000 ranks + 256 special tokens


def build(model_path: Path | None, *, seed: int) -> tuple[Any, ModelFacts]:
    import torch

    from inferlab.generation.models import load_model, random_model, tiny_config

    if model_path is None:
        config = tiny_config(
            "llama",
            vocab_size=VOCAB_SIZE,
            hidden_size=TINY_ARCH["hidden_size"],
            num_layers=TINY_ARCH["num_hidden_layers"],
            num_heads=TINY_ARCH["num_attention_heads"],
            num_kv_heads=TINY_ARCH["num_key_value_heads"],
            intermediate_size=TINY_ARCH["intermediate_size"],
            max_positions=TINY_ARCH["max_position_embeddings"],
            eos_token_id=EOS_TOKEN_IDS[-1],
        )
        model = random_model(config, seed=seed)
        return model, ModelFacts(
            random_weights=True, extra={"init_seed": seed, "architecture": "llama", **TINY_ARCH}
        )
    # the reference runs bf16; an 8B model in fp32 would need 32 GB before the backend casts it
    model = load_model(model_path, dtype=torch.bfloat16)
    n = sum(p.numel() for p in model.parameters())
    return model, ModelFacts(
        random_weights=False,
        path=str(model_path),
        extra={"architecture": type(model).__name__, "parameters": int(n)},
    )
