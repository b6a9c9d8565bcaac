#!/usr/bin/env python3
"""BERT throughput: padded path vs fast path (length-sorted, batch-padded), raw vs under LoadGen.

Measures, side by side in one process (ratios, not absolute numbers, are what this is for):
  padded  - batches in arrival order, every sequence padded to 384 (the reference SUT's shape)
  sorted  - the whole set sorted longest first, each batch padded to its own longest (x8)
  budget  - sorted, batches cut by a token budget (count x longest <= --max-tokens)
for each --dtypes entry, then the best fast configuration under LoadGen (Offline, a child
process: LoadGen runs once per process) beside the same loop without LoadGen, giving the
harness efficiency. It also compares logits: fast vs padded (same dtype) and each dtype vs fp32,
at the logit level (cosine, relative error, chosen-span agreement), never as an accuracy claim.

Inputs: without --squad, the issue's length mix: --n sequences (2,048) with lengths from a
normal distribution (mean 182, sd 70) clipped to [64, 384], random token ids (seeded). With
--squad DIR (dev-v1.1.json + vocab.txt) the real features and their real lengths.
Weights are random (BERT-large shapes unless --model tiny): throughput does not depend on them.

    python benchmarks/bert_fastpath.py --device cuda --dtypes bf16,fp16 --compile
    python benchmarks/bert_fastpath.py --device cpu --model tiny --n 256 --batch 32   # smoke
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

MAX_LEN = 384


def length_mix(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.normal(182.0, 70.0, size=n)), 64, MAX_LEN).astype(np.int32)


def mix_features(lengths: np.ndarray, seed: int) -> Any:
    """SquadFeatures with the given lengths: [CLS] 20-token query [SEP] context [SEP]."""
    from inferlab.benchmarks.bert.features import SquadFeature, SquadFeatures

    rng = np.random.default_rng([seed, 1])
    n = len(lengths)
    ids = np.zeros((n, MAX_LEN), np.int32)
    mask = np.zeros((n, MAX_LEN), np.int32)
    seg = np.zeros((n, MAX_LEN), np.int32)
    feats = []
    for i, length in enumerate(lengths.tolist()):
        ids[i, :length] = rng.integers(1000, 30000, size=length)
        ids[i, 0], ids[i, 21], ids[i, length - 1] = 101, 102, 102
        mask[i, :length] = 1
        seg[i, 22:length] = 1
        feats.append(SquadFeature(1_000_000_000 + i, i, 0, ("x",) * length, {}, {}))
    return SquadFeatures(tuple(feats), ids, mask, seg, lengths.astype(np.int32))


def build_dataset(args: argparse.Namespace) -> Any:
    from inferlab.benchmarks.bert.dataset import SquadDataset, find_files, load_real

    if args.squad:
        path = Path(args.squad)
        json_path, vocab = find_files(path, None)
        ds = load_real(json_path, vocab, count=None, cache_dir=Path(args.cache_dir))
        ds.source["kind"] = "real SQuAD v1.1 dev features"
        return ds
    feats = mix_features(length_mix(args.n, args.seed), args.seed)
    return SquadDataset([], feats, source={"kind": "length mix N(182, 70) clipped [64, 384]"})


def build_backend(args: argparse.Namespace, dtype: str, compile_: bool) -> Any:
    import torch

    from inferlab.backends.torch.backend import TorchBackend
    from inferlab.backends.torch.config import TorchBackendConfig
    from inferlab.benchmarks.bert.model import BertConfig, build_bert_qa
    from inferlab.benchmarks.bert.spec import TINY_ARCH

    torch.manual_seed(args.seed)
    config = BertConfig(**TINY_ARCH) if args.model == "tiny" else BertConfig.large()
    model = build_bert_qa(config)
    cfg = TorchBackendConfig(
        device=args.device, dtype=dtype, max_batch=args.max_batch, compile=compile_
    )
    return TorchBackend(model, cfg, random_weights=True)


class RunCfg:
    """The RunConfig fields BertTask.batch_plan reads."""

    def __init__(self, padding: str, length_sort: bool, max_tokens: int | None) -> None:
        self.padding = padding
        self.length_sort = length_sort
        self.max_batch_tokens = max_tokens
        self.pad_multiple = 8


def plan_batches(ds: Any, run_cfg: RunCfg, batch: int) -> list[np.ndarray]:
    """The batches the SUT would cut for one Offline query holding every sample."""
    from inferlab.benchmarks.bert.task import TASK
    from inferlab.loadgen.dispatch import cut_batches

    plan = TASK.batch_plan(ds, run_cfg, batch)
    return cut_batches(plan.policy, ds.total_count, plan.order)


def raw_pass(
    ds: Any, backend: Any, batches: list[np.ndarray], threads: int = 1
) -> tuple[float, np.ndarray]:
    """One pass over the batches: gather, predict, postprocess, on ``threads`` threads taking
    batches in order (like the SUT's batch loop). (seconds, payloads by index)."""
    from inferlab.benchmarks.bert.spec import PYTORCH
    from inferlab.benchmarks.bert.task import TASK

    payloads = np.empty((ds.total_count, MAX_LEN, 2), np.float32)
    todo = iter(batches)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                idx = next(todo, None)
            if idx is None:
                return
            try:
                out = backend.predict(ds.get_batch(idx))
                payloads[idx] = TASK.postprocess(out, PYTORCH, idx, ds)
            except BaseException as exc:  # report in the caller
                errors.append(exc)
                return

    t = time.perf_counter()
    if threads == 1:
        work()
    else:
        pool = [threading.Thread(target=work) for _ in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
    sec = time.perf_counter() - t
    if errors:
        raise errors[0]
    return sec, payloads


def measure(
    ds: Any, backend: Any, batches: list[np.ndarray], repeats: int, threads: int = 1
) -> dict[str, Any]:
    raw_pass(ds, backend, batches)  # warm-up: every shape once (compile, cuDNN/cuBLAS choices)
    times = []
    payloads = None
    for _ in range(repeats):
        sec, payloads = raw_pass(ds, backend, batches, threads)
        times.append(sec)
    best = min(times)
    n = ds.total_count
    return {
        "samples": n,
        "batches": len(batches),
        "seconds_best": round(best, 4),
        "seconds_median": round(float(np.median(times)), 4),
        "samples_per_s": round(n / best, 2),
        "padded_tokens": int(sum(len(b) * ds.batch_length(b) for b in batches)),
        "real_tokens": int(ds.lengths.sum()),
        "_payloads": payloads,
    }


def compare(ref: np.ndarray, other: np.ndarray, lengths: np.ndarray) -> dict[str, Any]:
    from inferlab.benchmarks.bert.logits import compare_logits

    return compare_logits(ref, other, lengths).as_dict()


# ---------------------------------------------------------------------------- LoadGen child
def loadgen_child(args: argparse.Namespace) -> dict[str, Any]:
    """Raw loop and LoadGen Offline on the same backend and batches, in this process."""
    from inferlab.benchmarks.bert.spec import PYTORCH
    from inferlab.benchmarks.bert.task import TASK
    from inferlab.loadgen.adapter import BatchLoop, TestSpec, complete_to_loadgen, run_test
    from inferlab.loadgen.dispatch import Dispatcher
    from inferlab.loadgen.logs import outcome, parse_detail, parse_summary

    ds = build_dataset(args)
    backend = build_backend(args, args.child_dtype, args.compile)
    rc = RunCfg("batch", True, args.child_tokens or None)
    batches = plan_batches(ds, rc, args.batch)
    raw = measure(ds, backend, batches, args.repeats, args.loop_threads)
    raw.pop("_payloads")
    plan = TASK.batch_plan(ds, rc, args.batch)

    def run_batch(idx: np.ndarray) -> np.ndarray:
        return TASK.postprocess(backend.predict(ds.get_batch(idx)), PYTORCH, idx, ds)

    n = ds.total_count
    samples = n * args.loadgen_passes
    with tempfile.TemporaryDirectory(prefix="bert-lg-") as tmp:
        out = Path(tmp)
        conf = out / "user.conf"
        conf.write_text(
            f"bert.Offline.target_qps = {samples / 10.0}\n"  # ~10 s of expected work
            f"bert.Offline.min_query_count = {samples}\n"
            "bert.Offline.min_duration = 0\n"
            f"bert.Offline.performance_sample_count_override = {n}\n"
        )
        dispatcher = Dispatcher(
            plan.policy,
            complete_to_loadgen,
            order=plan.order,
            max_inflight_batches=max(2, args.loop_threads),
        )
        loop = BatchLoop(dispatcher, run_batch, threads=args.loop_threads)
        spec = TestSpec(conf, "bert", "Offline", "performance", out, n, n, None, False)
        loop.start()
        t = time.perf_counter()
        run_test(spec, load=lambda i: None, unload=lambda i: None, dispatcher=dispatcher)
        wall = time.perf_counter() - t
        loop.stop()
        after = measure(ds, backend, batches, args.repeats, args.loop_threads)  # drift check
        after.pop("_payloads")
        oc = outcome(
            parse_detail(out / "mlperf_log_detail.txt"),
            parse_summary(out / "mlperf_log_summary.txt"),
        )
    lg_rate = float(oc.result or 0.0)
    raw_rate = (raw["samples_per_s"] + after["samples_per_s"]) / 2  # before and after LoadGen
    raw["samples_per_s_after"] = after["samples_per_s"]
    raw["samples_per_s_mean"] = round(raw_rate, 1)
    return {
        "dtype": args.child_dtype,
        "max_tokens": args.child_tokens or None,
        "raw": raw,
        "loadgen": {
            "samples_per_s": round(lg_rate, 1),
            "samples": oc.sample_count,
            "duration_s": oc.duration_s,
            "wall_s": round(wall, 3),
            "validity": oc.validity,
        },
        "harness_efficiency": round(lg_rate / raw_rate, 4) if lg_rate else None,
    }


# ---------------------------------------------------------------------------- main
def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU {platform.processor() or platform.machine()} x{os.cpu_count()} threads"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", choices=("large", "tiny"), default="large")
    ap.add_argument("--dtypes", default="fp32", help="comma list of fp32, bf16, fp16")
    ap.add_argument("--n", type=int, default=2048, help="sequences in the length mix")
    ap.add_argument("--squad", help="directory with dev-v1.1.json + vocab.txt (real lengths)")
    ap.add_argument(
        "--cache-dir", default=str(Path.home() / ".cache" / "inferlab" / "preprocessed")
    )
    ap.add_argument("--batch", type=int, default=128, help="batch size (padded and sorted)")
    ap.add_argument("--max-batch", type=int, default=512, help="largest batch a budget may cut")
    ap.add_argument("--max-tokens", default="24576,49152", help="token budgets to try (comma)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument(
        "--loop-threads", type=int, default=1, help="batch threads, raw and under LoadGen"
    )
    ap.add_argument("--no-loadgen", action="store_true")
    ap.add_argument("--loadgen-passes", type=int, default=2, help="LoadGen samples = passes x n")
    ap.add_argument("--check-n", type=int, default=256, help="samples for the vs-fp32 check")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--_child-dtype", dest="child_dtype", help=argparse.SUPPRESS)
    ap.add_argument("--_child-tokens", dest="child_tokens", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_dtype:
        print("CHILD-RESULT " + json.dumps(loadgen_child(args)))
        return 0

    ds = build_dataset(args)
    budgets = [int(x) for x in args.max_tokens.split(",") if x.strip()]
    configs: list[tuple[str, RunCfg, int]] = [
        ("padded", RunCfg("max", False, None), args.batch),
        ("sorted", RunCfg("batch", True, None), args.batch),
    ] + [(f"budget {b}", RunCfg("batch", True, b), args.max_batch) for b in budgets]
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    info = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": device_name(args.device),
        "model": "BERT-large (random weights)" if args.model == "large" else "tiny BERT",
        "inputs": ds.source.get("kind"),
        "samples": ds.total_count,
        "length_mean": round(float(ds.lengths.mean()), 1),
        "compile": args.compile,
        "loop_threads": args.loop_threads,
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
    }
    print(json.dumps(info))
    rows: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    fp32_ref = None
    if any(d != "fp32" for d in dtypes):  # the fp32 reference for the precision check
        sub = np.arange(min(args.check_n, ds.total_count))
        sub_batches = [sub[i : i + 32] for i in range(0, len(sub), 32)]
        ds.set_padding("batch", 8)
        be = build_backend(args, "fp32", False)
        _, fp32_ref = raw_pass(ds, be, sub_batches)
        be.close()
    for dtype in dtypes:
        backend = build_backend(args, dtype, args.compile)
        padded_payloads = None
        base = None
        for name, rc, batch in configs:
            batches = plan_batches(ds, rc, batch)
            r = measure(ds, backend, batches, args.repeats, args.loop_threads)
            payloads = r.pop("_payloads")
            if name == "padded":
                padded_payloads, base = payloads, r["seconds_best"]
            else:
                checks[f"{dtype} {name} vs padded"] = compare(padded_payloads, payloads, ds.lengths)
            speedup = round(base / r["seconds_best"], 3)  # same samples: time ratio
            r.update(dtype=dtype, path=name, batch=batch, vs_padded=speedup)
            r["padding_waste"] = round(1 - r["real_tokens"] / r["padded_tokens"], 3)
            rows.append(r)
            print(json.dumps(r))
        if fp32_ref is not None and dtype != "fp32":
            sub = np.arange(min(args.check_n, ds.total_count))
            _, mine = raw_pass(ds, backend, [sub[i : i + 32] for i in range(0, len(sub), 32)])
            checks[f"{dtype} vs fp32"] = compare(
                fp32_ref[: len(sub)], mine[: len(sub)], ds.lengths[: len(sub)]
            )
        backend.close()

    children = []
    if not args.no_loadgen:
        for dtype in dtypes:
            best = max(
                (r for r in rows if r["dtype"] == dtype and r["path"] != "padded"),
                key=lambda r: r["samples_per_s"],
            )
            tokens = int(best["path"].split()[1]) if best["path"].startswith("budget") else 0
            cmd = [
                sys.executable,
                __file__,
                *(argv or sys.argv[1:]),
                "--_child-dtype",
                dtype,
                "--_child-tokens",
                str(tokens),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = next(
                (x for x in proc.stdout.splitlines() if x.startswith("CHILD-RESULT ")), None
            )
            if line is None:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                raise SystemExit(f"LoadGen child for {dtype} failed (rc {proc.returncode})")
            child = json.loads(line.split(" ", 1)[1])
            child["path"] = best["path"]
            children.append(child)

    print()
    print(f"# {info['model']} on {info['device']}, {info['date']}")
    print(
        f"# inputs: {info['inputs']}, {info['samples']} samples, mean length "
        f"{info['length_mean']}, compile={args.compile}, loop threads {args.loop_threads}, "
        f"best of {args.repeats} passes"
    )
    print(
        f"{'dtype':5} {'path':14} {'batch':>5} {'batches':>7} {'waste':>6} {'s/pass':>8} "
        f"{'samples/s':>10} {'x padded':>8}"
    )
    for r in rows:
        print(
            f"{r['dtype']:5} {r['path']:14} {r['batch']:>5} {r['batches']:>7} "
            f"{r['padding_waste']:>6.1%} {r['seconds_best']:>8.3f} {r['samples_per_s']:>10.1f} "
            f"{r['vs_padded']:>8.3f}"
        )
    for c in children:
        lg = c["loadgen"]
        print(
            f"LoadGen Offline {c['dtype']} {c['path']}: {lg['samples_per_s']:.1f} samples/s "
            f"({lg['samples']} samples, {lg['duration_s']} s, {lg['validity']}); same loop raw "
            f"{c['raw']['samples_per_s']:.1f}/s before, {c['raw']['samples_per_s_after']:.1f}/s "
            f"after; harness efficiency {c['harness_efficiency']} (vs their mean)"
        )
    for name, chk in checks.items():
        print(
            f"logits {name}: cosine mean {chk.get('cosine_mean')}, min {chk.get('cosine_min')},"
            f" start/end argmax agree {chk.get('argmax_agreement')}, "
            f"span agree {chk.get('span_agreement')}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"info": info, "rows": rows, "loadgen": children, "checks": checks}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
