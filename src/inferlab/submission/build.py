"""``inferlab submission build``: stored runs -> a submission tree in the round's layout.

A pure function of the run directories (and the system description): nothing is re-run. The
tree is written into a temporary sibling directory and renamed into place at the end, so an
interrupted build leaves no half tree, and an existing ``--out`` is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferlab.core.errors import ConfigError, InferlabError
from inferlab.core.files import atomic_write_json, atomic_write_text
from inferlab.core.rounds import CATEGORIES, DIVISIONS, rules_for
from inferlab.report.table import Run
from inferlab.submission.layout import (
    IMPLEMENTATION,
    PROVENANCE_BEGIN,
    PROVENANCE_END,
    Layout,
    safe_name,
)

log = logging.getLogger(__name__)

VIEWABLE = 4096  # the truncated accuracy log keeps this many characters from each end
AUDITS = ("TEST01", "TEST04")


class SubmissionError(InferlabError):
    exit_code = 2


@dataclass(frozen=True)
class BuildOptions:
    submitter: str
    division: str
    category: str
    out: Path
    system_desc: Path | None = None  # None: the system the runs captured
    system_name: str | None = None
    round: str | None = None


@dataclass
class Entry:
    """One benchmark/scenario of the tree and the runs it was built from."""

    benchmark: str  # checker name
    scenario: str
    performance: Run
    accuracy: Run | None = None
    audits: dict[str, Run] = field(default_factory=dict)
    ignored: list[Run] = field(default_factory=list)
    compliance: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "scenario": self.scenario,
            "performance": str(self.performance.path),
            "accuracy": str(self.accuracy.path) if self.accuracy else None,
            "audits": {k: str(v.path) for k, v in self.audits.items()},
            "ignored": [str(r.path) for r in self.ignored],
            "compliance": self.compliance,
            "notes": self.notes,
        }


@dataclass
class BuildReport:
    tree: Path
    round: str
    system: str
    entries: list[Entry]
    warnings: list[str]
    skipped: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree": str(self.tree),
            "round": self.round,
            "system": self.system,
            "entries": [e.describe() for e in self.entries],
            "warnings": self.warnings,
            "skipped": self.skipped,
        }


def _audit(run: Run) -> str | None:
    audit = run.result.get("audit") or {}
    return audit.get("test") if isinstance(audit, dict) else None


def _check_options(opts: BuildOptions) -> None:
    if opts.division not in DIVISIONS:
        raise ConfigError(
            f"--division {opts.division}: not a division inferlab builds",
            f"use one of {', '.join(DIVISIONS)} (network division: later work)",
        )
    if opts.category not in CATEGORIES:
        raise ConfigError(
            f"--category {opts.category}: unknown", f"use one of {', '.join(CATEGORIES)}"
        )
    if not opts.submitter or safe_name(opts.submitter) != opts.submitter:
        raise ConfigError(
            f"--submitter {opts.submitter!r} cannot be a directory name",
            "use letters, digits, '-', '_' or '.' (e.g. --submitter MyOrg)",
        )
    if opts.out.exists():
        raise ConfigError(
            f"--out {opts.out} already exists; a build never overwrites a tree",
            "choose a new --out directory (or remove the old tree yourself)",
        )


def _round_of(runs: Sequence[Run], wanted: str | None) -> str:
    rounds = sorted({str(r.result.get("round")) for r in runs})
    if wanted is not None:
        rules_for(wanted)
        other = [str(r.path) for r in runs if r.result.get("round") != wanted]
        if other:
            raise ConfigError(
                f"--round {wanted}, but these runs were made for another round: {other[:3]}",
                "a round is fixed by the LoadGen that ran it (docs/rounds.md); pass runs of one "
                "round",
            )
        return wanted
    if len(rounds) != 1 or rounds[0] == "None":
        raise ConfigError(
            f"the runs belong to different or unknown rounds: {rounds}",
            "build one tree per round (see result.json 'round'), or pass --round",
        )
    rules_for(rounds[0])
    return rounds[0]


def select(
    runs: Sequence[Run], round_: str, category: str, division: str
) -> tuple[list[Entry], list[str], list[str]]:
    """Group runs into tree entries; newest run wins where there are several of a kind.
    Returns (entries, warnings, refusals)."""
    rules = rules_for(round_)
    warnings: list[str] = []
    refused: list[str] = []
    groups: dict[tuple[str, str], dict[str, list[Run]]] = {}
    for run in runs:
        r = run.result
        status = r.get("status")
        if status not in ("ok", "invalid"):
            warnings.append(f"{run.path}: status {status}: not used (only finished runs are)")
            continue
        bench = (r.get("benchmark") or {}).get("checker_name")
        scenario = str(r.get("scenario"))
        brules = rules.benchmark(str(bench))
        if brules is None:
            refused.append(
                f"{run.path}: round {round_} has no benchmark {bench!r}; such a run can still "
                "be reported as a measurement (`inferlab report`)"
            )
            continue
        if scenario not in brules.scenarios(category):
            have = ", ".join(brules.scenarios(category)) or "none"
            refused.append(
                f"{run.path}: round {round_} has no {scenario} for {bench} in the {category} "
                f"category (it has: {have}); report it as a measurement (`inferlab report`) or "
                "choose the other --category"
            )
            continue
        audit = _audit(run)
        kind = audit or str(r.get("mode"))
        groups.setdefault((str(bench), scenario), {}).setdefault(kind, []).append(run)
    entries: list[Entry] = []
    for (bench, scenario), kinds in sorted(groups.items()):
        chosen: dict[str, Run] = {}
        ignored: list[Run] = []
        for kind, group in kinds.items():
            ordered = sorted(group, key=lambda x: str(x.result.get("finished_at")))
            chosen[kind] = ordered[-1]
            ignored += ordered[:-1]
        perf = chosen.pop("performance", None)
        if perf is None:
            refused.append(
                f"{bench} {scenario}: no performance run among the runs given; run "
                f"`inferlab run ... --scenario {scenario}` and pass its directory"
            )
            continue
        entry = Entry(bench, scenario, perf, chosen.pop("accuracy", None), ignored=ignored)
        entry.audits = {k: v for k, v in chosen.items() if k in AUDITS}
        warnings += [f"{bench} {scenario}: {w}" for w in _mismatches(entry)]
        for run in ignored:
            warnings.append(f"{bench} {scenario}: {run.path} not used (a newer run of its kind is)")
        if entry.accuracy is None:
            warnings.append(f"{bench} {scenario}: no accuracy run: accuracy/ will be missing")
        if division == "closed":
            for test in rules.benchmarks[bench].compliance:
                if test not in entry.audits:
                    warnings.append(
                        f"{bench} {scenario}: no {test} run: {test}/ will be missing "
                        f"(run with --audit {test})"
                        if test in AUDITS
                        else f"{bench} {scenario}: {test} is required and inferlab cannot run "
                        "it yet"
                    )
        entries.append(entry)
    return entries, warnings, refused


# What must be the same in the runs of one result: the system under test and its data.
SAME_CONFIG = ("backend", "device", "dtype", "variant", "model_path", "torch_mode", "fold_bn")
SAME_DATASET = ("dataset_id", "path", "total_count", "seed", "transform_key")


def _mismatches(entry: Entry) -> list[str]:
    """Differences between the performance run and the entry's other runs that make them
    results of different systems (or data)."""
    base = entry.performance.result
    out = []
    others = {"accuracy": entry.accuracy, **entry.audits}
    for kind, run in others.items():
        if run is None:
            continue
        for section, keys in (("config", SAME_CONFIG), ("dataset", SAME_DATASET)):
            a, b = base.get(section) or {}, run.result.get(section) or {}
            diff = [k for k in keys if a.get(k) != b.get(k)]
            if diff:
                what = ", ".join(f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in diff)
                out.append(f"the {kind} run differs from the performance run in {section}: {what}")
    return out


def _system_desc(opts: BuildOptions, runs: Sequence[Run]) -> tuple[dict[str, Any], list[str]]:
    warnings: list[str] = []
    if opts.system_desc is not None:
        try:
            desc = json.loads(opts.system_desc.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"--system-desc {opts.system_desc} does not exist", "check the path"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"--system-desc {opts.system_desc} is not a JSON object: {exc}",
                "pass a systems/<system>.json file (see docs/submission.md)",
            ) from None
        if not isinstance(desc, dict):
            raise ConfigError(
                f"--system-desc {opts.system_desc} is not a JSON object", "see docs/submission.md"
            )
    else:
        captured = next((r.result.get("system") for r in runs if r.result.get("system")), None)
        if not isinstance(captured, dict):
            raise ConfigError(
                "no --system-desc and the runs recorded no system description",
                "pass --system-desc FILE (fields: docs/submission.md)",
            )
        desc = {k: v for k, v in captured.items() if not k.startswith("_")}
        warnings.append(
            "system description taken from what the runs captured; fill the empty fields "
            "(`inferlab submission check` lists them) or pass --system-desc"
        )
    for key, value in list(desc.items()):
        if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
            desc[key] = "0"  # the official checker reads a number 0 as an empty field
    for key, value in (("division", opts.division), ("submitter", opts.submitter)):
        if desc.get(key) not in (None, "", value):
            warnings.append(f"system description {key}={desc.get(key)!r} replaced by {value!r}")
        desc[key] = value
    if desc.get("system_type") in (None, ""):
        desc["system_type"] = opts.category
    elif opts.category not in str(desc["system_type"]).split(","):
        raise ConfigError(
            f"the system description says system_type={desc['system_type']!r} but --category "
            f"is {opts.category}",
            "make them agree",
        )
    return desc, warnings


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


def _weights(result: dict[str, Any]) -> tuple[str, str, str]:
    cfg = result.get("config") or {}
    model = result.get("model") or {}
    backend = result.get("backend") or {}
    variant = (result.get("benchmark") or {}).get("variant") or {}
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
    store = run.result.get("sample_store") or {}
    return {
        # samples kept on the device as uint8 crops are what the model's input is made from
        "input_data_types": "uint8" if store.get("kind") == "device" else dtype,
        "retraining": "No",
        "starting_weights_filename": start,
        "weight_data_types": dtype,
        "weight_transformations": changes,
    }


def _command(result: dict[str, Any]) -> str:
    cfg = result.get("config") or {}
    bench = (result.get("benchmark") or {}).get("id")
    parts = [f"inferlab run {bench}", f"--scenario {result.get('scenario')}"]
    parts.append(f"--mode {result.get('mode')}")
    for key in ("backend", "device", "dtype", "batch_size", "torch_mode", "count"):
        if cfg.get(key) not in (None, False):
            parts.append(f"--{key.replace('_', '-')} {cfg[key]}")
    if cfg.get("quick"):
        parts.append("--quick")
    audit = (result.get("audit") or {}).get("test")
    if audit:
        parts.append(f"--audit {audit}")
    return " ".join(parts)


def provenance(entry: Entry) -> dict[str, Any]:
    """What check reads back from README.md: the runs and their submittability."""
    runs = {"performance": entry.performance, "accuracy": entry.accuracy, **entry.audits}
    out: dict[str, Any] = {"implementation": IMPLEMENTATION, "runs": {}}
    for kind, run in runs.items():
        if run is None:
            continue
        flags = run.result.get("flags") or {}
        out["runs"][kind] = {
            "run_dir": run.path.name,  # the name only: local paths stay private
            "inferlab_version": run.result.get("inferlab_version"),
            "submittable": bool(flags.get("submittable")),
            "not_submittable_because": list(flags.get("not_submittable_because") or []),
        }
    return out


def _readme(entry: Entry, round_: str) -> str:
    lines = [
        f"# {entry.benchmark} {entry.scenario}: MLPerf Inference {round_}",
        "",
        f"Produced with inferlab {entry.performance.result.get('inferlab_version')}, which runs "
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
            for why in (run.result.get("flags") or {}).get("not_submittable_because") or []
        }
    )
    if reasons:
        lines += ["", "## Not submittable", "", *[f"- {r}" for r in reasons]]
    lines += ["", PROVENANCE_BEGIN, json.dumps(provenance(entry), indent=1), PROVENANCE_END, ""]
    return "\n".join(lines)


def _write_entry(lay: Layout, system: str, entry: Entry, round_: str) -> None:
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


def _payload_dtype(result: dict[str, Any]) -> str:
    variant = (result.get("benchmark") or {}).get("variant") or {}
    dtype = str(variant.get("output_dtype") or "byte")
    return dtype if dtype in ("float32", "int32", "int64") else "byte"


def _code_readme(entries: Sequence[Entry], benchmark: str) -> str:
    runs = [e.performance for e in entries if e.benchmark == benchmark]
    version = runs[0].result.get("inferlab_version") if runs else "?"
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


def _calibration_md(entries: Sequence[Entry]) -> str:
    lines = ["# Calibration", ""]
    quant = [(e, (e.performance.result.get("backend") or {}).get("quantization")) for e in entries]
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


def build(runs: Sequence[Run], opts: BuildOptions) -> BuildReport:
    _check_options(opts)
    if not runs:
        raise ConfigError("no runs given", "pass run directories (or folders holding them)")
    round_ = _round_of(runs, opts.round)
    rules = rules_for(round_)
    entries, warnings, refused = select(runs, round_, opts.category, opts.division)
    if refused and not entries:
        raise SubmissionError(refused[0], "see the other messages above")
    if not entries:
        raise SubmissionError("no run can go into the tree", "pass finished performance runs")
    desc, desc_warnings = _system_desc(opts, [e.performance for e in entries])
    warnings += desc_warnings
    system = safe_name(opts.system_name or str(desc.get("system_name") or "system"))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{opts.out.name}.", dir=opts.out.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the tree is meant to be shared
    try:
        lay = Layout(tmp, opts.division, opts.submitter, rules.layout)
        atomic_write_json(lay.system_json(system), desc)
        for bench in sorted({e.benchmark for e in entries}):
            atomic_write_text(lay.code_dir(bench) / "README.md", _code_readme(entries, bench))
        doc = [
            f"# MLPerf Inference {round_} submission of {opts.submitter}",
            "",
            f"inferlab-round: {round_}",
            "",
            f"Built by inferlab from {len(entries)} result(s); check it with "
            "`inferlab submission check`.",
        ]
        atomic_write_text(lay.documentation / "README.md", "\n".join(doc) + "\n")
        if opts.division == "closed":
            atomic_write_text(lay.documentation / "calibration.md", _calibration_md(entries))
        for entry in entries:
            _write_entry(lay, system, entry, round_)
        os.rename(tmp, opts.out)  # fails if a non-empty --out appeared meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for e in entries:
        warnings += [f"{e.benchmark} {e.scenario}: {n}" for n in e.notes]
    return BuildReport(opts.out, round_, system, entries, warnings, refused)


__all__ = ["BuildOptions", "BuildReport", "build", "select", "truncate_accuracy_log"]
