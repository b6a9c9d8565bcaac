"""What ``inferlab submission build`` writes for each entry of the tree (logs, truncated
accuracy log, measurements, README with provenance, compliance directories) and the tree-level
code and documentation texts. Used by :mod:`inferlab.submission.build`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inferlab.config.sections import flat_view
from inferlab.core.errors import InferlabError
from inferlab.core.files import atomic_write_json, atomic_write_text
from inferlab.core.rounds import rules_for
from inferlab.results.load import Run
from inferlab.results.models import RunResult
from inferlab.submission.layout import IMPLEMENTATION, PROVENANCE_BEGIN, PROVENANCE_END, Layout
from inferlab.submission.selection import Entry

VIEWABLE = 4096  # the truncated accuracy log keeps this many characters from each end


class SubmissionError(InferlabError):
    exit_code = 2


def truncate_accuracy_log(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst`` truncated as MLPerf's truncate_accuracy_log.py does (first and last
    4096 characters around a marker, when larger); returns the sha256 of the full file."""
    digest = hashlib.sha256()
    with open(src, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    size = src.stat().st_size
    dst.parent.mkdir(parents=True, exist_ok=True)
    if size < VIEWABLE:
        shutil.copyfile(src, dst)
    else:
        with open(src, "rb") as fh:
            head = fh.read(VIEWABLE)
            fh.seek(size - VIEWABLE)
            tail = fh.read(VIEWABLE)
        dst.write_bytes(head + b"\n\n...\n\n" + tail)
    return digest.hexdigest()


def _copy_logs(run: Run, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        src = run.path / name
        if not src.is_file():
            raise SubmissionError(f"{src} is missing", "that run is incomplete; rerun it")
        shutil.copyfile(src, dst / name)


def _weights(result: RunResult) -> tuple[str, str, str]:
    cfg = flat_view(result.config)  # backend settings under their flat names
    model = result.model or {}
    backend = result.backend or {}
    variant = result.benchmark.variant
    if model.get("random_weights", True):
        start = "random initialisation (not the reference weights)"
    else:
        start = str(variant.get("checkpoint_name") or Path(str(cfg.get("model_path"))).name)
    dtype = str(cfg.get("dtype") or "fp32")
    changes = []
    if backend.get("fold_bn") or cfg.get("fold_bn"):
        changes.append("batch-norm folded into convolutions")
    quant = backend.get("quantization") or {}
    if quant.get("format"):  # the 8-bit GEMM path: pointwise convs 8-bit, the rest 16-bit
        rest = quant.get("other_layers_dtype") or "bfloat16"
        changes.append(
            f"post-training static {quant['format']} quantization of "
            f"{quant.get('layers_8bit')} pointwise convolutions (other layers {rest})"
        )
        dtype = f"{quant['format']}, {'bf16' if rest == 'bfloat16' else rest}"
    elif quant:
        changes.append(f"post-training static {dtype} quantization")
    return start, dtype, "; ".join(changes) or "none"


def _measurements(run: Run) -> dict[str, str]:
    start, dtype, changes = _weights(run.result)
    store = run.result.sample_store or {}
    return {
        # samples kept on the device as uint8 crops are what the model's input is made from
        "input_data_types": "uint8" if store.get("kind") == "device" else dtype,
        "retraining": "No",
        "starting_weights_filename": start,
        "weight_data_types": dtype,
        "weight_transformations": changes,
    }


def _command(result: RunResult) -> str:
    cfg = flat_view(result.config)  # backend settings under their flat names
    parts = [f"inferlab run {result.benchmark.id}", f"--scenario {result.scenario}"]
    parts.append(f"--mode {result.mode}")
    for key in ("backend", "device", "dtype", "batch_size", "torch_mode", "count"):
        if cfg.get(key) not in (None, False):
            parts.append(f"--{key.replace('_', '-')} {cfg[key]}")
    if cfg.get("quick"):
        parts.append("--quick")
    if result.audit is not None:
        parts.append(f"--audit {result.audit.test}")
    return " ".join(parts)


def provenance(entry: Entry) -> dict[str, Any]:
    """What check reads back from README.md: the runs and their submittability."""
    runs = {"performance": entry.performance, "accuracy": entry.accuracy, **entry.audits}
    out: dict[str, Any] = {"implementation": IMPLEMENTATION, "runs": {}}
    for kind, run in runs.items():
        if run is None:
            continue
        flags = run.result.flags
        out["runs"][kind] = {
            "run_dir": run.path.name,  # the name only: local paths stay private
            "inferlab_version": run.result.inferlab_version,
            "submittable": bool(flags and flags.submittable),
            "not_submittable_because": list(flags.not_submittable_because if flags else []),
        }
    return out


def _readme(entry: Entry, round_: str) -> str:
    lines = [
        f"# {entry.benchmark} {entry.scenario}: MLPerf Inference {round_}",
        "",
        f"Produced with inferlab {entry.performance.result.inferlab_version}, which runs "
        "the official MLPerf LoadGen; the code directory says how to reproduce it.",
        "",
        "## Commands",
        "",
    ]
    runs = {"performance": entry.performance, "accuracy": entry.accuracy, **entry.audits}
    for kind, run in runs.items():
        if run is not None:
            lines += [f"- {kind}: `{_command(run.result)}`"]
    reasons = sorted(
        {
            why
            for run in runs.values()
            if run is not None
            for why in (run.result.flags.not_submittable_because if run.result.flags else [])
        }
    )
    if reasons:
        lines += ["", "## Not submittable", "", *[f"- {r}" for r in reasons]]
    lines += ["", PROVENANCE_BEGIN, json.dumps(provenance(entry), indent=1), PROVENANCE_END, ""]
    return "\n".join(lines)


def write_entry(lay: Layout, system: str, entry: Entry, round_: str) -> None:
    from inferlab.submission import compliance

    perf = entry.performance
    res_dir = lay.results(system, entry.benchmark, entry.scenario)
    meas_dir = lay.measurements(system, entry.benchmark, entry.scenario)
    meas_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(perf.path / "user.conf", meas_dir / "user.conf")
    atomic_write_text(meas_dir / "README.md", _readme(entry, round_))
    atomic_write_json(
        lay.measurements_json(system, entry.benchmark, entry.scenario), _measurements(perf)
    )
    if round_ == "v4.1":  # v4.1 measurements ship the mlperf.conf the run used
        if (perf.path / "mlperf.conf").is_file():  # supplied by inferlab (no built-in one)
            shutil.copyfile(perf.path / "mlperf.conf", meas_dir / "mlperf.conf")
        else:  # the LoadGen's built-in file: the round's, which inferlab also has
            from inferlab.loadgen.mlperf_conf import render

            atomic_write_text(meas_dir / "mlperf.conf", render(round_))
    _copy_logs(perf, res_dir / "performance" / "run_1")
    acc = entry.accuracy
    if acc is not None:
        acc_dir = res_dir / "accuracy"
        _copy_logs(acc, acc_dir)
        log_src = acc.path / "mlperf_log_accuracy.json"
        txt_src = acc.path / "accuracy.txt"
        if not log_src.is_file() or not txt_src.is_file():
            raise SubmissionError(
                f"{acc.path} has no mlperf_log_accuracy.json/accuracy.txt", "rerun it"
            )
        digest = truncate_accuracy_log(log_src, acc_dir / "mlperf_log_accuracy.json")
        text = txt_src.read_text().rstrip("\n")
        atomic_write_text(acc_dir / "accuracy.txt", f"{text}\n\nhash={digest}\n")
    for test, run in sorted(entry.audits.items()):
        out = lay.compliance(system, entry.benchmark, entry.scenario, test)
        if test == "TEST01":
            if acc is None:
                entry.notes.append("TEST01 not verified: no accuracy run to compare with")
                continue
            dtype = _payload_dtype(acc.result)
            summary = compliance.write_test01(
                out,
                reference_accuracy_log=acc.path / "mlperf_log_accuracy.json",
                reference_detail=perf.path / "mlperf_log_detail.txt",
                test_run_dir=run.path,
                dtype=dtype,
            )
            if not summary.get("accuracy_pass"):
                _test01_fallback(out, entry, acc, run, round_)
            test_log = out / "accuracy" / "mlperf_log_accuracy.json"
            if test_log.is_file():
                digest = truncate_accuracy_log(test_log, test_log.with_suffix(".tmp"))
                os.replace(test_log.with_suffix(".tmp"), test_log)
                atomic_write_text(out / "accuracy" / "accuracy.txt", f"\nhash={digest}\n")
        elif test == "TEST06":
            summary = compliance.write_test06(out, test_run_dir=run.path, scenario=entry.scenario)
        else:
            summary = compliance.write_test04(
                out, reference_detail=perf.path / "mlperf_log_detail.txt", test_run_dir=run.path
            )
        entry.compliance[test] = summary


def _test01_fallback(out: Path, entry: Entry, acc: Run, test_run: Run, round_: str) -> None:
    """TEST01's answer to a non-deterministic SUT (rules §5): score the accuracy run's log
    restricted to the samples TEST01 logged (baseline) and TEST01's own log (compliance) with
    the benchmark's evaluation; the two must agree within the round's delta."""
    from inferlab.results.rescore import evaluate_log
    from inferlab.submission import compliance
    from inferlab.submission.accuracy_txt import parse_accuracy_txt

    brules = rules_for(round_).benchmarks[entry.benchmark]
    test_log = test_run.path / "mlperf_log_accuracy.json"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base_log = Path(tmp) / "mlperf_log_accuracy_baseline.json"
            compliance.baseline_subset(acc.path / "mlperf_log_accuracy.json", test_log, base_log)
            base = evaluate_log(acc.result, base_log, Path(tmp) / "baseline")
            comp = evaluate_log(acc.result, test_log, Path(tmp) / "compliance")
    except InferlabError as exc:
        entry.notes.append(f"TEST01 accuracy differs and the fallback could not be scored: {exc}")
        return
    atomic_write_text(out / "accuracy" / "baseline_accuracy.txt", base)
    atomic_write_text(out / "accuracy" / "compliance_accuracy.txt", comp)
    metrics = [t.metric for t in brules.targets]
    ok, msgs = compliance.accuracy_delta_ok(
        parse_accuracy_txt(base, metrics), parse_accuracy_txt(comp, metrics), brules.delta_percent
    )
    entry.compliance["TEST01_fallback"] = {"passed": ok, "messages": msgs}
    entry.notes.append(
        "TEST01 responses differ from the accuracy run's (non-deterministic SUT): baseline and "
        f"compliance accuracy {'agree' if ok else 'DIFFER: ' + '; '.join(msgs)}"
    )


def _payload_dtype(result: RunResult) -> str:
    dtype = str(result.benchmark.variant.get("output_dtype") or "byte")
    return dtype if dtype in ("float32", "int32", "int64") else "byte"


def code_readme(entries: Sequence[Entry], benchmark: str) -> str:
    runs = [e.performance for e in entries if e.benchmark == benchmark]
    version = runs[0].result.inferlab_version if runs else "?"
    lines = [
        f"# {benchmark}: inferlab {version}",
        "",
        "The results of this benchmark were produced by inferlab, which runs the official",
        "MLPerf LoadGen; install the same version and rerun the commands below.",
        "",
        f"    pip install 'inferlab=={version}'",
        "",
    ]
    for e in entries:
        if e.benchmark == benchmark:
            lines.append(f"    {_command(e.performance.result)}")
    return "\n".join(lines) + "\n"


def calibration_md(entries: Sequence[Entry]) -> str:
    lines = ["# Calibration", ""]
    quant = [(e, (e.performance.result.backend or {}).get("quantization")) for e in entries]
    used = [(e, q) for e, q in quant if q]
    if not used:
        lines.append(
            "No result in this submission is quantized: the weights run in the data type "
            "stated in each measurements file, and no calibration data set was used."
        )
    for e, q in used:
        lines.append(f"## {e.benchmark} {e.scenario}")
        lines.append("")
        lines.append("```")
        lines.append(json.dumps(q, indent=1, default=str))
        lines.append("```")
    return "\n".join(lines) + "\n"
