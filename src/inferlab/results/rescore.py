"""Score a stored run's accuracy log again, later, without rerunning: the benchmark's own
evaluation on the data the run used, or on a val map / dataset the user names.

Used by ``inferlab evaluate RUN_DIR`` (a new ``accuracy.rescored-<UTC time>.txt`` beside the
run's ``accuracy.txt``, never over it), by ``inferlab submission check`` (which recomputes every
``accuracy.txt`` of a tree whose run it can find) and by the submission build for TEST01's
fallback (rules §5: when the sampled responses of a TEST01 run differ from the accuracy run's,
both logs restricted to the same samples are scored and compared). A pure function of the stored
run and the data it names (no runner involved).

The verdict follows how the run was labelled: a run on synthetic data is "N/A (synthetic
data)", one with random weights "measured, random weights"; neither is compared with the
reference accuracy, whatever data it is rescored against.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from inferlab.config.loader import default_cache_dir
from inferlab.config.run_config import RunConfig
from inferlab.core import registry
from inferlab.core.errors import ConfigError, DataError, InferlabError
from inferlab.core.files import atomic_write_text
from inferlab.core.task import BenchmarkTask, Evaluation
from inferlab.results.load import Run, load_run
from inferlab.results.models import RunResult

ACCURACY_LOG = "mlperf_log_accuracy.json"
RESCORED_PREFIX = "accuracy.rescored-"
SYNTHETIC_VERDICT = "N/A (synthetic data): the value only checks the pipeline, no reference claim"
RANDOM_VERDICT = "measured, random weights: no target applies"


class ValMapLabels:
    """The labels of a val map (one ``<file> <label>`` line per sample; line i is sample i),
    standing in for the dataset of a benchmark whose evaluation reads only the labels: rescoring
    then needs no images."""

    synthetic = False

    def __init__(self, path: Path, count: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            what = "is not a file" if self.path.exists() else "does not exist"
            raise DataError(
                f"--val-map {self.path} {what}",
                "pass the val map (one '<file> <label>' line per sample) of the dataset the run "
                "used",
            )
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(
                f"--val-map {self.path} cannot be read: {exc}",
                "pass a readable UTF-8 text file with one '<file> <label>' line per sample",
            ) from None
        lines = text.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        labels = []
        for number, line in enumerate(lines, start=1):
            cols = line.split()
            if len(cols) < 2 or not cols[1].lstrip("-").isdigit():
                raise DataError(
                    f"--val-map {self.path}:{number}: expected '<file> <label>', got "
                    f"{line.strip()[:60]!r}",
                    "fix that line, or pass the val map of the dataset the run used",
                )
            labels.append(int(cols[1]))
        if not labels:
            raise DataError(f"--val-map {self.path} is empty", "pass the dataset's val map")
        if count is not None and count > len(labels):
            raise DataError(
                f"--val-map {self.path} lists {len(labels)} samples but the run used {count}",
                "pass the val map of the dataset the run used (same order and count)",
            )
        self._labels = np.asarray(labels[:count] if count else labels, dtype=np.int64)
        self.total_count = len(self._labels)

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def describe(self) -> dict[str, Any]:
        return {"val_map": str(self.path), "total_count": self.total_count}


@dataclass(frozen=True)
class Scored:
    """One rescored metric; the target fields are None when no target applies."""

    metric: str
    value: float
    unit: str = ""
    stored: float | None = None  # what the run's result.json holds
    reference: float | None = None
    threshold: float | None = None
    upper_limit: float | None = None
    passed: bool | None = None


@dataclass(frozen=True)
class Rescore:
    run_dir: Path
    benchmark: str
    scenario: str
    round: str
    status: str  # pass, fail, measured-random-weights, n/a-synthetic (as result.json's)
    verdict: str  # one line: PASS / FAIL / the synthetic or random-weights label
    labels: tuple[str, ...]  # SYNTHETIC DATA, RANDOM WEIGHTS, SUBSET
    note: str
    data: str  # what it was scored against
    accuracy_txt: str
    metrics: tuple[Scored, ...]
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["run_dir"] = str(self.run_dir)
        out["labels"] = list(self.labels)
        out["metrics"] = [asdict(m) for m in self.metrics]
        return out


def _config(result: RunResult) -> RunConfig:
    try:
        return RunConfig.model_validate(result.config)
    except ValidationError as exc:
        raise ConfigError(
            f"{result.run_dir}: the stored config cannot be read by this inferlab "
            f"({exc.error_count()} problem(s), e.g. {exc.errors()[0]['msg']})",
            f"rescore it with the inferlab that ran it ({result.inferlab_version})",
        ) from None


def _scored_by_val_map(result: RunResult) -> bool:
    acc = result.accuracy
    return "val_map" in (result.dataset or {}) or bool(acc and "val_map" in acc.scoring_files)


def scoring_data(
    result: RunResult, *, val_map: Path | None = None, dataset_path: Path | None = None
) -> tuple[Any, str]:
    """The dataset to score ``result``'s log against and what it is, in words: ``val_map``
    (labels only), ``dataset_path``, else the data the run used (regenerated for synthetic
    data, which is seeded)."""
    if val_map is not None and dataset_path is not None:
        raise ConfigError("--val-map and --dataset-path both given", "pass one of them")
    cfg = _config(result)
    if val_map is not None:
        if not _scored_by_val_map(result):
            raise ConfigError(
                f"--val-map: {result.benchmark.id} is not scored against a val map",
                "pass --dataset-path DIR (the dataset the run used) instead",
            )
        used = cfg.count or (result.dataset or {}).get("total_count")
        return ValMapLabels(val_map, used), f"val map {val_map}"
    spec = registry.get(cfg.benchmark)
    task: BenchmarkTask = registry.resolve(spec.task)
    variant = spec.variant(result.benchmark.variant.get("name"))
    ds = result.dataset or {}
    if dataset_path is not None:
        path: Path | None = dataset_path
        if not dataset_path.exists():
            raise DataError(
                f"--dataset-path {dataset_path} does not exist", "check the path to the dataset"
            )
        what = f"dataset {dataset_path}"
    elif ds.get("path"):
        path = Path(ds["path"])
        what = f"the run's dataset {path}"
        if not path.exists():
            alt = " or --val-map FILE" if _scored_by_val_map(result) else ""
            raise DataError(
                f"the dataset the run {result.run_dir} used ({path}) is gone",
                f"restore it (inferlab prepare), or pass --dataset-path DIR{alt}",
            )
    else:
        path = None
        what = f"the run's synthetic data (seed {cfg.seed}, regenerated)"
    dataset = task.make_dataset(
        path,
        count=cfg.count,
        seed=cfg.seed,
        cache_dir=default_cache_dir(cfg) / "preprocessed",
        variant=variant,
        decoder=cfg.decoder,
        synthetic_count=cfg.synthetic_count,
    )
    return dataset, what


def score_log(
    result: RunResult,
    log_path: Path,
    work_dir: Path,
    *,
    val_map: Path | None = None,
    dataset_path: Path | None = None,
) -> tuple[Evaluation, str]:
    """The benchmark's evaluation of ``log_path``, scored like the run ``result`` scored its
    own log (same benchmark, variant, dataset and sample count unless told otherwise), and what
    it was scored against. ``work_dir`` receives the evaluation's side files."""
    cfg = _config(result)
    spec = registry.get(cfg.benchmark)
    task: BenchmarkTask = registry.resolve(spec.task)
    variant = spec.variant(result.benchmark.variant.get("name"))
    dataset, what = scoring_data(result, val_map=val_map, dataset_path=dataset_path)
    work_dir.mkdir(parents=True, exist_ok=True)
    return task.evaluate(log_path, dataset, variant, work_dir), what


def evaluate_log(result: RunResult, log_path: Path, work_dir: Path) -> str:
    """The accuracy.txt text for ``log_path``, scored like the run ``result`` scored its own
    log (TEST01's fallback)."""
    return score_log(result, log_path, work_dir)[0].accuracy_txt


def _judge(
    result: RunResult, evaluation: Evaluation
) -> tuple[str, str, list[str], str, list[Scored]]:
    """status, verdict, labels, note and metrics, as the run was labelled."""
    spec = registry.get(result.benchmark.id)
    flags = result.flags
    ds = result.dataset or {}
    synthetic = flags.synthetic if flags else bool(ds.get("synthetic"))
    random_weights = flags.random_weights if flags else (result.model or {}).get("random_weights")
    subset = bool(flags.subset) if flags else bool(ds.get("subset"))
    round_ = (result.accuracy.round if result.accuracy else None) or result.round
    round_ = round_ or sorted(spec.targets)[-1]
    targets = {t.metric: t for t in spec.targets_for(round_)}
    stored = {m.metric: m.value for m in (result.accuracy.metrics if result.accuracy else [])}
    labels = [
        text
        for on, text in (
            (synthetic, "SYNTHETIC DATA"),
            (random_weights, "RANDOM WEIGHTS"),
            (subset, "SUBSET"),
        )
        if on
    ]
    metrics = []
    for mv in evaluation.values:
        t = targets.get(mv.metric)
        if t is not None and not synthetic and not random_weights:
            metrics.append(
                Scored(
                    mv.metric,
                    mv.value,
                    mv.unit,
                    stored.get(mv.metric),
                    t.reference,
                    t.threshold,
                    t.upper_limit,
                    t.check(mv.value),
                )
            )
        else:
            metrics.append(Scored(mv.metric, mv.value, mv.unit, stored.get(mv.metric)))
    note = ""
    if synthetic:
        status, verdict = "n/a-synthetic", SYNTHETIC_VERDICT
    elif random_weights:
        status, verdict = "measured-random-weights", RANDOM_VERDICT
    else:
        passed = all(m.passed for m in metrics if m.passed is not None)
        status, verdict = ("pass", "PASS") if passed else ("fail", "FAIL")
        if subset:
            note = "a subset of the dataset: not a reference-accuracy claim"
    return status, verdict, labels, note, metrics


def rescore_run(
    run_dir: Path, *, val_map: Path | None = None, dataset_path: Path | None = None
) -> Rescore:
    """Score the accuracy-mode run in ``run_dir`` again from its ``mlperf_log_accuracy.json``."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise DataError(
            f"{run_dir} does not exist", "pass a run directory (inferlab run writes them in runs/)"
        )
    run: Run = load_run(run_dir)
    result = run.result
    log_path = run_dir / ACCURACY_LOG
    if result.mode != "accuracy":
        raise ConfigError(
            f"{run_dir} is a {result.mode}-mode run: it has no accuracy log to score",
            "pass the directory of an accuracy run (inferlab run ... --mode accuracy)",
        )
    if not log_path.is_file():
        raise DataError(
            f"{run_dir} has no {ACCURACY_LOG} (the run is {result.status})",
            "rerun it: inferlab run ... --mode accuracy",
        )
    with tempfile.TemporaryDirectory(prefix="inferlab-rescore-") as tmp:
        evaluation, what = score_log(
            result, log_path, Path(tmp), val_map=val_map, dataset_path=dataset_path
        )
    status, verdict, labels, note, metrics = _judge(result, evaluation)
    spec = registry.get(result.benchmark.id)
    round_ = (result.accuracy.round if result.accuracy else None) or result.round
    return Rescore(
        run_dir=run_dir,
        benchmark=result.benchmark.id,
        scenario=result.scenario,
        round=round_ or sorted(spec.targets)[-1],
        status=status,
        verdict=verdict,
        labels=tuple(labels),
        note=note,
        data=what,
        accuracy_txt=evaluation.accuracy_txt,
        metrics=tuple(metrics),
        details=dict(evaluation.details),
    )


def write_rescored(run_dir: Path, text: str, now: datetime | None = None) -> Path:
    """Write ``text`` to a new ``accuracy.rescored-<UTC time>[-N].txt`` in ``run_dir``: written
    whole (atomically) and never over an existing file (``accuracy.txt`` included)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    staging = Path(run_dir) / f".{RESCORED_PREFIX}{stamp}.{os.getpid()}.partial"
    atomic_write_text(staging, text)
    try:
        for n in range(1, 1000):
            target = Path(run_dir) / f"{RESCORED_PREFIX}{stamp}{'' if n == 1 else f'-{n}'}.txt"
            try:
                os.link(staging, target)  # fails if the name exists: never overwrites
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system: exclusive create instead
                try:
                    with open(target, "x", encoding="utf-8") as fh:
                        fh.write(text)
                except FileExistsError:
                    continue
            return target
    finally:
        staging.unlink(missing_ok=True)
    raise InferlabError(f"{run_dir}: no free name for a rescored accuracy file", "tidy it up")
