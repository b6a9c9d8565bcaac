"""The vLLM backend's section of RunConfig (``--backend vllm``) and its entry in the backend
table. Importing this module imports neither vllm nor torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from inferlab.backends.base import BackendSection, BuildContext, StaticContext, config_error
from inferlab.backends.vllm.config import (
    MANAGED_ENGINE_ARGS,
    VllmEngineConfig,
    checkpoint_config,
    cuda_index,
    gpu_visible_or_raise,
    max_positions,
    missing_vllm,
    resolve_dtype,
)
from inferlab.core.errors import ConfigError, ModelError, UnsupportedError
from inferlab.core.option import CliOption
from inferlab.core.spec import BatchRule

if TYPE_CHECKING:
    from inferlab.core.backend import Backend
    from inferlab.core.task import ModelFacts

VllmDtype = Literal["run", "auto", "bfloat16", "float16", "float32"]
KvCacheDtype = Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2"]


class VllmSection(BackendSection):
    """``--backend vllm``: an LLM benchmark's model in vLLM's engine (paged KV cache,
    continuous batching, CUDA graphs), one engine on the run's GPU (or ``tensor_parallel_size``
    GPUs), weights from ``--model-path`` (a local Hugging Face checkpoint directory)."""

    name: Literal["vllm"] = Field(default="vllm", exclude=True)
    tensor_parallel_size: Annotated[
        int,
        CliOption("vLLM: GPUs one model is split over (tensor parallelism).", metavar="N"),
    ] = Field(default=1, ge=1, description="GPUs the model is split over (tensor parallel)")
    gpu_memory_utilization: Annotated[
        float,
        CliOption(
            "vLLM: fraction of each GPU's memory for weights, activations and KV cache.",
            metavar="F",
        ),
    ] = Field(
        default=0.9,
        gt=0,
        le=1,
        description="fraction of each GPU's memory vLLM takes (weights, activations, KV cache)",
    )
    max_num_seqs: Annotated[
        int | None,
        CliOption(
            "vLLM: sequences decoded at once.",
            metavar="N",
            default_text="the run's batch size",
        ),
    ] = Field(
        default=None,
        ge=1,
        description="sequences in one decode step (None: the run's batch size, as the torch "
        "engine's rows)",
    )
    max_num_batched_tokens: int | None = Field(
        default=None, ge=1, description="tokens one engine step may hold (None: vLLM's default)"
    )
    max_model_len: int | None = Field(
        default=None,
        ge=2,
        description="prompt + generated tokens of one request (None: the benchmark's longest, "
        "at most the checkpoint's positions)",
    )
    dtype: VllmDtype = Field(
        default="run",
        description="vLLM's dtype: run (the run's --dtype: fp32, fp16 or bf16), auto (the "
        "checkpoint's torch_dtype, as vLLM picks it), or a dtype name",
    )
    quantization: str | None = Field(
        default=None,
        min_length=1,
        description="vLLM's quantization method (e.g. fp8: dynamic fp8 weights; None: as the "
        "checkpoint says)",
    )
    kv_cache_dtype: KvCacheDtype = Field(default="auto", description="the KV cache's dtype")
    enforce_eager: Annotated[
        bool, CliOption("vLLM: no CUDA graphs (faster start, slower decode).")
    ] = Field(default=False, description="no CUDA graphs: eager kernels only")
    enable_prefix_caching: bool | None = Field(
        default=None, description="reuse the KV cache of shared prompt prefixes (None: vLLM's)"
    )
    enable_chunked_prefill: bool | None = Field(
        default=None, description="split long prefills across steps (None: vLLM's default)"
    )
    seed: int | None = Field(
        default=None, description="vLLM's random seed (None: the run's --seed)"
    )
    skip_tokenizer_init: bool = Field(
        default=False,
        description="load no tokenizer (prompts are token ids; beam search needs one)",
    )
    stream_first_token: bool = Field(
        default=True,
        description="report each request's first token when vLLM produces it (DELTA outputs "
        "every step); false: final outputs only (FINAL_ONLY, less per-step work; the first "
        "token then goes with the completion)",
    )
    approximate_beam_search: bool = Field(
        default=False,
        description="run a beam-search benchmark with vLLM's own beam search, whose tokens "
        "differ from transformers' generate (docs/generation.md, vLLM backend)",
    )
    engine_args: dict[str, Any] = Field(
        default_factory=dict,
        description="further vllm.EngineArgs keywords, passed as given (e.g. "
        "max_seq_len_to_capture, compilation_config)",
    )

    multi_device: ClassVar[bool] = False
    batch_rule: ClassVar[BatchRule] = BatchRule(gpu_defaults=True)
    # what `inferlab check` can inspect (torch + CUDA); vllm itself is checked by check_static
    requires: ClassVar[tuple[str, ...]] = ("torch",)
    frameworks: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = (
        ("vLLM", ("vllm",)),
        ("PyTorch", ("torch",)),
    )

    @field_validator("engine_args")
    @classmethod
    def _engine_args(cls, value: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(MANAGED_ENGINE_ARGS & set(value))
        if clash:
            raise config_error(
                f"backend_options.engine_args sets {', '.join(clash)}, which the vllm backend "
                "sets from its own settings",
                f"use backend_options.{clash[0]} instead",
            )
        bad = [k for k in value if not k.isidentifier()]
        if bad:
            raise config_error(
                f"backend_options.engine_args has keys that are not keyword names: {bad}",
                "use vllm.EngineArgs field names, e.g. max_seq_len_to_capture",
            )
        return value

    def check_static(self, ctx: StaticContext) -> None:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise missing_vllm()
        index = cuda_index(ctx.device)
        if index is not None and self.tensor_parallel_size > 1:
            raise ConfigError(
                f"--device {ctx.device} names one GPU and tensor_parallel_size is "
                f"{self.tensor_parallel_size}",
                "use --device cuda (vLLM takes the first N visible GPUs; choose them with "
                "CUDA_VISIBLE_DEVICES)",
            )
        resolve_dtype(self.dtype, ctx.dtype)
        gpu_visible_or_raise(ctx.device)

    def engine_config(
        self, ctx: BuildContext, *, max_seq_len: int, model_config: dict[str, Any]
    ) -> VllmEngineConfig:
        """The engine's settings for this run: the section's, with the run's device, dtype,
        batch size and seed where the section leaves them unset."""
        if ctx.model_path is None:
            raise AssertionError("engine_config needs the checkpoint directory")
        max_len = self.max_model_len
        if max_len is None:
            positions = max_positions(model_config)
            max_len = min(max_seq_len, positions) if positions else max_seq_len
        return VllmEngineConfig(
            model=str(ctx.model_path),
            device=ctx.device,
            dtype=resolve_dtype(self.dtype, ctx.dtype),
            tensor_parallel_size=self.tensor_parallel_size,
            gpu_memory_utilization=self.gpu_memory_utilization,
            max_num_seqs=self.max_num_seqs if self.max_num_seqs is not None else ctx.max_batch,
            max_num_batched_tokens=self.max_num_batched_tokens,
            max_model_len=max_len,
            quantization=self.quantization,
            kv_cache_dtype=self.kv_cache_dtype,
            enforce_eager=self.enforce_eager,
            enable_prefix_caching=self.enable_prefix_caching,
            enable_chunked_prefill=self.enable_chunked_prefill,
            seed=self.seed if self.seed is not None else ctx.seed,
            skip_tokenizer_init=self.skip_tokenizer_init,
            stream_first_token=self.stream_first_token,
            approximate_beam_search=self.approximate_beam_search,
            engine_args=self.engine_args,
        )

    def build(self, ctx: BuildContext) -> tuple[Backend, ModelFacts]:
        from inferlab.core.task import ModelFacts

        settings = ctx.task.generation_settings(ctx.variant)
        if settings is None:
            raise UnsupportedError(
                "the vllm backend runs generative (LLM) benchmarks only",
                "use --backend torch for this benchmark",
            )
        if ctx.model_path is None:
            raise ModelError(
                "the vllm backend loads a checkpoint directory, and this run has none (the "
                "synthetic default's small random model exists only in memory)",
                "pass --model-path to a local Hugging Face checkpoint directory (config.json, "
                "tokenizer, *.safetensors), or use --backend torch for the synthetic default",
            )
        model_config = checkpoint_config(ctx.model_path)
        ecfg = self.engine_config(ctx, max_seq_len=settings.max_seq_len, model_config=model_config)

        from inferlab.backends.vllm.backend import VllmGenerationBackend

        backend = VllmGenerationBackend(ecfg, settings)
        architectures = model_config.get("architectures")
        facts = ModelFacts(
            random_weights=False,
            path=str(ctx.model_path),
            extra={
                "architecture": architectures[0]
                if isinstance(architectures, list) and architectures
                else model_config.get("model_type"),
                "loaded_by": "vllm",
            },
        )
        return backend, facts
