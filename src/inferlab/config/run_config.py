"""The one validated, frozen RunConfig every run is built from."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Dtype = Literal["fp32", "tf32", "fp16", "bf16", "int8", "fp8"]
TorchMode = Literal["eager", "compile", "max-autotune", "cudagraph"]
BackendName = Literal["torch", "onnxruntime", "null"]
ScenarioName = Literal["SingleStream", "MultiStream", "Offline", "Server"]
ModeName = Literal["performance", "accuracy"]

# LoadGen keys a user may set with --set loadgen.<key>=v or in user.conf (rules file §1.1).
LOADGEN_KEYS = frozenset(
    {
        "min_duration",
        "max_duration",
        "min_query_count",
        "max_query_count",
        "target_qps",
        "target_latency",
        "target_latency_percentile",
        "samples_per_query",
        "performance_sample_count_override",
        "accuracy_sample_count_override",
        "max_async_queries",
        "coalesce_queries",
        "sample_concatenate_permutation",
        "performance_issue_unique",
        "performance_issue_same",
        "performance_issue_same_index",
        "print_timestamps",
        "accuracy_log_rng_seed",
        "accuracy_log_sampling_target",
        "use_token_latencies",
        "ttft_latency",
        "tpot_latency",
        "infer_token_latencies",
        "token_latency_scaling_factor",
    }
)


class RunConfig(BaseModel):
    """Everything a run needs. Precedence when built: defaults < YAML < CLI flags < --set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    benchmark: str = "resnet50"
    scenario: ScenarioName = "Offline"
    mode: ModeName = "performance"
    dtype: Dtype = "fp32"
    device: str = "cpu"
    backend: BackendName = "torch"
    variant: str | None = None
    count: int | None = Field(default=None, ge=1, description="QSL size (a subset when set)")
    data_dir: Path | None = None
    dataset_path: Path | None = None
    model_path: Path | None = None
    out: Path = Path("runs")
    cache_dir: Path | None = None
    quick: bool = False
    user_conf: Path | None = None
    audit_config: Path | None = None
    audit: str | None = Field(
        default=None,
        pattern=r"^TEST0[1-9]$",
        description="compliance test to run (TEST01, TEST04): its audit.config goes into the "
        "run directory, where LoadGen reads it",
    )
    loadgen: dict[str, float] = Field(default_factory=dict)
    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="the largest batch (None: the benchmark's default for the scenario and "
        "device, e.g. resnet50 Offline 256 on CUDA, 32 on the CPU)",
    )
    max_inflight_batches: int | None = Field(
        default=None, ge=1, description="batches cut and not yet completed (None: threads + 1)"
    )
    loop_threads: int | None = Field(
        default=None,
        ge=1,
        le=8,
        description="batch threads per replica (None: 2 on CUDA, so one prepares/finishes a "
        "batch while another runs; 1 elsewhere)",
    )
    threads: int | None = Field(default=None, ge=1)
    decoder: Literal["pillow", "cv2"] = "pillow"
    calibrate: bool = True
    server_qps_fraction: float = Field(default=0.5, gt=0, le=1.0)
    synthetic_count: int | None = Field(default=None, ge=1)
    seed: int = 0
    trace: bool = False
    watchdog_s: float = Field(default=120.0, gt=0)
    null_service_time_ms: float = Field(default=0.0, ge=0, description="null backend: per batch")
    round: str | None = None
    quiet: bool = False
    # Variable-length inputs (BERT): how batches are formed and padded.
    padding: Literal["batch", "max"] = Field(
        default="batch",
        description="pad each batch to its longest sequence (batch) or to the maximum (max)",
    )
    length_sort: bool = Field(
        default=True, description="sort the samples of each issued query longest first"
    )
    max_batch_tokens: int | None = Field(
        default=None, ge=1, description="token budget per batch (count x longest), None: off"
    )
    pad_multiple: int = Field(
        default=8, ge=1, le=384, description="round the batch length up to a multiple of this"
    )
    compile: bool = Field(default=False, description="torch.compile the model")
    torch_mode: TorchMode | None = Field(
        default=None,
        description="torch backend: eager, compile, max-autotune or cudagraph "
        "(None: eager, or compile with compile=true)",
    )
    fold_bn: bool | None = Field(
        default=None, description="fold batch-norm into the convolutions (None: on CUDA)"
    )
    channels_last: bool | None = Field(
        default=None, description="NHWC memory format for image models (None: on CUDA)"
    )
    sample_store: Literal["auto", "host", "device"] = Field(
        default="auto",
        description="where samples live: device memory (uint8, normalised on the device), the "
        "host, or auto (device for the torch backend on CUDA when the dataset allows it)",
    )
    compile_cache_dir: Path | None = Field(
        default=None,
        description="torch.compile's on-disk caches (None: <cache_dir>/torch-compile)",
    )
    server_max_wait_ms: float | None = Field(
        default=None,
        ge=0,
        description="Server: longest wait to fill a batch (None: min(2 ms, 10% of the bound))",
    )
    native_issue: Literal["off", "on", "auto"] = Field(
        default="auto",
        description="LoadGen's issue path: a native C++ SUT that queues samples without the "
        "GIL, drained in bulk by a Python thread (on: fail if it cannot be built; auto: use it "
        "when it can, else the Python callback; off: the Python callback)",
    )

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        from inferlab.config.devices import parse_devices
        from inferlab.core.errors import ConfigError

        try:
            parse_devices(v)
        except ConfigError as exc:
            raise ValueError(f"{exc.message}: {exc.fix}") from None
        return v

    @field_validator("loadgen")
    @classmethod
    def _loadgen_keys(cls, v: dict[str, float]) -> dict[str, float]:
        for key in v:
            if key not in LOADGEN_KEYS:
                raise ValueError(
                    f"unknown LoadGen key {key!r}: use one of {', '.join(sorted(LOADGEN_KEYS))}"
                )
        return v

    @model_validator(mode="after")
    def _one_compile_setting(self) -> RunConfig:
        if self.compile and self.torch_mode not in (None, "compile", "max-autotune"):
            raise ValueError(
                f"compile=true contradicts torch_mode={self.torch_mode}: drop --compile or "
                "choose --torch-mode compile / max-autotune"
            )
        return self

    @property
    def resolved_torch_mode(self) -> str:
        return self.torch_mode or ("compile" if self.compile else "eager")

    @property
    def resolved_loop_threads(self) -> int:
        if self.loop_threads is not None:
            return self.loop_threads
        default = 2 if self.device.startswith("cuda") else 1
        if self.max_inflight_batches is not None:
            return min(default, self.max_inflight_batches)
        return default

    @property
    def resolved_max_inflight_batches(self) -> int:
        if self.max_inflight_batches is not None:
            return self.max_inflight_batches
        return self.resolved_loop_threads + 1

    @model_validator(mode="after")
    def _threads_have_batches(self) -> RunConfig:
        threads, inflight = self.resolved_loop_threads, self.resolved_max_inflight_batches
        if threads > inflight:
            raise ValueError(
                f"loop_threads={threads} needs max_inflight_batches >= {threads} (now "
                f"{inflight}): only that many threads can hold a batch at once; raise it or use "
                "fewer threads"
            )
        return self

    @model_validator(mode="after")
    def _paths(self) -> RunConfig:
        if self.dataset_path is not None and self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1")
        return self
