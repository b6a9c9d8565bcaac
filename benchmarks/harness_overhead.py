#!/usr/bin/env python3
"""Harness overhead: inferlab's SUT path with the null backend vs a naive Python SUT, under the
official LoadGen, same command, same settings.

  naive            - ConstructSUT; every sample completed inline in the issue callback, one
                     QuerySamplesComplete per sample (inferlab.loadgen.naive)
  inferlab         - the worker's path: fast SUT callback -> dispatch library (the worker's
                     plan: fixed batches of --batch; in Server a latency budget) -> one batch
                     thread -> null backend (zeros, ResNet50's 1000 outputs) -> ResNet50
                     postprocess -> bulk completion
  inferlab-native  - the same, but LoadGen issues to the native C++ SUT (native_issue=on:
                     IssueQuery only queues, no Python) and a pump thread hands the queued
                     samples to the dispatcher in bulk (inferlab.loadgen.native)

All answer every sample with one float32 (ResNet50's payload); none computes anything, so
what is measured is the harness. Offline: samples/s, median of --repeats runs. Server: the
highest VALID target_qps among probes (geometric, x --step, each a full LoadGen test, one
process per test; the SUTs alternate at each rate) at ResNet50's 15 ms bound. LoadGen
trace off (on with --trace), query coalescing off, same QSL (1,024 samples), same durations.

    python benchmarks/harness_overhead.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

QSL = 1024
SUTS = ("naive", "inferlab", "inferlab-native")


def child(args: argparse.Namespace) -> dict[str, Any]:
    from inferlab.loadgen.adapter import TestSpec
    from inferlab.loadgen.logs import outcome, parse_detail, parse_summary

    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp:
        out = Path(tmp)
        conf = out / "user.conf"
        s = args.scenario
        lines = [f"resnet50.{s}.performance_sample_count_override = {QSL}"]
        if s == "Offline":
            lines += [
                f"resnet50.Offline.min_query_count = {args.samples}",
                "resnet50.Offline.min_duration = 0",
                "resnet50.Offline.target_qps = 1",  # the count comes from min_query_count
            ]
        else:
            lines += [
                f"resnet50.Server.target_qps = {args.qps}",
                f"resnet50.Server.min_duration = {args.server_ms}",
                f"resnet50.Server.min_query_count = {args.server_queries}",
            ]
        conf.write_text("\n".join(lines) + "\n")
        spec = TestSpec(conf, "resnet50", s, "performance", out, QSL, QSL, None, args.trace)
        t = time.perf_counter()
        issue_path = "python"
        if args.sut == "naive":
            from inferlab.loadgen.naive import run_naive_test

            run_naive_test(spec)
        else:
            issue_path = run_inferlab(spec, args.batch, native=args.sut == "inferlab-native")
        wall = time.perf_counter() - t
        oc = outcome(
            parse_detail(out / "mlperf_log_detail.txt"),
            parse_summary(out / "mlperf_log_summary.txt"),
        )
    return {
        "sut": args.sut,
        "issue_path": issue_path,
        "scenario": s,
        "qps": args.qps,
        "result": oc.result,
        "validity": oc.validity,
        "samples": oc.sample_count,
        "duration_s": oc.duration_s,
        "wall_s": round(wall, 3),
        "reasons": oc.invalid_reasons,
    }


def run_inferlab(spec: Any, batch: int, *, native: bool = False) -> str:
    """The worker's path; with ``native`` LoadGen issues to the native queue. Returns the issue
    path that ran ("native" or "python")."""
    import dataclasses

    from inferlab.backends.null.backend import NullBackend
    from inferlab.benchmarks.resnet50.spec import PYTORCH, SPEC
    from inferlab.benchmarks.resnet50.task import TASK
    from inferlab.config.run_config import RunConfig
    from inferlab.loadgen.adapter import BatchLoop, complete_to_loadgen, run_test
    from inferlab.loadgen.dispatch import Dispatcher
    from inferlab.runner.worker import server_plan, with_policy

    backend = NullBackend(output_shape=(1000,), max_batch=batch)

    def run_batch(idx: np.ndarray) -> np.ndarray:
        return TASK.postprocess(backend.predict(idx), PYTORCH, idx, None)  # type: ignore[arg-type]

    # the worker's own plan: fixed batches, a latency budget in Server
    cfg = RunConfig(scenario=spec.scenario, backend="null")
    task_plan = with_policy(TASK.batch_plan(None, cfg, batch), batch)  # type: ignore[arg-type]
    plan = server_plan(task_plan, cfg, SPEC.server_latency_ms)
    dispatcher = Dispatcher(plan.policy, complete_to_loadgen)
    loop = BatchLoop(dispatcher, run_batch, threads=1)
    if native:
        spec = dataclasses.replace(spec, native_issue="on")
    used: list[str] = []
    loop.start()
    run_test(
        spec,
        load=lambda i: None,
        unload=lambda i: None,
        dispatcher=dispatcher,
        on_issue_path=lambda path, detail: used.append(path),
    )
    loop.stop()
    return used[0]


def launch(argv: list[str], **kw: Any) -> dict[str, Any]:
    extra = [f"--_{k}={v}" for k, v in kw.items()]
    proc = subprocess.run(
        [sys.executable, __file__, *argv, *extra], capture_output=True, text=True, check=False
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("CHILD-RESULT ")), None)
    if line is None:
        raise SystemExit(f"child {kw} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(line.split(" ", 1)[1])


def server_peaks(
    argv: list[str], suts: tuple[str, ...], start: float, step: float, probes: int
) -> dict[str, list[dict]]:
    """Probe ascending target_qps, every SUT at each rate (interleaved, so that the machine's
    drift hits them alike), each SUT until its first INVALID (or `probes` rates)."""
    out: dict[str, list[dict]] = {s: [] for s in suts}
    live = list(suts)
    qps = start
    for _ in range(probes):
        for sut in list(live):
            r = launch(argv, sut=sut, scenario="Server", qps=round(qps, 1))
            out[sut].append(r)
            print(json.dumps({k: r[k] for k in ("sut", "qps", "result", "validity", "wall_s")}))
            if r["validity"] != "VALID":
                live.remove(sut)
        if not live:
            break
        qps *= step
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--samples", type=int, default=500_000, help="Offline samples per run")
    ap.add_argument("--repeats", type=int, default=3, help="Offline runs per SUT (median)")
    ap.add_argument("--server-start", type=float, default=2000.0, help="first Server probe QPS")
    ap.add_argument("--step", type=float, default=1.5, help="Server probe ratio")
    ap.add_argument("--probes", type=int, default=10, help="most Server probes per SUT")
    ap.add_argument("--server-ms", type=int, default=3000, help="Server min_duration (ms)")
    ap.add_argument(
        "--server-queries",
        type=int,
        default=2048,
        help="Server min_query_count (early stopping needs >= 459 at 0 late queries)",
    )
    ap.add_argument("--batch", type=int, default=256, help="inferlab's max batch")
    ap.add_argument("--trace", action="store_true", help="LoadGen trace on (default off)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument(
        "--suts",
        default=",".join(SUTS),
        help=f"comma-separated SUTs to measure, of {', '.join(SUTS)} (naive is the reference)",
    )
    ap.add_argument("--_sut", dest="sut", help=argparse.SUPPRESS)
    ap.add_argument("--_scenario", dest="scenario", help=argparse.SUPPRESS)
    ap.add_argument("--_qps", dest="qps", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sut:
        print("CHILD-RESULT " + json.dumps(child(args)))
        return 0
    argv = list(argv if argv is not None else sys.argv[1:])
    suts = tuple(x for x in args.suts.split(",") if x)
    unknown = [x for x in suts if x not in SUTS]
    if unknown:
        raise SystemExit(f"unknown SUT(s) {unknown}: choose from {', '.join(SUTS)}")
    info = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": f"{platform.processor() or platform.machine()} x{os.cpu_count()}",
        "python": platform.python_version(),
        "settings": {
            "offline_samples": args.samples,
            "repeats": args.repeats,
            "server_min_duration_ms": args.server_ms,
            "server_min_query_count": args.server_queries,
            "qsl": QSL,
            "trace": args.trace,
            "coalescing": False,
            "inferlab_batch": args.batch,
            "suts": list(suts),
        },
    }
    print(json.dumps(info))
    offline: dict[str, list[dict]] = {s: [] for s in suts}
    for _ in range(args.repeats):  # interleaved, so drift hits them alike
        for sut in offline:
            r = launch(argv, sut=sut, scenario="Offline", qps=0)
            offline[sut].append(r)
            print(json.dumps({k: r[k] for k in ("sut", "result", "validity", "wall_s")}))
    server = server_peaks(argv, suts, args.server_start, args.step, args.probes)
    med = {s: statistics.median(float(r["result"] or 0) for r in rs) for s, rs in offline.items()}
    peak = {
        s: max((r["qps"] for r in rs if r["validity"] == "VALID"), default=0.0)
        for s, rs in server.items()
    }
    print()
    print(f"# harness overhead, {info['cpu']}, Python {info['python']}, {info['date']}")
    print(
        f"# Offline: {args.samples} samples per run, median of {args.repeats}; Server: probes "
        f"x{args.step} from {args.server_start} QPS, {args.server_ms} ms each; trace "
        f"{'on' if args.trace else 'off'}; QSL {QSL}"
    )
    print(f"{'SUT':16} {'Offline samples/s':>18} {'runs':>34} {'Server peak VALID QPS':>22}")
    for s in suts:
        runs = ", ".join(f"{float(r['result'] or 0):,.0f}" for r in offline[s])
        print(f"{s:16} {med[s]:>18,.0f} {runs:>34} {peak[s]:>22,.1f}")
    if "naive" in suts and med["naive"] and peak["naive"]:
        for s in suts:
            if s != "naive":
                print(
                    f"{s} / naive: Offline {med[s] / med['naive']:.2f}x, "
                    f"Server peak {peak[s] / peak['naive']:.2f}x"
                )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"info": info, "offline": offline, "server": server}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
