"""MLPerf compliance tests TEST01 and TEST04: audit.config text, verifiers, submission files
(TEST06's audit.config too; its verifier is :mod:`~inferlab.submission.compliance_test06`).

Written from the behaviour of mlcommons/inference ``compliance/TEST01`` and ``compliance/TEST04``
(HEAD): ``verify_accuracy.py`` (default mode, not ``--unixmode``), both ``verify_performance.py``
scripts and both ``run_verification.py`` scripts. The submission checker only looks for
``TEST PASS`` in ``verify_accuracy.txt`` (a whole line, after stripping) and in
``verify_performance.txt`` (anywhere in a line), so the reports below keep the official line
formats and never contain that phrase when a test fails.

TEST01 runs the benchmark in performance mode with a seeded sample of responses written to the
accuracy log; the sampled responses must equal those of the accuracy run, and the performance must
match the submission run. TEST04 issues one sample over and over; the run must not be faster than
the submission run (a cache would make it faster).

Pure Python + numpy; LoadGen is never imported here. The performance verification lives in
:mod:`~inferlab.submission.compliance_perf` and is re-exported here.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inferlab.core.errors import DataError, UnsupportedError
from inferlab.core.files import atomic_write_text
from inferlab.loadgen.accuracy_log import (
    ACCURACY_LOG_NAME,
    decode_hex,
    iter_entries,
    write_accuracy_log,
)
from inferlab.loadgen.logs import DETAIL_LOG_NAME, SUMMARY_LOG_NAME

# the performance verification, importable from here (explicit re-exports)
from inferlab.submission.compliance_perf import SCENARIOS as SCENARIOS
from inferlab.submission.compliance_perf import TESTS as TESTS
from inferlab.submission.compliance_perf import PathArg as PathArg
from inferlab.submission.compliance_perf import PerfVerdict as PerfVerdict
from inferlab.submission.compliance_perf import verify_performance as verify_performance
from inferlab.submission.compliance_perf import (
    verify_performance_files as verify_performance_files,
)
from inferlab.submission.compliance_test06 import Test06Verdict as Test06Verdict
from inferlab.submission.compliance_test06 import verify_test06 as verify_test06
from inferlab.submission.compliance_test06 import write_test06 as write_test06

#: Compliance tests of other benchmark families that inferlab does not run yet.
TESTS_NEEDING_HOOKS = ("TEST07", "TEST08", "TEST09")
HOOK_TEST_BENCHMARKS: dict[str, str] = {
    "TEST07": "accuracy on a separate compliance set in performance mode for gpt-oss-120b",
    "TEST08": "sampled accuracy in performance mode for dlrm-v3",
    "TEST09": "mean output length in performance mode for gpt-oss-120b and e2e-rag-qna",
}

#: TEST01 audit.config: accuracy-log sampling seed (same for every benchmark and round).
TEST01_ACCURACY_LOG_RNG_SEED = 720381539243781796
#: TEST01 ``accuracy_log_sampling_target`` per LoadGen config model key.
TEST01_SAMPLING_TARGET: dict[str, int] = {
    "resnet50": 4096,
    "retinanet": 256,
    "bert": 4096,
    "dlrm": 4096,
    "dlrm-v2": 4096,
    "3d-unet": 64,
    "rnnt": 4096,
    "gptj": 4096,
    "stable-diffusion-xl": 128,
    "rgat": 4096,
    "pointpainting": 256,
    "whisper": 4096,
    "yolo": 64,
    "wan-2.2-t2v-a14b": 50,
}
#: TEST06 audit.config: responses logged and queries issued (the same seed as TEST01's).
TEST06_SAMPLING_TARGET = 100
#: TEST04 audit.config: every scenario repeats loaded sample #3 (order as in the official file).
TEST04_SCENARIOS = ("MultiStream", "Offline", "SingleStream", "Server")
TEST04_SAME_INDEX = 3
#: TEST04 lines that only apply to one model (the harness must call
#: ``settings.FromConfig("audit.config", model, scenario)`` for them: LoadGen alone reads
#: audit.config with model ``*``).
TEST04_MODEL_KEYS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "stable-diffusion-xl": (("Offline", "min_query_count", 500),),
    "wan-2.2-t2v-a14b": (
        ("Offline", "min_query_count", 20),
        ("SingleStream", "min_query_count", 20),
    ),
}
#: Benchmarks the TEST04 README exempts (input-dependent cost); informational only.
TEST04_EXEMPT = ("rnnt", "bert", "dlrm-v2", "3d-unet", "retinanet", "gptj")

DTYPES: dict[str, npt.DTypeLike] = {
    "byte": np.byte,  # signed int8, as the official script: compares the first BYTE only
    "float32": np.float32,
    "int32": np.int32,
    "int64": np.int64,
}
_FIX_RUN_DIR = "point at the LoadGen output directory of the compliance run"


# --------------------------------------------------------------------------- audit.config


def audit_config_text(test: str, loadgen_model: str) -> str:
    """The audit.config for ``test`` ("TEST01"/"TEST04"/"TEST06") and a LoadGen config model
    key."""
    if test in TESTS_NEEDING_HOOKS:
        return _hook_audit_config(test, loadgen_model)
    head = [
        f"# {test} audit.config written by inferlab for model key '{loadgen_model}'.",
        "# LoadGen reads 'model.scenario.key = value'; '*' stands for any model or scenario.",
        "# mode 2 is PerformanceOnly.",
    ]
    if test == "TEST01":
        target = TEST01_SAMPLING_TARGET.get(loadgen_model)
        if target is None:
            raise UnsupportedError(
                f"TEST01 has no accuracy_log_sampling_target for LoadGen model {loadgen_model!r}",
                "use one of " + ", ".join(sorted(TEST01_SAMPLING_TARGET)),
            )
        body = [
            "*.*.mode = 2",
            f"*.*.accuracy_log_rng_seed = {TEST01_ACCURACY_LOG_RNG_SEED}",
            f"*.*.accuracy_log_sampling_target = {target}",
        ]
        return "\n".join(head + ["# Log a seeded sample of responses:"] + body) + "\n"
    if test == "TEST04":
        if not loadgen_model or any(c.isspace() or c in "=#*" for c in loadgen_model):
            raise UnsupportedError(
                f"{loadgen_model!r} is not a LoadGen config model key", "e.g. resnet50"
            )
        body = ["# Issue the same loaded sample (index 3) in every query:"]
        for sc in TEST04_SCENARIOS:
            body += [
                f"*.{sc}.mode = 2",
                f"*.{sc}.performance_issue_unique = 0",
                f"*.{sc}.performance_issue_same = 1",
                f"*.{sc}.performance_issue_same_index = {TEST04_SAME_INDEX}",
            ]
        extra = TEST04_MODEL_KEYS.get(loadgen_model, ())
        if extra:
            body.append("# Model lines: only applied when the harness calls FromConfig(model)")
            body += [f"{loadgen_model}.{sc}.{key} = {value}" for sc, key, value in extra]
        return "\n".join(head + body) + "\n"
    if test == "TEST06":
        body = [
            "*.*.mode = 2",
            f"*.*.accuracy_log_rng_seed = {TEST01_ACCURACY_LOG_RNG_SEED}",
            f"*.*.accuracy_log_sampling_target = {TEST06_SAMPLING_TARGET}",
            f"*.*.min_query_count = {TEST06_SAMPLING_TARGET}",
            "*.*.min_duration = 0",
            "# Equal issue mode off:",
            "*.*.sample_concatenate_permutation = 0",
        ]
        return (
            "\n".join(head + ["# Log about 100 responses (LLM output consistency):"] + body) + "\n"
        )
    raise UnsupportedError(
        f"unknown compliance test {test!r}",
        "use TEST01, TEST04 or TEST06 (the tests inferlab runs)",
    )


def _hook_audit_config(test: str, loadgen_model: str) -> str:
    """HOOK for TEST07..TEST09: return the test's audit.config here once inferlab runs it (and add
    its verifier and writer next to the TEST01/TEST04/TEST06 ones)."""
    raise UnsupportedError(
        f"{test} ({HOOK_TEST_BENCHMARKS[test]}) is not run by inferlab yet "
        f"(asked for model {loadgen_model!r})",
        f"run the official compliance/{test} scripts of mlcommons/inference",
    )


# --------------------------------------------------------------------------- TEST01 accuracy


@dataclass(frozen=True)
class Test01Accuracy:
    """Counters of the official verify_accuracy.py; ``text`` is its report."""

    num_acc_log_entries: int
    num_acc_log_duplicate_keys: int
    num_acc_log_data_mismatch: int
    num_perf_log_entries: int
    num_perf_log_qsl_idx_match: int
    num_perf_log_data_mismatch: int
    num_missing_qsl_idxs: int
    passed: bool
    text: str


_COUNTERS = tuple(f.name for f in fields(Test01Accuracy) if f.name.startswith("num_"))


def _dtype(dtype: str) -> npt.DTypeLike:
    if dtype not in DTYPES:
        raise UnsupportedError(f"unknown TEST01 dtype {dtype!r}", "use " + ", ".join(DTYPES))
    return DTYPES[dtype]


def verify_test01_accuracy(
    reference_log: PathArg, test_log: PathArg, dtype: str = "byte"
) -> Test01Accuracy:
    """Compare the TEST01 run's sampled responses with the accuracy run's, as the official script.

    Only the FIRST element of each payload is compared (decoded as ``dtype``; "byte" = first byte),
    or emptiness when either payload is empty. Quirks kept: the accuracy log's duplicate
    ``qsl_idx`` entries are counted (and compared as hex strings) but never fail the test; every
    test-log entry then replaces the stored payload of its ``qsl_idx``, so a repeated ``qsl_idx``
    in the test log is compared with its previous test-log entry, and a second occurrence of an
    index unknown to the accuracy log counts as a match. PASS iff no mismatch and >= 1 match.
    Raises :class:`DataError` for a missing or malformed log (or a payload size not divisible by
    the dtype size, where the official script would crash)."""
    np_dtype = _dtype(dtype)
    ref_path, test_path = Path(reference_log), Path(test_log)
    stored: dict[int, str] = {}
    n_acc = n_dup = n_acc_mismatch = 0
    for entry in iter_entries(ref_path):
        n_acc += 1
        if entry.qsl_idx in stored:
            n_dup += 1
            n_acc_mismatch += int(stored[entry.qsl_idx] != entry.data)
        else:
            stored[entry.qsl_idx] = entry.data
    n_perf = n_match = n_mismatch = n_missing = 0
    for entry in iter_entries(test_path):
        where = f"element {n_perf} (qsl_idx {entry.qsl_idx})"
        n_perf += 1
        ours = decode_hex(entry.data, np_dtype, path=test_path, where=where)
        if entry.qsl_idx in stored:
            n_match += 1
            theirs = decode_hex(
                stored[entry.qsl_idx], np_dtype, path=ref_path, where=f"qsl_idx {entry.qsl_idx}"
            )
            if theirs.size == 0 or ours.size == 0:
                n_mismatch += int(theirs.size != ours.size)
            elif bool(ours[0] != theirs[0]):  # NaN never equals itself: a mismatch
                n_mismatch += 1
        else:
            n_missing += 1
        stored[entry.qsl_idx] = entry.data
    counts = (n_acc, n_dup, n_acc_mismatch, n_perf, n_match, n_mismatch, n_missing)
    passed = n_mismatch == 0 and n_match > 0
    lines = [
        "Verifying accuracy. This might take a while...",
        "Reading accuracy mode results...",
        "Reading performance mode results...",
        *(f"{name} = {value}" for name, value in zip(_COUNTERS, counts, strict=True)),
        "TEST PASS" if passed else "TEST FAIL",
    ]
    return Test01Accuracy(*counts, passed=passed, text="\n".join(lines) + "\n\n")


def baseline_subset(reference_log: PathArg, test_log: PathArg, out_path: PathArg) -> int:
    """Write the accuracy-run entries whose ``qsl_idx`` occurs in the TEST01 log (every occurrence,
    in file order) to ``out_path`` in LoadGen's layout, atomically: the
    ``mlperf_log_accuracy_baseline.json`` of create_accuracy_baseline.sh, for the
    non-deterministic fallback (score it and the TEST01 log with the benchmark's accuracy script,
    then :func:`accuracy_delta_ok`). Returns the number of entries written."""
    wanted = {entry.qsl_idx for entry in iter_entries(test_log)}
    kept = [entry for entry in iter_entries(reference_log) if entry.qsl_idx in wanted]
    _atomic_to(Path(out_path), lambda tmp: write_accuracy_log(tmp, kept))
    return len(kept)


def accuracy_delta_ok(
    baseline: Mapping[str, float],
    compliance: Mapping[str, float],
    delta_percent: Mapping[str, float] | float,
) -> tuple[bool, list[str]]:
    """The checker's TEST01 fallback rule: for every metric, |1 - baseline/compliance| x 100 must
    be <= its delta (%). Metrics: those of both dicts (and of ``delta_percent`` when a dict); a
    metric missing or 0 on either side fails, as in the checker. Returns (ok, problems)."""
    named = list(delta_percent) if isinstance(delta_percent, Mapping) else []
    metrics = list(dict.fromkeys([*baseline, *compliance, *named]))
    if not metrics:
        return False, ["no accuracy metric to compare"]
    problems: list[str] = []
    for metric in metrics:
        base, comp = baseline.get(metric, 0.0), compliance.get(metric, 0.0)
        if isinstance(delta_percent, Mapping):
            if metric not in delta_percent:
                problems.append(f"{metric}: no allowed delta given")
                continue
            allowed = float(delta_percent[metric])
        else:
            allowed = float(delta_percent)
        if not base or not comp or math.isnan(base) or math.isnan(comp):
            problems.append(f"{metric}: baseline {base} / compliance {comp} missing or zero")
            continue
        delta = abs(1 - base / comp) * 100
        if not delta <= allowed:
            problems.append(
                f"{metric}: baseline {base} vs compliance {comp} differ by {delta:.4f}% "
                f"(allowed {allowed}%)"
            )
    return not problems, problems


def delta_percent_for(benchmark: str) -> dict[str, float] | float:
    """The checker's allowed delta for a checker benchmark name ("resnet", "bert-99.9", ...)."""
    if benchmark == "stable-diffusion-xl":
        return {"CLIP_SCORE": 1.0, "FID_SCORE": 2.0}
    return 0.1 if "99.9" in benchmark else 1.0


# --------------------------------------------------------------------------- submission files


def _atomic_to(dest: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` for a temp file next to ``dest``, then rename it over ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_copy(src: Path, dest: Path) -> None:
    # Streamed rather than atomic_write_bytes(read_bytes()): accuracy logs can be gigabytes.
    _atomic_to(dest, lambda tmp: shutil.copyfile(src, tmp))


def _run_files(run_dir: PathArg, names: Iterable[str]) -> dict[str, Path]:
    files = {name: Path(run_dir) / name for name in names}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise DataError("compliance run output missing: " + ", ".join(missing), _FIX_RUN_DIR)
    return files


def write_test01(
    out_dir: PathArg,
    *,
    reference_accuracy_log: PathArg,
    reference_detail: PathArg,
    test_run_dir: PathArg,
    dtype: str = "byte",
) -> dict[str, Any]:
    """Fill ``out_dir`` (the submission's ``.../<scenario>/TEST01``) like run_verification.py:
    verify_accuracy.txt, verify_performance.txt, accuracy/mlperf_log_accuracy.json and
    performance/run_1/{summary,detail} from ``test_run_dir``. Everything is verified before the
    first file is written. The checker also wants accuracy/accuracy.txt (the benchmark's accuracy
    script on the TEST01 log), plus baseline/compliance_accuracy.txt if accuracy failed."""
    out = Path(out_dir)
    src = _run_files(test_run_dir, (ACCURACY_LOG_NAME, SUMMARY_LOG_NAME, DETAIL_LOG_NAME))
    acc = verify_test01_accuracy(reference_accuracy_log, src[ACCURACY_LOG_NAME], dtype)
    perf = verify_performance_files("TEST01", reference_detail, src[DETAIL_LOG_NAME])
    atomic_write_text(out / "verify_accuracy.txt", acc.text)
    atomic_write_text(out / "verify_performance.txt", perf.text)
    _atomic_copy(src[ACCURACY_LOG_NAME], out / "accuracy" / ACCURACY_LOG_NAME)
    for name in (SUMMARY_LOG_NAME, DETAIL_LOG_NAME):
        _atomic_copy(src[name], out / "performance" / "run_1" / name)
    report = (
        f"Accuracy check pass: {acc.passed}\nPerformance check pass: {perf.passed}\n"
        "TEST01 verification complete\n"
    )
    result: dict[str, Any] = {
        "test": "TEST01",
        "accuracy_pass": acc.passed,
        "performance_pass": perf.passed,
        "counters": {name: getattr(acc, name) for name in _COUNTERS},
        "reference_score": perf.reference_score,
        "test_score": perf.test_score,
        "threshold": perf.threshold,
        "reasons": list(perf.reasons),
        "report": report,
    }
    if not acc.passed:
        result["next_step"] = (
            "accuracy differs: make the baseline with baseline_subset(), score it and the TEST01 "
            "log, store baseline_accuracy.txt and compliance_accuracy.txt in accuracy/"
        )
    return result


def write_test04(
    out_dir: PathArg, *, reference_detail: PathArg, test_run_dir: PathArg
) -> dict[str, Any]:
    """Fill ``out_dir`` (``.../<scenario>/TEST04``): verify_performance.txt and
    performance/run_1/{summary,detail} from ``test_run_dir``."""
    out = Path(out_dir)
    src = _run_files(test_run_dir, (SUMMARY_LOG_NAME, DETAIL_LOG_NAME))
    perf = verify_performance_files("TEST04", reference_detail, src[DETAIL_LOG_NAME])
    atomic_write_text(out / "verify_performance.txt", perf.text)
    for name in (SUMMARY_LOG_NAME, DETAIL_LOG_NAME):
        _atomic_copy(src[name], out / "performance" / "run_1" / name)
    return {
        "test": "TEST04",
        "performance_pass": perf.passed,
        "reference_score": perf.reference_score,
        "test_score": perf.test_score,
        "threshold": perf.threshold,
        "reasons": list(perf.reasons),
        "notes": list(perf.notes),
        "report": f"Performance check pass: {perf.passed}\nTEST04 verification complete\n",
    }
