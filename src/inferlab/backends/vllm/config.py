"""Settings of the vLLM backend and the translation of a benchmark's decoding
(:class:`~inferlab.core.task.GenerationSettings`) into vLLM's parameters. Importing this module
does not import vllm (nor torch): everything here is plain data, tested without vLLM.

vLLM facts this relies on (docs/generation.md, "vLLM backend", names the sources):

- ``SamplingParams(temperature=0)`` is greedy; ``min_tokens`` keeps EOS and every
  ``stop_token_ids`` entry out until that many tokens exist; a stop token id ends the request
  and stays in ``CompletionOutput.token_ids``; ``ignore_eos=True`` drops vLLM's *own* EOS
  (the tokenizer's, and the generation config's ids it would add to ``stop_token_ids``), while
  the ``stop_token_ids`` we pass still stop the request.
- ``LLM.beam_search(prompts, BeamSearchParams(beam_width, max_tokens, ignore_eos, temperature,
  length_penalty))`` has no ``min_tokens`` and no early stopping, ends hypotheses only at the
  tokenizer's ``eos_token_id``, and scores ``cum_logprob / len(prompt + generated, EOS not
  counted) ** length_penalty``: see :func:`beam_search_differences`.
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferlab.core.errors import ConfigError, ModelError, UnsupportedError
from inferlab.core.task import GenerationSettings

# the run's --dtype -> vLLM's dtype name (the other --dtype values are not vLLM dtypes)
RUN_DTYPES: dict[str, str] = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
ENGINE_DTYPES: tuple[str, ...] = ("auto", "bfloat16", "float16", "float32")
KV_CACHE_DTYPES: tuple[str, ...] = ("auto", "fp8", "fp8_e4m3", "fp8_e5m2")
# vLLM 0.8 made the V1 engine the default; the APIs used here (LLM.llm_engine.add_request/step,
# SamplingParams.output_kind, TokensPrompt, LLM.beam_search + BeamSearchParams) exist from then on
MIN_VERSION = (0, 8)
INSTALL_FIX = (
    "pip install vllm on a Linux machine with an NVIDIA CUDA GPU (the wheel brings a CUDA build "
    "of torch), or use --backend torch"
)
# engine arguments the section sets from its own fields: engine_args may not set them again
MANAGED_ENGINE_ARGS: frozenset[str] = frozenset(
    {
        "model",
        "tokenizer",
        "skip_tokenizer_init",
        "tensor_parallel_size",
        "dtype",
        "seed",
        "gpu_memory_utilization",
        "max_num_seqs",
        "max_num_batched_tokens",
        "max_model_len",
        "quantization",
        "kv_cache_dtype",
        "enforce_eager",
        "enable_prefix_caching",
        "enable_chunked_prefill",
    }
)
_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)")


def missing_vllm() -> UnsupportedError:
    """The error of a run that asks for the vLLM backend where vllm is not installed."""
    return UnsupportedError(
        "the vllm backend needs the vllm package, which is not installed (vLLM runs on CUDA "
        "GPUs only)",
        INSTALL_FIX,
    )


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) of a version string such as ``0.10.1.post1`` (None: unparsable)."""
    m = _VERSION_RE.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_version(text: str) -> None:
    """UnsupportedError for a vLLM older than :data:`MIN_VERSION` (an unparsable version, a
    development build, passes)."""
    version = parse_version(text)
    if version is not None and version < MIN_VERSION:
        need = ".".join(map(str, MIN_VERSION))
        raise UnsupportedError(
            f"vLLM {text} is older than {need}, the first version whose engine API this "
            "backend uses",
            f"pip install 'vllm>={need}'",
        )


def resolve_dtype(section_dtype: str, run_dtype: str) -> str:
    """vLLM's dtype: the section's when set (``auto``: the checkpoint's ``torch_dtype``, as
    vLLM decides), else the run's --dtype (fp32, fp16, bf16). A section dtype that contradicts
    a --dtype other than the default fp32 is a ConfigError."""
    if section_dtype != "run":
        if section_dtype not in ENGINE_DTYPES:
            raise ConfigError(
                f"unknown vLLM dtype {section_dtype!r}",
                f"use backend_options.dtype one of run, {', '.join(ENGINE_DTYPES)}",
            )
        mapped = RUN_DTYPES.get(run_dtype)
        if run_dtype != "fp32" and mapped != section_dtype:
            raise ConfigError(
                f"backend_options.dtype={section_dtype} contradicts --dtype {run_dtype}",
                "give one of them (backend_options.dtype=run follows --dtype)",
            )
        return section_dtype
    if run_dtype not in RUN_DTYPES:
        raise UnsupportedError(
            f"--dtype {run_dtype} is not a vLLM dtype",
            "use --dtype bf16, fp16 or fp32 (for 8-bit weights add "
            "--set backend_options.quantization=fp8)",
        )
    return RUN_DTYPES[run_dtype]


def cuda_index(device: str) -> int | None:
    """The N of ``cuda:N`` (None for plain ``cuda``); UnsupportedError for a CPU device."""
    m = _CUDA_RE.match(device)
    if m is None:
        raise UnsupportedError(
            f"the vllm backend runs on a CUDA GPU, and this run has --device {device}",
            "pass --device cuda (or cuda:N; several GPUs: "
            "--set backend_options.tensor_parallel_size=N with --device cuda)",
        )
    return int(m.group(1)) if m.group(1) is not None else None


def gpu_visible_or_raise(device: str) -> None:
    """What can be told without importing torch or vllm: a GPU driver device exists."""
    if not any(glob.glob(p) for p in ("/dev/nvidia[0-9]*", "/dev/kfd", "/dev/dxg")):
        raise UnsupportedError(
            f"--device {device}: the vllm backend needs a CUDA GPU, and this machine has no "
            "GPU driver device (/dev/nvidia*)",
            "run on a machine with an NVIDIA GPU, or use --backend torch",
        )


def checkpoint_config(path: Path) -> dict[str, Any]:
    """The checkpoint directory's ``config.json`` (ModelError naming the fix otherwise)."""
    fix = (
        "pass --model-path to a Hugging Face checkpoint directory (config.json, tokenizer, "
        "*.safetensors)"
    )
    cfg = path / "config.json"
    if not path.is_dir() or not cfg.is_file():
        raise ModelError(f"{path} is not a Hugging Face checkpoint directory (no config.json)", fix)
    try:
        data = json.loads(cfg.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{cfg} cannot be read as JSON ({exc})", fix) from exc
    if not isinstance(data, dict):
        raise ModelError(f"{cfg} is not a JSON object", fix)
    return data


def max_positions(config: Mapping[str, Any]) -> int | None:
    """The longest sequence the checkpoint's config allows (Llama: max_position_embeddings,
    GPT-J: n_positions), None when it names none."""
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _positive(name: str, value: object, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"vllm {name} must be a positive integer{' or unset' if optional else ''}, "
            f"got {value!r}",
            f"use e.g. backend_options.{name}=1",
        )


@dataclass(frozen=True)
class VllmEngineConfig:
    """How one vLLM engine is built: the resolved settings of ``VllmSection`` (see its fields'
    descriptions) for one run. ``engine_kwargs()`` is what ``vllm.LLM`` receives; ``None``
    values leave vLLM's own default."""

    model: str
    device: str = "cuda"
    dtype: str = "bfloat16"
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    max_model_len: int | None = None
    quantization: str | None = None
    kv_cache_dtype: str = "auto"
    enforce_eager: bool = False
    enable_prefix_caching: bool | None = None
    enable_chunked_prefill: bool | None = None
    seed: int = 0
    skip_tokenizer_init: bool = False
    stream_first_token: bool = True
    approximate_beam_search: bool = False
    engine_args: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(
                "the vllm backend needs a checkpoint directory",
                "pass --model-path to a Hugging Face checkpoint directory",
            )
        index = cuda_index(self.device)
        if self.dtype not in ENGINE_DTYPES:
            raise ConfigError(
                f"unknown vLLM dtype {self.dtype!r}", f"use one of {', '.join(ENGINE_DTYPES)}"
            )
        _positive("tensor_parallel_size", self.tensor_parallel_size)
        if index is not None and self.tensor_parallel_size > 1:
            raise ConfigError(
                f"--device {self.device} names one GPU and tensor_parallel_size is "
                f"{self.tensor_parallel_size}",
                "use --device cuda (vLLM takes the first N visible GPUs; choose them with "
                "CUDA_VISIBLE_DEVICES)",
            )
        util = self.gpu_memory_utilization
        if isinstance(util, bool) or not isinstance(util, int | float) or not 0 < util <= 1:
            raise ConfigError(
                f"vllm gpu_memory_utilization must be in (0, 1], got {util!r}",
                "use e.g. backend_options.gpu_memory_utilization=0.9",
            )
        for name in ("max_num_seqs", "max_num_batched_tokens", "max_model_len"):
            _positive(name, getattr(self, name), optional=True)
        if self.kv_cache_dtype not in KV_CACHE_DTYPES:
            raise ConfigError(
                f"unknown vLLM kv_cache_dtype {self.kv_cache_dtype!r}",
                f"use one of {', '.join(KV_CACHE_DTYPES)}",
            )
        clash = sorted(MANAGED_ENGINE_ARGS & set(self.engine_args))
        if clash:
            raise ConfigError(
                f"engine_args sets {', '.join(clash)}, which the vllm backend sets itself",
                f"use backend_options.{clash[0]} instead",
            )
        object.__setattr__(self, "engine_args", dict(self.engine_args))

    @property
    def device_index(self) -> int | None:
        """The GPU of ``cuda:N`` (None: ``cuda``, vLLM's first visible GPUs)."""
        return cuda_index(self.device)

    def engine_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``vllm.LLM`` (an ``EngineArgs`` superset): the checkpoint
        directory as model and tokenizer, the settings that are set, then ``engine_args``."""
        out: dict[str, Any] = {
            "model": self.model,
            "tokenizer": self.model,
            "skip_tokenizer_init": self.skip_tokenizer_init,
            "dtype": self.dtype,
            "tensor_parallel_size": self.tensor_parallel_size,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "kv_cache_dtype": self.kv_cache_dtype,
            "enforce_eager": self.enforce_eager,
            "seed": self.seed,
        }
        optional = {
            "max_num_seqs": self.max_num_seqs,
            "max_num_batched_tokens": self.max_num_batched_tokens,
            "max_model_len": self.max_model_len,
            "quantization": self.quantization,
            "enable_prefix_caching": self.enable_prefix_caching,
            "enable_chunked_prefill": self.enable_chunked_prefill,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        out.update(self.engine_args)
        return out


# ---- decoding: GenerationSettings -> vLLM parameters ---------------------------------------


def sampling_kwargs(settings: GenerationSettings, *, stream: bool = True) -> dict[str, Any]:
    """``vllm.SamplingParams`` keyword arguments for a greedy benchmark (``output_kind`` as the
    name of a ``RequestOutputKind`` member: DELTA streams each step's new tokens, FINAL_ONLY
    returns the request once, as ``LLM.generate`` does).

    Greedy is ``temperature=0``; ``max_tokens``/``min_tokens`` are the benchmark's new-token
    limits; the benchmark's EOS ids are the ``stop_token_ids`` (kept in the output, as
    ``generate`` returns them) and ``ignore_eos=True`` keeps vLLM from stopping at any other
    id it would take from the tokenizer or the generation config. With ``eos_token_ids=None``
    vLLM's own EOS applies (the tokenizer's and the generation config's ids), as the torch
    engine takes the model's. ``detokenize=False``: only token ids are used."""
    if settings.num_beams != 1:
        raise ValueError("beam search runs through LLM.beam_search: use beam_search_kwargs()")
    out: dict[str, Any] = {
        "n": 1,
        "temperature": 0.0,
        "max_tokens": settings.max_new_tokens,
        "min_tokens": settings.min_new_tokens,
        "detokenize": False,
        "output_kind": "DELTA" if stream else "FINAL_ONLY",
    }
    if settings.eos_token_ids is not None:
        out["stop_token_ids"] = [int(t) for t in settings.eos_token_ids]
        out["ignore_eos"] = True
    return out


def beam_search_kwargs(settings: GenerationSettings) -> dict[str, Any]:
    """``vllm.sampling_params.BeamSearchParams`` keyword arguments for a beam-search benchmark:
    what vLLM's beam search can take of the settings (see :func:`beam_search_differences` for
    what it cannot)."""
    if settings.num_beams < 2:
        raise ValueError("greedy decoding runs through SamplingParams: use sampling_kwargs()")
    return {
        "beam_width": settings.num_beams,
        "max_tokens": settings.max_new_tokens,
        "ignore_eos": False,
        "temperature": 0.0,
        "length_penalty": 1.0,
    }


def beam_search_differences(
    settings: GenerationSettings, tokenizer_eos: int | None = None
) -> list[str]:
    """Where ``LLM.beam_search`` with :func:`beam_search_kwargs` departs from transformers'
    ``generate(num_beams=..., early_stopping=..., min_new_tokens=...)`` (which the torch
    engine follows step for step), for these settings. Empty for greedy settings."""
    if settings.num_beams < 2:
        return []
    out = [
        "length normalisation: vLLM scores cum_logprob / (prompt + generated tokens, a final "
        "EOS not counted) ** length_penalty; generate divides by the generated tokens only "
        "(EOS counted)",
        "candidates: vLLM expands each beam by its 2 x beam_width most likely tokens and turns "
        "every EOS candidate into a finished hypothesis; generate takes the 2 x num_beams best "
        "over all beams and keeps an EOS candidate only when it ranks within the first "
        "num_beams",
        "streaming: no token is known before the search ends (the first token is sent with the "
        "completion, TTFT = latency), and a batch of requests completes together",
    ]
    if settings.min_new_tokens > 0:
        out.insert(
            0,
            f"min_new_tokens={settings.min_new_tokens}: vLLM's beam search has no min_tokens, "
            "so EOS may end a hypothesis earlier (generate suppresses EOS until then)",
        )
    if settings.early_stopping:
        out.insert(
            0,
            "early_stopping=True: vLLM has no early stopping; it runs until every beam has "
            "finished or max_tokens, keeping all finished hypotheses (generate stops once "
            "num_beams hypotheses are finished)",
        )
    eos = settings.eos_token_ids
    other = tokenizer_eos is not None and eos is not None and eos[0] != tokenizer_eos
    if eos is not None and (len(eos) != 1 or other):
        out.append(
            f"EOS: vLLM's beam search ends hypotheses only at the tokenizer's eos_token_id "
            f"({tokenizer_eos if tokenizer_eos is not None else 'the tokenizer'}), the benchmark "
            f"stops at {list(eos)}"
        )
    return out
