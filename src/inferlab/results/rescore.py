"""Score an accuracy log again, later: the benchmark's own evaluation on the dataset a stored
run used. The submission build needs it for TEST01's fallback (rules §5): when the sampled
responses of a TEST01 run differ from the accuracy run's (a non-deterministic SUT), both logs
restricted to the same samples are scored and compared. A pure function of the stored run and
the data it names (no runner involved)."""

from __future__ import annotations

from pathlib import Path

from inferlab.config.loader import default_cache_dir
from inferlab.config.run_config import RunConfig
from inferlab.core import registry
from inferlab.core.errors import DataError
from inferlab.core.task import BenchmarkTask
from inferlab.results.models import RunResult


def evaluate_log(result: RunResult, log_path: Path, work_dir: Path) -> str:
    """The accuracy.txt text for ``log_path``, scored like the run ``result`` (result.json)
    scored its own log: same benchmark, variant, dataset and sample count."""
    cfg = RunConfig.model_validate(result.config)
    spec = registry.get(cfg.benchmark)
    task: BenchmarkTask = registry.resolve(spec.task)
    variant = spec.variant(result.benchmark.variant.get("name"))
    ds = result.dataset or {}
    path = Path(ds["path"]) if ds.get("path") else None
    if path is not None and not path.exists():
        raise DataError(
            f"the dataset the run {result.run_dir} used ({path}) is gone",
            "restore it (inferlab prepare) to score TEST01's fallback",
        )
    dataset = task.make_dataset(
        path,
        count=cfg.count,
        seed=cfg.seed,
        cache_dir=default_cache_dir(cfg) / "preprocessed",
        variant=variant,
        decoder=cfg.decoder,
        synthetic_count=cfg.synthetic_count,
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    return task.evaluate(log_path, dataset, variant, work_dir).accuracy_txt
