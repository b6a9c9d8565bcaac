"""The network of gptj-99/99.9: GPT-J 6B from a local Hugging Face checkpoint directory, or a
small random GPT-J with the real vocabulary (the synthetic default). Imported lazily by the task
(torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inferlab.benchmarks.gptj.spec import EOS_TOKEN_ID, TINY_ARCH, TINY_EOS_LOGIT_BIAS
from inferlab.core.errors import ModelError
from inferlab.core.task import ModelFacts

_CONVERT = (
    'convert it once to safetensors: python -c "from transformers import '
    "AutoModelForCausalLM as M; M.from_pretrained('SRC').save_pretrained('DST')\" "
    "and pass --model-path DST"
)


def build(model_path: Path | None, *, seed: int) -> tuple[Any, ModelFacts]:
    import torch

    from inferlab.generation.models import architecture, load_model, random_model, tiny_config

    if model_path is None:
        config = tiny_config(
            "gptj",
            vocab_size=TINY_ARCH["vocab_size"],
            hidden_size=TINY_ARCH["n_embd"],
            num_layers=TINY_ARCH["n_layer"],
            num_heads=TINY_ARCH["n_head"],
            intermediate_size=TINY_ARCH["n_inner"],
            max_positions=TINY_ARCH["n_positions"],
            eos_token_id=EOS_TOKEN_ID,
            pad_token_id=EOS_TOKEN_ID,
        )
        model = random_model(config, seed=seed)
        with torch.no_grad():  # see spec.TINY_EOS_LOGIT_BIAS
            model.lm_head.bias[EOS_TOKEN_ID] += TINY_EOS_LOGIT_BIAS
        extra = {
            "init_seed": seed,
            "architecture": "gptj",
            **TINY_ARCH,
            "eos_logit_bias": TINY_EOS_LOGIT_BIAS,
        }
        return model, ModelFacts(random_weights=True, extra=extra)
    if not any(model_path.glob("*.safetensors")) and any(model_path.glob("*.bin")):
        raise ModelError(
            f"{model_path} holds PyTorch .bin weights only; inferlab loads safetensors",
            _CONVERT.replace("SRC", str(model_path)),
        )
    # fp32 as the reference's default (--dtype float32) and the checkpoint as published: a
    # bf16 load would round the weights before an fp32 run casts them back
    model = load_model(model_path, dtype=torch.float32)
    if architecture(model) != "gptj":
        raise ModelError(
            f"{model_path} holds a {type(model).__name__}, not GPT-J",
            "pass --model-path to the GPT-J checkpoint directory (model_type gptj)",
        )
    n = sum(p.numel() for p in model.parameters())
    return model, ModelFacts(
        random_weights=False,
        path=str(model_path),
        extra={"architecture": type(model).__name__, "parameters": int(n)},
    )
