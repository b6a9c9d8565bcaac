"""The one validated, frozen RunConfig every run is built from.

Fields marked with :class:`~inferlab.core.option.CliOption` are ``inferlab run``'s options
(``cli.options`` derives them: name, choices of a ``Literal``, default); every field can be set
in YAML and with ``--set``. The backend's own settings live in ``backend_options``, the config
section the backend table gives for ``backend`` (:mod:`inferlab.backends.registry`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from inferlab.backends.base import BackendSection, config_error
from inferlab.backends.registry import BACKENDS, DEFAULT_BACKEND, section_class, section_classes
from inferlab.config.paths import absolute, here, resolve_paths
from inferlab.config.sections import place_backend_keys
from inferlab.core.option import CliOption
from inferlab.core.registry import DEFAULT_BENCHMARK

Dtype = Literal["fp32", "tf32", "fp16", "bf16", "int8", "fp8"]
ScenarioName = Literal["SingleStream", "MultiStream", "Offline", "Server", "Interactive"]
ModeName = Literal["performance", "accuracy"]

if TYPE_CHECKING:
    BackendOptions = BackendSection
else:  # one member per line of the backend table, told apart by its ``name``
    from typing import Union

    BackendOptions = Annotated[
        Union[tuple(section_classes())],  # noqa: UP007 (a union built from the table)
        Field(discriminator="name"),
    ]

# LoadGen keys a user may set with --set loadgen.<key>=v or in user.conf (rules file §1.1), with
# the values LoadGen can take: (kind, lowest, highest). LoadGen keeps counts in 64-bit integers
# and durations in nanoseconds (ms x 1e6), so a value past these bounds wraps or is cut silently.
_INT64 = float(2**63 - 1)
_MS = _INT64 / 1e6  # the longest duration in ms whose nanoseconds fit
_COUNT = ("integer", 0.0, _INT64)
_FLAG = ("flag", 0.0, 1.0)
LOADGEN_KEY_RANGES: dict[str, tuple[str, float, float]] = {
    "min_duration": ("ms", 0.0, _MS),
    "max_duration": ("ms", 0.0, _MS),
    "min_query_count": _COUNT,
    "max_query_count": _COUNT,
    "target_qps": ("positive", 0.0, 1e12),
    "target_latency": ("positive", 0.0, _MS),
    "target_latency_percentile": ("positive", 0.0, 1.0),
    "samples_per_query": ("integer", 1.0, _INT64),
    "performance_sample_count_override": _COUNT,
    "accuracy_sample_count_override": _COUNT,
    "max_async_queries": _COUNT,
    "coalesce_queries": _FLAG,
    "sample_concatenate_permutation": _FLAG,
    "performance_issue_unique": _FLAG,
    "performance_issue_same": _FLAG,
    "performance_issue_same_index": _COUNT,
    "print_timestamps": _FLAG,
    "accuracy_log_rng_seed": _COUNT,
    "accuracy_log_sampling_target": _COUNT,
    "use_token_latencies": _FLAG,
    "ttft_latency": ("ms", 0.0, _INT64),
    "tpot_latency": ("ms", 0.0, _INT64),
    "infer_token_latencies": _FLAG,
    "token_latency_scaling_factor": _COUNT,
}
LOADGEN_KEYS = frozenset(LOADGEN_KEY_RANGES)


def loadgen_value_problem(key: str, value: float) -> str | None:
    """Why LoadGen cannot take ``value`` for ``key`` (None: it can): not finite, out of range,
    not a whole number where LoadGen keeps an integer, not 0 or 1 for a switch."""
    kind, low, high = LOADGEN_KEY_RANGES[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{key}={value!r} is not a number"
    if not math.isfinite(value):
        return f"{key}={value} is not a finite number"
    if kind == "flag":
        return None if value in (0, 1) else f"{key}={value:g}: use 0 or 1"
    if kind == "integer" and value != int(value):
        return f"{key}={value:g} is not a whole number"
    if kind == "positive" and not low < value <= high:
        return f"{key}={value:g} is out of range: use a number > {low:g} and <= {high:g}"
    if not low <= value <= high:
        return f"{key}={value:g} is out of range: use {low:g} to {high:.4g}"
    return None


class RunConfig(BaseModel):
    """Everything a run needs. Precedence when built: defaults < YAML < CLI flags < --set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    benchmark: str = DEFAULT_BENCHMARK
    scenario: Annotated[
        ScenarioName,
        CliOption("LoadGen scenario (Interactive: a Server run under the -interactive bounds)."),
    ] = "Offline"
    mode: Annotated[ModeName, CliOption("Performance or accuracy mode.")] = "performance"
    dtype: Annotated[
        Dtype,
        CliOption("Precision (int8/fp8: 8-bit weights and activations, calibrated)."),
    ] = "fp32"
    device: Annotated[
        str,
        CliOption(
            "cpu, cuda, cuda:N, cuda:0,1,... or cuda:all (one replica per GPU; cpu:0,1: CPU "
            "replicas).",
            metavar="DEV",
        ),
    ] = "cpu"
    backend: Annotated[
        str, CliOption("Backend (its own settings: backend_options).", choices=tuple(BACKENDS))
    ] = DEFAULT_BACKEND
    backend_options: BackendOptions = Field(
        default_factory=lambda: section_class(DEFAULT_BACKEND).model_validate({}),
        description="the backend's own settings (its config section; see the backend table)",
    )
    variant: Annotated[
        str | None, CliOption("Model variant (see `inferlab ls`).", metavar="NAME")
    ] = None
    count: Annotated[int | None, CliOption("QSL size: use the first N samples.", metavar="N")] = (
        Field(default=None, ge=1, description="QSL size (a subset when set)")
    )
    data_dir: Annotated[
        Path | None,
        CliOption("Data root holding <dataset-id>/ (env INFERLAB_DATA_DIR).", metavar="ROOT"),
    ] = None
    dataset_path: Annotated[Path | None, CliOption("One dataset directory.", metavar="DIR")] = None
    model_path: Annotated[Path | None, CliOption("Model checkpoint file.", metavar="FILE")] = None
    out: Annotated[Path, CliOption("Where run directories go.", metavar="DIR")] = Field(
        default=Path("runs"), validate_default=True
    )
    cache_dir: Annotated[
        Path | None,
        CliOption(
            "Caches: preprocessed data, compiled kernels (env INFERLAB_CACHE_DIR).",
            metavar="DIR",
            default_text="$XDG_CACHE_HOME/inferlab or ~/.cache/inferlab",
        ),
    ] = None
    quick: Annotated[bool, CliOption("Short, non-submittable run.")] = False
    user_conf: Annotated[Path | None, CliOption("Your LoadGen user.conf.", metavar="FILE")] = None
    audit_config: Annotated[
        Path | None, CliOption("A compliance audit.config to apply.", metavar="FILE")
    ] = None
    audit: Annotated[
        str | None,
        CliOption(
            "Run a compliance test: TEST01, TEST04 or TEST06 (LLMs) (performance mode; its "
            "audit.config goes into the run directory; docs/submission.md).",
            metavar="TEST",
        ),
    ] = Field(
        default=None,
        pattern=r"^TEST0[1-9]$",
        description="compliance test to run (TEST01, TEST04, TEST06): its audit.config goes "
        "into the run directory, where LoadGen reads it",
    )
    loadgen: dict[str, float] = Field(default_factory=dict)
    batch_size: Annotated[
        int | None,
        CliOption("Largest batch.", metavar="N", default_text="per benchmark, scenario and device"),
    ] = Field(
        default=None,
        ge=1,
        description="the largest batch (None: the benchmark's default for the scenario and "
        "device, e.g. 256 for an image model's Offline on CUDA, 32 on the CPU)",
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
    threads: Annotated[int | None, CliOption("CPU threads for the backend.", metavar="N")] = Field(
        default=None, ge=1
    )
    preprocess_threads: int | None = Field(
        default=None,
        ge=1,
        description="threads that decode and preprocess the samples LoadGen asks to load "
        "(None: the CPUs this process may use, at most 16)",
    )
    decoder: Literal["default", "pillow", "cv2"] = Field(
        default="default",
        description="image decoder: default (the one the model variant's reference "
        "preprocessing uses, which the benchmark's package names), pillow, or cv2 (OpenCV)",
    )
    calibrate: Annotated[
        bool, CliOption("Skip the calibration before the test.", flag="--no-calibrate")
    ] = True
    server_qps_fraction: float = Field(default=0.5, gt=0, le=1.0)
    synthetic_count: int | None = Field(default=None, ge=1)
    seed: int = 0
    trace: Annotated[bool, CliOption("Keep LoadGen's trace log.")] = False
    watchdog_s: float = Field(default=120.0, gt=0)
    round: str | None = None
    quiet: Annotated[bool, CliOption("Only the summary.", short="-q")] = False
    # Variable-length inputs (text models): how batches are formed and padded.
    padding: Annotated[
        Literal["batch", "max"],
        CliOption("Variable-length inputs: pad to the batch's longest (batch) or to the max."),
    ] = Field(
        default="batch",
        description="pad each batch to its longest sequence (batch) or to the maximum (max)",
    )
    length_sort: bool = Field(
        default=True, description="sort the samples of each issued query longest first"
    )
    max_batch_tokens: Annotated[
        int | None,
        CliOption("Token budget per batch (count x longest).", metavar="N", default_text="off"),
    ] = Field(default=None, ge=1, description="token budget per batch (count x longest), None: off")
    pad_multiple: int = Field(
        default=8, ge=1, le=384, description="round the batch length up to a multiple of this"
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

    @model_validator(mode="before")
    @classmethod
    def _backend_section(cls, data: Any) -> Any:
        """Flat keys of earlier versions (torch_mode, fold_bn, null_service_time_ms, ...) into
        the backend's section; a key of another backend's section is an error. The section's
        paths still relative (the Python API) are made absolute against the working directory,
        as :meth:`_absolute_paths` does for the others."""
        if not isinstance(data, dict):
            return data
        return resolve_paths(place_backend_keys(data), here(), ())

    @field_validator("*", mode="before")
    @classmethod
    def _choice_spelling(cls, v: Any, info: ValidationInfo) -> Any:
        """A name from a fixed list (scenario, mode, dtype, ...) in any case, as the flags
        take it: "offline" and "ACCURACY" are Offline and accuracy, in YAML and --set too.
        YAML reads an unquoted on/off as true/false: for an on/off choice they are on/off."""
        choices = _choices(cls, info.field_name) if info.field_name is not None else ()
        if isinstance(v, bool) and {"on", "off"} <= set(choices):
            return "on" if v else "off"
        if not isinstance(v, str):
            return v
        for choice in choices:
            if choice.lower() == v.strip().lower():
                return choice
        return v

    @field_validator("*")
    @classmethod
    def _absolute_paths(cls, v: Any) -> Any:
        """Every path absolute, ``~`` expanded: one still relative here (not from a YAML file,
        which :func:`~inferlab.config.loader.build_config` resolves against its directory) is
        relative to the working directory, where the user typed it (docs/reliability.md)."""
        return absolute(v, here()) if isinstance(v, Path) else v

    @field_validator("backend", mode="before")
    @classmethod
    def _known_backend(cls, v: Any) -> Any:
        if v is None:  # YAML and --set read an unquoted null as nothing
            raise config_error("invalid backend: none given", 'quote the null backend: "null"')
        if isinstance(v, str) and v not in BACKENDS:
            raise config_error(f"invalid backend: {v!r}", f"use one of {', '.join(BACKENDS)}")
        return v

    @field_validator("scenario", mode="before")
    @classmethod
    def _scenario(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        from inferlab.core.errors import ConfigError
        from inferlab.core.spec import Scenario

        try:
            return Scenario.parse(v).value
        except ConfigError as exc:
            raise config_error(exc.message, exc.fix or "") from None

    @field_validator("audit", mode="before")
    @classmethod
    def _audit(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

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
        for key, value in v.items():
            if key not in LOADGEN_KEYS:
                raise ValueError(
                    f"unknown LoadGen key {key!r}: use one of {', '.join(sorted(LOADGEN_KEYS))}"
                )
            problem = loadgen_value_problem(key, value)
            if problem is not None:
                raise config_error(f"LoadGen {problem}", "give a value LoadGen can take")
        return v

    @model_validator(mode="after")
    def _section_matches_backend(self) -> RunConfig:
        if self.backend_options.name != self.backend:
            raise config_error(
                f"backend_options are the {self.backend_options.name} backend's, and this run "
                f"uses --backend {self.backend}",
                f"drop backend_options, or use --backend {self.backend_options.name}",
            )
        return self

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


def _choices(model: type[BaseModel], name: str) -> tuple[str, ...]:
    """The spellings a field takes when its type is a ``Literal`` of names (else none)."""
    field = model.model_fields.get(name)
    annotation = field.annotation if field is not None else None
    for arg in (annotation, *get_args(annotation)):
        if get_origin(arg) is Literal:
            return tuple(a for a in get_args(arg) if isinstance(a, str))
    return ()
