#!/usr/bin/env python3
"""ResNet50 speed: for each torch mode x dtype, the raw backend loop beside the LoadGen figure.

  raw      the worker's own per-batch path (device-resident samples gathered and normalised on
           the device, predict, copy to host, argmax) over the same QSL, in --loop-threads
           threads per replica, without LoadGen: samples/s
  LoadGen  a real Offline run (`inferlab.runner.api.run`: worker process, dispatch library,
           LoadGen 6.x) with the same settings: LoadGen's samples/s
  efficiency = LoadGen / raw (the harness's cost; target >= 0.97 on a GPU)

Then, for the fastest mode x dtype: the Server peak (`--find-peak`: short probes, then a
confirming run) and SingleStream's p90 (LoadGen's early-stopping estimate, the figure the
checker reads) in --ss-mode (default: the first of --modes). Random weights (throughput does
not depend on them), synthetic images; LoadGen's trace off. Every figure in the table names its
run length. Example (H100):

    python benchmarks/resnet50_speed.py --device cuda --modes eager,compile,cudagraph \\
        --dtypes bf16,fp16,fp8,int8 --batch 256 --loop-threads 2 --offline-ms 10000 \\
        --json h100.json

fp8 and int8 (on CUDA) run the pointwise convolutions as 8-bit GEMMs, the rest bf16; int8 on
the CPU is PyTorch's own quantization. Both calibrate on a labelled stand-in (synthetic images);
each such row prints its scheme and a logit check against fp32.

On a CPU (a plumbing check, not a measurement): --device cpu --variant tiny --modes eager
--dtypes fp32 --batch 16 --raw-batches 8 --offline-ms 500.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def base_config(args: argparse.Namespace, mode: str, dtype: str, **over: Any) -> Any:
    from inferlab.config.run_config import RunConfig

    fields: dict[str, Any] = {
        "benchmark": "resnet50",
        "variant": args.variant,
        "backend": "torch",
        "device": args.device,
        "dtype": dtype,
        "torch_mode": mode,
        "batch_size": args.batch,
        "loop_threads": args.loop_threads,
        "max_inflight_batches": max(2, args.loop_threads),
        "sample_store": args.store,
        "out": args.out,
        "cache_dir": args.out / "cache",
        "quiet": True,
        "watchdog_s": 900.0,
        **over,
    }
    return RunConfig(**fields)


def raw_rate(cfg: Any, n_batches: int) -> dict[str, Any]:
    """The worker's per-batch path, timed without LoadGen (threads pull batch numbers)."""
    from inferlab.core import registry
    from inferlab.runner.backends import build_dataset, build_replicas
    from inferlab.runner.worker import Pipeline, Stores

    spec = registry.get(cfg.benchmark)
    task = registry.resolve(spec.task)
    variant = spec.variant(cfg.variant, cfg.backend)
    dataset = build_dataset(cfg, task, variant, None, cache_dir=None)
    replicas, _ = build_replicas(cfg, spec, variant, task, None, cfg.batch_size, dataset)
    pipes = [Pipeline(dataset, r, task, variant) for r in replicas]
    stores = Stores(pipes)
    qsl = min(dataset.total_count, spec.performance_sample_count)
    stores.load(list(range(qsl)))
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, qsl, size=cfg.batch_size) for _ in range(n_batches)]
    t_warm = time.perf_counter()
    for p in pipes:
        p.warmup(batches[0])
    warm_s = time.perf_counter() - t_warm
    lock = threading.Lock()
    counter = iter(range(n_batches))

    def worker(p: Any) -> None:
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            p.run_batch(batches[k])

    n_threads = cfg.resolved_loop_threads
    threads = [threading.Thread(target=worker, args=(p,)) for p in pipes for _ in range(n_threads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    quant = replicas[0].backend.describe().get("quantization") if replicas else None
    for r in replicas:
        r.backend.close()
    del pipes, stores, replicas
    gc.collect()
    return {
        "samples": n_batches * cfg.batch_size,
        "seconds": round(elapsed, 4),
        "samples_per_s": n_batches * cfg.batch_size / elapsed,
        "warmup_s": round(warm_s, 2),
        "quantization": None
        if not quant
        else {
            "layers_8bit": quant.get("layers_8bit"),
            "scheme": quant.get("scheme"),
            "logit_check": (quant.get("logit_check") or {}).get("line"),
        },
    }


def loadgen_offline(
    args: argparse.Namespace, mode: str, dtype: str, raw_sps: float
) -> dict[str, Any]:
    from inferlab.runner.api import run

    # LoadGen sizes the Offline query as target_qps x min_duration: from the raw rate (+10 %)
    cfg = base_config(
        args,
        mode,
        dtype,
        scenario="Offline",
        calibrate=False,
        loadgen={
            "min_duration": float(args.offline_ms),
            "min_query_count": float(args.batch),
            "target_qps": round(1.1 * raw_sps, 3),
        },
    )
    res = run(cfg).to_json()  # result.json's content
    r = res.get("result") or {}
    return {
        "status": res["status"],
        "samples_per_s": r.get("value"),
        "validity": r.get("validity"),
        "samples": (r.get("counts") or {}).get("samples"),
        "duration_s": (r.get("counts") or {}).get("duration_s"),
        "run_dir": res["run_dir"],
        "error": res.get("error"),
    }


def server_peak(args: argparse.Namespace, mode: str, dtype: str, start: float) -> dict[str, Any]:
    from inferlab.runner.peak import PeakOptions, find_peak

    cfg = base_config(
        args, mode, dtype, scenario="Server", loadgen={"min_duration": float(args.server_ms)}
    )
    opts = PeakOptions(probe_ms=args.probe_ms, max_probes=args.probes, start=start)
    doc = find_peak(cfg, opts)
    return {
        "peak_qps": doc.get("peak", {}).get("qps") if isinstance(doc.get("peak"), dict) else None,
        "doc": doc,
    }


def single_stream(args: argparse.Namespace, mode: str, dtype: str) -> dict[str, Any]:
    from inferlab.runner.api import run

    cfg = base_config(
        args,
        mode,
        dtype,
        scenario="SingleStream",
        loop_threads=1,
        loadgen={"min_duration": float(args.ss_ms), "min_query_count": float(args.ss_queries)},
    )
    res = run(cfg).to_json()  # result.json's content
    r = res.get("result") or {}
    return {
        "mode": mode,
        "dtype": dtype,
        "p90_ms": r.get("value"),
        "validity": r.get("validity"),
        "queries": (r.get("counts") or {}).get("queries"),
        "duration_s": (r.get("counts") or {}).get("duration_s"),
        "run_dir": res["run_dir"],
    }


def environment(device: str) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        env["cuda"] = torch.version.cuda
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--variant", default="pytorch", help="pytorch (ResNet50) or tiny")
    ap.add_argument("--modes", default="eager,compile,cudagraph")
    ap.add_argument("--dtypes", default="bf16,fp16")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--loop-threads", type=int, default=2)
    ap.add_argument("--store", default="auto", help="sample store: auto, device or host")
    ap.add_argument("--raw-batches", type=int, default=200, help="batches in the raw loop")
    ap.add_argument("--offline-ms", type=int, default=10_000, help="LoadGen Offline min_duration")
    ap.add_argument("--no-server", action="store_true", help="skip the Server peak search")
    ap.add_argument("--server-ms", type=int, default=10_000, help="confirming Server run length")
    ap.add_argument("--probe-ms", type=float, default=3000.0, help="Server probe length")
    ap.add_argument("--probes", type=int, default=8, help="most Server probes")
    ap.add_argument("--no-single-stream", action="store_true")
    ap.add_argument("--ss-mode", default=None, help="SingleStream mode (default: first of --modes)")
    ap.add_argument("--ss-ms", type=int, default=5000)
    ap.add_argument("--ss-queries", type=int, default=4096)
    ap.add_argument("--out", type=Path, default=None, help="run directories (default: a temp dir)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="resnet50-speed-")
        args.out = Path(tmp.name)
    modes = [m for m in args.modes.split(",") if m]
    dtypes = [d for d in args.dtypes.split(",") if d]
    info = {"env": environment(args.device), "args": {k: str(v) for k, v in vars(args).items()}}
    print(json.dumps(info["env"]))
    rows: list[dict[str, Any]] = []
    for mode in modes:
        for dtype in dtypes:
            cfg = base_config(args, mode, dtype)
            raw = raw_rate(cfg, args.raw_batches)
            lg = loadgen_offline(args, mode, dtype, raw["samples_per_s"])
            eff = (lg["samples_per_s"] / raw["samples_per_s"]) if lg["samples_per_s"] else None
            row = {"mode": mode, "dtype": dtype, "raw": raw, "loadgen": lg, "efficiency": eff}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items()}, default=str))
    base = next((r for r in rows if r["mode"] == "eager" and r["dtype"] == "bf16"), rows[0])
    base_sps = base["loadgen"]["samples_per_s"] or base["raw"]["samples_per_s"]
    server = None
    if not args.no_server and rows[0]["loadgen"]["samples_per_s"]:
        best = max(rows, key=lambda r: r["loadgen"]["samples_per_s"] or 0)
        start = 0.8 * best["loadgen"]["samples_per_s"]
        server = {"mode": best["mode"], "dtype": best["dtype"]}
        server.update(server_peak(args, best["mode"], best["dtype"], start))
    ss = None
    if not args.no_single_stream:
        ss = single_stream(args, args.ss_mode or modes[0], dtypes[0])

    print()
    env = info["env"]
    print(
        f"# ResNet50 speed, {env.get('gpu', [env['cpu']])[0]}, torch {env['torch']}, {env['date']}"
    )
    print(
        f"# variant {args.variant}, batch {args.batch}, {args.loop_threads} loop thread(s) per "
        f"replica, store {args.store}; raw: {args.raw_batches} batches; LoadGen Offline "
        f"min_duration {args.offline_ms} ms, trace off; random weights, synthetic images"
    )
    print(
        f"{'mode':12} {'dtype':6} {'raw samples/s':>14} {'LoadGen samples/s':>18} "
        f"{'efficiency':>10} {'x ' + base['mode'] + '-' + base['dtype']:>12} {'validity':>9}"
    )
    for r in rows:
        lg = r["loadgen"]
        sps = lg["samples_per_s"]
        print(
            f"{r['mode']:12} {r['dtype']:6} {r['raw']['samples_per_s']:>14,.0f} "
            f"{(sps or 0):>18,.0f} {(r['efficiency'] or 0):>10.3f} "
            f"{(sps or 0) / base_sps:>12.2f} {str(lg['validity']):>9}"
        )
    for r in rows:
        q = r["raw"].get("quantization")
        if q:
            print(f"  {r['mode']} {r['dtype']}: {q['scheme']}")
            if q.get("logit_check"):
                print(f"    {q['logit_check']}")
    if server is not None:
        found = (
            f"{server['peak_qps']:,.1f} QPS VALID"
            if server["peak_qps"]
            else f"no VALID rate confirmed ({server['doc'].get('status')})"
        )
        n = len(server["doc"].get("probes", []))
        print(
            f"Server peak ({server['mode']} {server['dtype']}, {n} probes of {args.probe_ms:.0f} "
            f"ms, confirming run {args.server_ms} ms): {found}"
        )
    if ss is not None:
        print(
            f"SingleStream ({ss['mode']} {ss['dtype']}, {ss['queries']} queries, "
            f"{ss['duration_s']} s): p90 (early-stopping estimate) {ss['p90_ms']} ms, "
            f"{ss['validity']}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"info": info, "rows": rows, "server": server, "single_stream": ss},
                indent=2,
                default=str,
            )
        )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
