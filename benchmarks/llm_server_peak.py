#!/usr/bin/env python3
"""llama3.1-8b Server on the CPU: the highest VALID target_qps under TTFT/TPOT bounds scaled to
the model, through the real LoadGen (``inferlab run ... --find-peak``), one script, one run.

The model is the embedded default (a random Llama: 2 layers, hidden 64, the real 128,256-token
vocabulary, fp32; generated articles with the real tokenizer), on the generation engine with
continuous batching. The official bounds (TTFT 2000 ms, TPOT 100 ms at the 99th percentile) are
for an 8B model on an accelerator; this model's latencies are another scale, so the script
first measures them with almost no load and scales:

  1. unloaded: a short Server run at --unloaded-qps (default 0.5/s, about one request in
     flight), performance mode, its p50 TTFT and p50 TPOT from LoadGen's log;
  2. bounds: TTFT = --ttft-factor x p50 TTFT, TPOT = --tpot-factor x p50 TPOT (whole ms, at
     least 1), written as loadgen.ttft_latency / loadgen.tpot_latency;
  3. ``--find-peak`` under those bounds from --start-qps: probes of --probe-ms (at least 662
     queries each: minutes at a few QPS), then a confirming run at the found rate with the quick
     settings (459 queries; without --quick it would be mlperf.conf's full Server run, 270,336
     queries: a day at 3 QPS).

Prints both steps as a table and the peak. Not a submittable figure (synthetic data, random
weights, changed bounds): a measure of the harness, the engine's scheduler and LoadGen's
token-latency judgement on this machine.

    python benchmarks/llm_server_peak.py                 # ~15-25 minutes on 2 cores
    python benchmarks/llm_server_peak.py --max-probes 4 --probe-ms 5000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TTFT50 = "result_first_token_50.00_percentile_latency_ns"
TPOT50 = "result_time_per_output_token_50.00_percentile_ns"


def inferlab(*args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "inferlab", *args, "--json"]
    print("$ inferlab " + " ".join(args), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        sys.exit(f"inferlab failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def ms(ns: Any) -> str:
    return f"{ns / 1e6:,.1f}" if isinstance(ns, int | float) else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--unloaded-qps", type=float, default=0.5)
    ap.add_argument("--ttft-factor", type=float, default=5.0)
    ap.add_argument("--tpot-factor", type=float, default=6.0)
    ap.add_argument(
        "--start-qps", type=float, default=1.5, help="first probe (calibration's rate is far lower)"
    )
    ap.add_argument("--probe-ms", type=int, default=10_000)
    ap.add_argument("--max-probes", type=int, default=6)
    ap.add_argument("--tolerance", type=float, default=0.15)
    ap.add_argument("--out", type=Path, default=None, help="run directory root (default: temp)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="llm-server-peak-"))
    common = ["llama3.1-8b", "--scenario", "Server", "--count", "64"]

    unloaded = inferlab(
        "run", *common, "--no-calibrate",
        "--set", f"loadgen.target_qps={args.unloaded_qps}",
        "--set", "loadgen.min_query_count=24", "--set", "loadgen.min_duration=1000",
        "--out", str(out / "unloaded"),
    )  # fmt: skip
    res = unloaded.get("loadgen", {}).get("results") or {}
    ttft50, tpot50 = res.get(TTFT50), res.get(TPOT50)
    if not (isinstance(ttft50, int | float) and isinstance(tpot50, int | float)):
        sys.exit(f"the unloaded run logged no TTFT/TPOT: {unloaded.get('error')}")
    ttft_ms = max(1, math.ceil(ttft50 / 1e6 * args.ttft_factor))
    tpot_ms = max(1, math.ceil(tpot50 / 1e6 * args.tpot_factor))

    peak = inferlab(
        "run", *common, "--quick", "--find-peak", "--peak-start", str(args.start_qps),
        "--peak-probe-ms", str(args.probe_ms),
        "--peak-max-probes", str(args.max_probes),
        "--peak-tolerance", str(args.tolerance),
        "--set", f"loadgen.ttft_latency={ttft_ms}", "--set", f"loadgen.tpot_latency={tpot_ms}",
        "--out", str(out / "peak"),
    )  # fmt: skip

    print()
    print(f"llama3.1-8b Server, embedded tiny random Llama, CPU ({os.cpu_count()} cores), ", end="")
    print(f"{dt.date.today()}, {platform.python_version()}")
    print(f"unloaded ({args.unloaded_qps}/s): p50 TTFT {ms(ttft50)} ms, p50 TPOT {ms(tpot50)} ms")
    print(
        f"bounds: TTFT {ttft_ms} ms (= {args.ttft_factor:g} x p50), "
        f"TPOT {tpot_ms} ms (= {args.tpot_factor:g} x p50), 99th percentile"
    )
    print(f"{'step':>8} {'target':>8} {'served':>8} {'tokens/s':>9} {'p99 TTFT':>9} "
          f"{'p99 TPOT':>9}  validity / why")  # fmt: skip
    rows = [("probe", p) for p in peak.get("probes", [])]
    rows += [("confirm", p) for p in peak.get("confirm", [])]
    for kind, p in rows:
        why = "; ".join(p.get("invalid_reasons") or [])[:70]
        run = p.get("run_dir")
        tps = served = None
        if run and (Path(run) / "result.json").is_file():
            stored = json.loads((Path(run) / "result.json").read_text())
            figures = stored.get("loadgen", {}).get("results") or {}
            tps = figures.get("result_completed_tokens_per_second")
            served = figures.get("result_completed_samples_per_sec")
        target = p.get("target_qps")
        print(
            f"{kind:>8} {target!s:>8} {served or 0:>8.2f} "
            f"{tps or 0:>9.1f} {ms(p.get('ttft_ns')):>9} {ms(p.get('tpot_ns')):>9}  "
            f"{p.get('validity')} {why}"
        )
    found = (peak.get("peak") or {}).get("qps")
    print(f"peak: {found} QPS {'VALID (confirmed)' if found else 'none found'}; runs under {out}")


if __name__ == "__main__":
    main()
