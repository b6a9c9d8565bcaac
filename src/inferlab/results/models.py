"""Typed data between the runner's stages (architecture convention 6).

- :class:`RunPlan`: what the supervisor hands its worker (``job.json``).
- The worker's messages over the socket pair (``runner.protocol.Channel``): :class:`Ready`,
  :class:`Heartbeat`, :class:`Done`, :class:`WorkerError` (worker -> supervisor, one union
  :data:`WorkerMessage` on ``event``) and :class:`Start` (supervisor -> worker).
- :class:`RunResult`: ``result.json`` (schema_version 2; docs/results-schema.md), read back by
  ``report/``, ``submission/`` and ``results.metrics`` through ``results.load.load_run``.

Sections with a stable shape are typed (``extra="forbid"``: a misspelt key is an error); facts
whose shape belongs to another layer (environment, system, telemetry, the backend's and the
dataset's descriptions, calibration, batching, the stored config) stay ``dict[str, Any]``. Every
model is frozen: ``runner.api.run`` builds the result once, after the worker has exited, never per
sample or batch. Heartbeats are the only message sent during the test, once a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from inferlab.config.run_config import RunConfig

#: The version of result.json this inferlab writes (results.load reads 1 and 2).
SCHEMA_VERSION: Final = 2
#: The version of job.json (supervisor and worker are always the same inferlab).
PLAN_VERSION: Final = 1

Status = Literal["ok", "invalid", "failed", "interrupted"]
Validity = Literal["VALID", "INVALID"]
ScenarioName = Literal["Offline", "Server", "SingleStream", "MultiStream", "Interactive"]
ModeName = Literal["performance", "accuracy"]


class Typed(BaseModel):
    """Base of every model here: unknown keys are refused, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- supervisor -> worker ------------------------------------------------------------------


class RunPlan(Typed):
    """Everything the worker needs to build, calibrate and run one LoadGen test."""

    schema_version: Literal[1] = PLAN_VERSION
    config: RunConfig
    variant: str  # the model variant prepare() chose (may differ from config.variant)
    dataset_path: Path | None = None
    model_path: Path | None = None
    cache_dir: Path | None = None  # preprocessed-sample cache
    batch_size: int = Field(gt=0)
    calibrate: bool


class Start(Typed):
    """After ``ready``: user.conf (and audit.config) are written; run the LoadGen test."""

    cmd: Literal["start"] = "start"
    user_conf: Path
    audit_config: Path | None = None


# ---- worker -> supervisor ------------------------------------------------------------------


class Ready(Typed):
    """Built, warmed up and calibrated: the facts result.json records about the worker."""

    event: Literal["ready"] = "ready"
    calibration: dict[str, Any] | None = None
    backend: dict[str, Any] = Field(default_factory=dict)
    capabilities: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] | None = None
    batching: dict[str, Any] = Field(default_factory=dict)
    sample_store: dict[str, Any] | None = None
    timings: dict[str, float] = Field(default_factory=dict)


class Heartbeat(Typed):
    """Once a second during the test: the watchdog's and the progress display's input."""

    event: Literal["heartbeat"] = "heartbeat"
    resident: int | None = None  # samples preprocessed and resident
    issued: int = 0
    completed: int = 0
    outstanding: int = 0
    oldest_outstanding_ids: list[int] = Field(default_factory=list)
    since_last_completion_s: float | None = None


class Done(Typed):
    """The LoadGen test returned; the logs are on disk."""

    event: Literal["done"] = "done"
    snapshot: dict[str, Any] = Field(default_factory=dict)  # the dispatcher's counters
    timings: dict[str, float] = Field(default_factory=dict)
    replicas: list[dict[str, Any]] = Field(default_factory=list)  # per replica stats
    issue_path: str | None = None  # "native" or "python"
    issue_path_detail: str | None = None
    config_load: dict[str, Any] | None = None


class WorkerError(Typed):
    """The worker failed (bad input, a SUT exception, an internal error) and is exiting."""

    event: Literal["error"] = "error"
    kind: str
    message: str
    fix: str | None = None


AnyWorkerMessage = Ready | Heartbeat | Done | WorkerError
WorkerMessage = Annotated[AnyWorkerMessage, Field(discriminator="event")]


class Phase(Typed):
    """Not sent over the channel: the supervisor's marker for its observer (the CLI's display)."""

    event: Literal["phase"] = "phase"
    phase: str


# ---- result.json ---------------------------------------------------------------------------


class BenchmarkInfo(Typed):
    id: str
    loadgen_name: str
    checker_name: str
    variant: dict[str, Any] = Field(default_factory=dict)  # the spec's ModelVariant, as data


class LoadgenKey(Typed):
    """One key of the generated user.conf and where its value came from."""

    value: int | float | str
    source: str  # calibration, quick, harness, user.conf, --set
    note: str | None = None


class LoadgenInfo(Typed):
    version: str | None = None
    user_conf: str | None = None
    keys: dict[str, LoadgenKey] = Field(default_factory=dict)
    audit_config: str | None = None
    audit_applied: bool = False
    trace_kept: bool = False
    probe: dict[str, Any] | None = None
    config_load: dict[str, Any] | None = None
    issue_path: str | None = None
    issue_path_detail: str | None = None
    # from mlperf_log_detail.txt; null when the run failed before LoadGen's logs were parsed
    # (schema_version 1 left these keys out then)
    effective: dict[str, Any] | None = None
    results: dict[str, int | float] | None = None
    seeds: dict[str, Any] | None = None
    errors: list[str] | None = None
    warnings: list[str] | None = None


class Counts(Typed):
    queries: int | None = None
    samples: int | None = None
    duration_s: float | None = None


class OfficialResult(Typed):
    """The run's official figure as the submission checker reads it, and its validity."""

    official_field: str | None = None
    value: float | None = None
    unit: str | None = None
    raw_value: int | float | None = None
    validity: Validity | None = None
    invalid_reasons: list[str] = Field(default_factory=list)
    loadgen_reason: str | None = None
    early_stopping: list[str] = Field(default_factory=list)
    constraints: dict[str, bool | None] = Field(default_factory=dict)
    counts: Counts = Field(default_factory=Counts)


class AccuracyMetric(Typed):
    """One measured metric; the target fields are null when no target applies (synthetic data,
    random weights). schema_version 1 left them out instead."""

    metric: str
    value: float
    unit: str = ""
    reference: float | None = None
    threshold: float | None = None
    upper_limit: float | None = None
    percent_of_reference: float | None = None
    passed: bool | None = None

    @property
    def judged(self) -> bool:
        """A target applied (PASS or FAIL)."""
        return self.passed is not None


class AccuracyLog(Typed):
    file: str = "mlperf_log_accuracy.json"
    unique_samples: int
    duplicates: int = 0
    complete: bool


AccuracyStatus = Literal["pass", "fail", "measured-random-weights", "n/a-synthetic"]


class Accuracy(Typed):
    status: AccuracyStatus
    note: str = ""
    metrics: list[AccuracyMetric] = Field(default_factory=list)
    round: str | None = None
    expected_for_checkpoint: float | None = None
    accuracy_txt: str | None = "accuracy.txt"
    payload: dict[str, Any] = Field(default_factory=dict)  # dtype and layout of the log data
    log: AccuracyLog | None = None
    val_map: str | None = None
    scoring_files: dict[str, Any] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def main(self) -> AccuracyMetric | None:
        """The metric the verdict is about: the first judged one, else the first."""
        first = self.metrics[0] if self.metrics else None
        return next((m for m in self.metrics if m.judged), first)


class Flags(Typed):
    synthetic: bool
    random_weights: bool
    quick: bool
    subset: bool
    # the checkpoint's checksum against the official file's: None when no checkpoint is loaded
    # or there is nothing to compare with (see model.checkpoint_check)
    official_checkpoint: bool | None = None
    submittable: bool
    not_submittable_because: list[str] = Field(default_factory=list)


class Audit(Typed):
    test: str  # TEST01, TEST04
    config: str = "audit.config"
    applied: bool = False


class WorkerInfo(Typed):
    pid: int | None = None
    exit_code: int | None = None


class ErrorInfo(Typed):
    kind: str
    message: str


class RunResult(Typed):
    """result.json, schema_version 2 (docs/results-schema.md describes every field)."""

    schema_version: Literal[2] = SCHEMA_VERSION
    status: Status
    inferlab_version: str
    run_dir: Path
    started_at: str
    finished_at: str | None = None
    benchmark: BenchmarkInfo
    scenario: ScenarioName
    mode: ModeName
    config: dict[str, Any]  # the resolved RunConfig as stored (its shape follows the config)
    round: str | None = None
    dataset: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    backend: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    batching: dict[str, Any] | None = None
    sample_store: dict[str, Any] | None = None
    replicas: list[dict[str, Any]] | None = None
    data_checks: dict[str, str] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    loadgen: LoadgenInfo = Field(default_factory=LoadgenInfo)
    audit: Audit | None = None
    result: OfficialResult | None = None
    accuracy: Accuracy | None = None
    flags: Flags | None = None
    worker: WorkerInfo | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    telemetry: dict[str, Any] | None = None
    system: dict[str, Any] | None = None
    error: ErrorInfo | None = None

    def to_json(self) -> dict[str, Any]:
        """result.json's content (non-JSON values in the free-form sections become strings)."""
        return self.model_dump(mode="json", fallback=str)

    @property
    def performance(self) -> bool:
        return self.mode == "performance"

    @property
    def figure(self) -> float | None:
        """The official figure (performance mode; None without one)."""
        return self.result.value if self.result is not None and self.performance else None

    @property
    def validity(self) -> str | None:
        return self.result.validity if self.result is not None else None

    @property
    def dataset_id(self) -> str | None:
        return (self.dataset or {}).get("dataset_id")

    @property
    def dataset_count(self) -> int | None:
        return (self.dataset or {}).get("total_count")


#: The top-level typed sections of RunResult (docs/results-schema.md documents their fields).
SECTION_MODELS: dict[str, type[Typed]] = {
    "benchmark": BenchmarkInfo,
    "loadgen": LoadgenInfo,
    "result": OfficialResult,
    "accuracy": Accuracy,
    "flags": Flags,
    "audit": Audit,
    "worker": WorkerInfo,
    "error": ErrorInfo,
}
