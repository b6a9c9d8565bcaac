"""Build a full-length submission tree (600 s runs) with the null backend, and check it.

A real closed-division result needs 600-second performance runs, an accuracy run over the whole
dataset and the compliance runs. That cannot fit in CI, so this script does it with the null
backend: each batch "takes" a fixed service time, so a 600 s run issues a realistic number of
samples (not the hundreds of millions an instant backend would), over a full-size synthetic QSL
(ImageNet's 50,000 samples; images are only generated when a backend reads them, which the null
backend never does).

What the tree must then fail, and only that: accuracy (synthetic labels, no model) and the
"not submittable" flags (synthetic data, null backend). Everything about durations, sample
counts, seeds, layout, truncation and compliance must pass. docs/submission.md records a run.

    python benchmarks/full_length_tree.py --out /tmp/full-tree-runs [--scenarios Offline,...]
        [--parallel 3] [--min-duration-ms 600000]

Scenarios run in parallel (one process each, sequential runs within); the default edge set
(SingleStream, MultiStream, Offline) takes about 35 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# per-batch service time (ms) and batch size per scenario: about 2,500 samples/s Offline,
# 200 queries/s SingleStream, 100 queries/s (800 samples/s) MultiStream
PLAN = {
    "Offline": {"service_ms": 100.0, "batch": 256},
    "SingleStream": {"service_ms": 5.0, "batch": 1},
    "MultiStream": {"service_ms": 10.0, "batch": 8},
    "Server": {"service_ms": 20.0, "batch": 32},
}
KINDS = (("performance", None), ("accuracy", None), ("performance", "TEST01"))
KINDS += (("performance", "TEST04"),)


def system_desc(path: Path) -> Path:
    """A complete, clearly fictitious system description (every required field filled)."""
    from inferlab.results.system import REQUIRED_FIELDS

    desc = {k: "example (full-length tree script; not a real system)" for k in REQUIRED_FIELDS}
    desc.update(
        division="closed",
        submitter="Example",
        status="available",
        system_name="null-backend-example",
        system_type="edge",
        number_of_nodes="1",
        host_processors_per_node="1",
        accelerators_per_node="0",
        host_network_card_count="1",
    )
    path.write_text(json.dumps(desc, indent=1))
    return path


def run_scenario(scenario: str, out: Path, min_duration_ms: int) -> list[dict[str, object]]:
    plan = PLAN[scenario]
    done = []
    for mode, audit in KINDS:
        cmd = [
            sys.executable, "-m", "inferlab", "run", "resnet50", "--backend", "null",
            "--scenario", scenario, "--mode", mode, "--out", str(out / "runs"), "--quiet",
            "--batch-size", str(plan["batch"]), "--set", f"synthetic_count={50_000}",
            "--set", f"null_service_time_ms={plan['service_ms']}", "--json",
        ]  # fmt: skip
        if audit:
            cmd += ["--audit", audit]
        if min_duration_ms != 600_000:
            cmd += ["--set", f"loadgen.min_duration={min_duration_ms}"]
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            result = {"status": "failed", "error": proc.stderr[-2000:]}
        row = {
            "scenario": scenario,
            "kind": audit or mode,
            "status": result.get("status"),
            "wall_s": round(time.time() - t0, 1),
            "samples": ((result.get("result") or {}).get("counts") or {}).get("samples"),
            "run_dir": result.get("run_dir"),
        }
        print(json.dumps(row), flush=True)
        done.append(row)
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scenarios", default="SingleStream,MultiStream,Offline")
    ap.add_argument("--parallel", type=int, default=3)
    ap.add_argument("--min-duration-ms", type=int, default=600_000)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=False)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        rows = [
            r
            for rs in pool.map(lambda s: run_scenario(s, args.out, args.min_duration_ms), scenarios)
            for r in rs
        ]
    desc = system_desc(args.out / "system.json")
    tree = args.out / "tree"
    proc = subprocess.run(
        [
            sys.executable, "-m", "inferlab", "submission", "build", str(args.out / "runs"),
            "--submitter", "Example", "--division", "closed", "--category", "edge",
            "--system-desc", str(desc), "--out", str(tree), "--json",
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {"error": proc.stderr}
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_s": round(time.time() - t0, 1),
        "runs": rows,
        "check": doc.get("check"),
        "build_exit_code": proc.returncode,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"\n{'scenario':13} {'kind':12} {'status':8} {'samples':>10} {'wall s':>8}")
    for r in rows:
        print(
            f"{r['scenario']:13} {r['kind']:12} {r['status']!s:8} {r['samples']!s:>10} "
            f"{r['wall_s']:>8}"
        )
    check = doc.get("check") or {}
    print(f"\ncheck: {check.get('errors')} error(s), {check.get('warnings')} warning(s)")
    for f in check.get("findings", []):
        print(f"  {f['severity']:7} {f['code']:26} {f['path']}")
    print(f"\ntree: {tree}\nsummary: {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
