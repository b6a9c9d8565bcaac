"""The result.json sections computed from a finished run: accuracy and flags.

The schema itself is :class:`inferlab.results.models.RunResult` (schema_version 2);
docs/results-schema.md describes each field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inferlab.config.run_config import RunConfig
from inferlab.core.errors import InferlabError
from inferlab.core.files import atomic_write_text
from inferlab.core.spec import BenchmarkSpec
from inferlab.results.models import (
    Accuracy,
    AccuracyLog,
    AccuracyMetric,
    AccuracyStatus,
    Flags,
    RunResult,
)


def accuracy_section(
    cfg: RunConfig,
    p: dict[str, Any],
    run_dir: Path,
    model: dict[str, Any] | None,
    round_: str | None,
) -> Accuracy:
    spec: BenchmarkSpec = p["spec"]
    dataset = p["dataset"]
    variant = p["variant"]
    log_path = run_dir / "mlperf_log_accuracy.json"
    if not log_path.is_file():
        raise InferlabError("LoadGen wrote no mlperf_log_accuracy.json", "see worker.log")
    # synthetic data: what the official accuracy script needs to score this run's log
    scoring_files = p["task"].scoring_files(dataset, run_dir) if dataset.synthetic else {}
    evaluation = p["task"].evaluate(log_path, dataset, variant, run_dir)
    atomic_write_text(run_dir / "accuracy.txt", evaluation.accuracy_txt)

    synthetic = bool(dataset.synthetic)
    random_weights = bool((model or {}).get("random_weights", True))
    subset = (
        bool(dataset.describe().get("subset"))
        or cfg.count is not None
        or dataset.total_count != spec.dataset_size
    )
    round_ = round_ or sorted(spec.targets)[-1]
    targets = {t.metric: t for t in spec.targets_for(round_)}
    metrics = []
    for mv in evaluation.values:
        t = targets.get(mv.metric)
        if t is not None and not synthetic and not random_weights:
            entry = AccuracyMetric(
                metric=mv.metric,
                value=mv.value,
                unit=mv.unit,
                reference=t.reference,
                threshold=t.threshold,
                upper_limit=t.upper_limit,
                percent_of_reference=round(100.0 * mv.value / t.reference, 3),
                passed=t.check(mv.value),
            )
        else:
            entry = AccuracyMetric(metric=mv.metric, value=mv.value, unit=mv.unit)
        metrics.append(entry)
    status: AccuracyStatus
    if synthetic:
        status = "n/a-synthetic"
        note = "accuracy: N/A (synthetic data): the value only checks the pipeline"
    elif random_weights:
        status = "measured-random-weights"
        note = "random weights: no target applies"
    else:
        passed = all(m.passed for m in metrics if m.judged)
        status = "pass" if passed else "fail"
        note = (
            f"{dataset.total_count} samples, not the full {spec.dataset_size:,}: not a "
            "reference-accuracy claim"
            if subset
            else ""
        )
    unique = int(evaluation.details.get("total", 0))
    expected = variant.expected_accuracy
    check = (model or {}).get("checkpoint_check") or {}
    if check.get("official") is False and not random_weights:
        expected = None  # measured with another file: its expected value is unknown
        note = "; ".join(x for x in (note, str(check.get("note"))) if x)
    return Accuracy(
        status=status,
        note=note,
        metrics=metrics,
        round=round_,
        expected_for_checkpoint=expected,
        accuracy_txt="accuracy.txt",
        payload={"dtype": variant.output_dtype, "layout": variant.output_layout},
        log=AccuracyLog(
            file="mlperf_log_accuracy.json",
            unique_samples=unique,
            duplicates=int(evaluation.details.get("duplicates", 0)),
            complete=unique == dataset.total_count,
        ),
        val_map=scoring_files.get("val_map"),
        scoring_files=scoring_files,
        details=evaluation.details,
    )


def _round_reasons(spec: BenchmarkSpec, scenario: str, round_: str | None) -> list[str]:
    """Why the run's round cannot take this benchmark/scenario (rules §2.4), if it cannot."""
    from inferlab.core.rounds import RULES

    rules = RULES.get(str(round_))
    if rules is None:
        return []
    b = rules.benchmark(spec.checker_name)
    if b is None:
        return [f"round {round_} has no {spec.checker_name} benchmark"]
    if not any(scenario in b.scenarios(c) for c in ("datacenter", "edge")):
        return [f"round {round_} has no {scenario} scenario for {spec.checker_name}"]
    return []


def flags_section(cfg: RunConfig, spec: BenchmarkSpec, result: RunResult) -> Flags:
    """Why the run is not submittable, if it is not (from the rest of its result)."""
    ds = result.dataset or {}
    model = result.model or {}
    synthetic = bool(ds.get("synthetic"))
    section = cfg.backend_options  # what the backend says of its results, not its name
    random_weights = bool(model.get("random_weights", not section.loads_model))
    # --count on generated data sets the size of the generated set: not a subset of anything
    subset = bool(ds.get("subset")) or (cfg.count is not None and not synthetic)
    size = ds.get("total_count")
    partial = not synthetic and section.loads_model and size != spec.dataset_size
    reasons: list[str] = []
    if synthetic:
        reasons.append("synthetic data")
    if partial and not subset:
        reasons.append(f"the dataset has {size} samples, not the benchmark's {spec.dataset_size:,}")
    if random_weights:
        reasons.append(section.random_weights_label)
    check = model.get("checkpoint_check") or {}
    official = check.get("official") if not random_weights else None
    if official is False:
        reasons.append(str(check.get("note")))
    backend = result.backend or {}
    quant = backend.get("quantization") or {}
    if quant and not (quant.get("calibration") or {}).get("closed_division"):
        reasons.append(
            f"{backend.get('dtype', 'int8')} calibrated on a stand-in, not MLPerf's calibration "
            "list"
        )
    if cfg.quick:
        reasons.append("quick mode")
    if subset:
        reasons.append(f"subset of the dataset ({ds.get('total_count')} samples)")
    for key, meta in result.loadgen.keys.items():
        if meta.source in ("--set", "user.conf") and key in (
            "min_duration",
            "min_query_count",
            "performance_sample_count_override",
            "max_duration",
            "max_query_count",
        ):
            reasons.append(f"{key} set by {meta.source}")
    if cfg.trace:
        pass  # the trace does not affect submittability
    if result.loadgen.errors:
        reasons.append("LoadGen logged errors")
    for scenario, why in spec.unsubmittable.items():
        if scenario.value == cfg.scenario:
            reasons.append(why)
    if not any(s.value == cfg.scenario for s in spec.unsubmittable):
        reasons += _round_reasons(spec, cfg.scenario, result.round)
    return Flags(
        synthetic=synthetic,
        random_weights=random_weights,
        quick=cfg.quick,
        subset=subset,
        official_checkpoint=official,
        submittable=not reasons,
        not_submittable_because=reasons,
    )
