#!/usr/bin/env bash
# The GPU checks and measurements that no task has run yet, cut into stages that each fit one
# device call (the device tool allows 10 minutes a command, 30 device-minutes a session).
#
# Here, once:   ../shared/tools/device-wheels        (pydantic + mlcommons-loadgen cp312 -> .whl/)
# Then one device `run` per stage, carrying [".whl"]:
#   bash benchmarks/gpu_session.sh tests      GPU tests except the slow ones      (~3-5 min)
#   bash benchmarks/gpu_session.sh slow       compile / max-autotune GPU tests     (~5-9 min)
#   bash benchmarks/gpu_session.sh resnet     eager + cudagraph, bf16/fp16, Server peak, SS p90
#   bash benchmarks/gpu_session.sh resnet8    the 8-bit path: cudagraph bf16 vs fp8 vs int8
#   bash benchmarks/gpu_session.sh compile    compile mode bf16 (first compile counted apart)
#   bash benchmarks/gpu_session.sh bert       BERT padded vs fast path, bf16/fp16
#   bash benchmarks/gpu_session.sh llm        llama3.1-8b's tiny random Llama on the engine, bf16:
#                                             Offline tokens/s, Server TTFT/TPOT (no real weights
#                                             are on the machine: a pipeline check, not a target)
#   bash benchmarks/gpu_session.sh retinanet  retinanet Offline --quick on the generated images, fp32 vs
#                                             bf16 vs fp16: the tiny random RetinaNet (the default) and
#                                             the full-size network with random weights (its compute;
#                                             few or no scores pass 0.05, so NMS costs less than with
#                                             the real weights): a pipeline check, no accuracy claim
#   bash benchmarks/gpu_session.sh vllm       llama3.1-8b Offline tokens/s of the torch engine and of
#                                             vLLM (--backend vllm) on the same GPU and checkpoint
#                                             (LLAMA_CKPT=<Llama-3.1-8B-Instruct dir>, else a tiny
#                                             random Llama saved here: a pipeline check, not the
#                                             issue's target of torch >= 0.8 x vLLM), then the vLLM
#                                             GPU tests; skipped (exit 0) where vllm is missing
# Each stage writes its log and JSON under $OUT (what the device tool brings back) and prints
# the table last. Without .whl the packages must already be importable.
set -uo pipefail
cd "$(dirname "$0")/.."
stage="${1:?usage: gpu_session.sh tests|slow|resnet|resnet8|compile|bert|llm|retinanet|vllm}"
OUT="${OUT:-/tmp/inferlab-gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "gpu_session: installing .whl failed"; exit 1; }
  export PYTHONPATH="/tmp/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 - <<'EOF' || exit 1
import torch, mlperf_loadgen, inferlab  # noqa: F401  (what every stage needs)
ok = torch.cuda.is_available()
print("torch", torch.__version__, "cuda", torch.version.cuda,
      torch.cuda.get_device_name(0) if ok else "NO CUDA DEVICE")
raise SystemExit(0 if ok else 1)
EOF
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv \
  > "$OUT/gpu.csv" 2>&1 || true
runs=/tmp/inferlab-gpu-runs  # run directories stay on the machine; logs and JSON come back
logged() {  # logged NAME COMMAND...: run it under the stage's time limit, log to $OUT/NAME.log
  local name=$1
  shift
  timeout 570 "$@" 2>&1 | tee "$OUT/$name.log"
  return "${PIPESTATUS[0]}"
}
speed() {  # speed NAME ARGS...: benchmarks/resnet50_speed.py on cuda, batch 256, JSON to $OUT
  local name=$1
  shift
  logged "$name" python3 benchmarks/resnet50_speed.py --device cuda --batch 256 \
    --loop-threads 2 --raw-batches 200 --offline-ms 10000 --out "$runs" \
    --json "$OUT/$name.json" "$@"
}
case "$stage" in
  tests) logged tests python3 -m pytest -q tests/gpu -m "gpu and not slow" -p no:cacheprovider ;;
  slow) logged slow python3 -m pytest -q tests/gpu -m "gpu and slow" -p no:cacheprovider ;;
  resnet)
    speed resnet --modes eager,cudagraph --dtypes bf16,fp16 --probe-ms 3000 --probes 6 \
      --server-ms 10000 --ss-mode cudagraph --ss-ms 5000
    ;;
  resnet8) speed resnet8 --modes cudagraph --dtypes bf16,fp8,int8 --no-server --no-single-stream ;;
  compile) speed compile --modes compile --dtypes bf16 --no-server --no-single-stream ;;
  bert)
    logged bert python3 benchmarks/bert_fastpath.py --device cuda --dtypes bf16,fp16 \
      --batch 128 --max-batch 512 --max-tokens 24576,49152 --loop-threads 2 \
      --json "$OUT/bert.json"
    ;;
  llm)
    for sc in Offline Server; do
      logged "llm-$sc" python3 -m inferlab run llama3.1-8b --quick --device cuda --dtype bf16 \
        --scenario "$sc" --out "$runs"
    done
    ;;
  retinanet)
    rm -rf "$runs/retinanet"
    for variant in tiny pytorch; do
      for dt in fp32 bf16 fp16; do
        logged "retinanet-$variant-$dt" python3 -m inferlab run retinanet --quick --device cuda \
          --dtype "$dt" --variant "$variant" --scenario Offline \
          --out "$runs/retinanet/$variant-$dt"
      done
    done
    python3 - "$runs/retinanet" "$OUT/retinanet.json" <<'EOF' | tee "$OUT/retinanet.log"
import json
import sys
from pathlib import Path

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
rows = []
for variant in ("tiny", "pytorch"):
    for dtype in ("fp32", "bf16", "fp16"):
        found = sorted((runs / f"{variant}-{dtype}").glob("*/result.json"))
        r = json.loads(found[-1].read_text()) if found else {}
        res, batching = r.get("result") or {}, r.get("batching") or {}
        rows.append({
            "variant": variant, "dtype": dtype, "status": r.get("status", "no result.json"),
            "samples_per_s": res.get("value"), "validity": res.get("validity"),
            "max_batch": batching.get("max_batch"), "run_dir": r.get("run_dir"),
        })
print("retinanet Offline, --quick, generated images, random weights (no accuracy claim)")
for row in rows:
    print(f"  {row['variant']:8} {row['dtype']:5} {row['samples_per_s']!s:>10} samples/s  "
          f"{row['validity']}  {row['status']}  batch {row['max_batch']}")
out.write_text(json.dumps({"rows": rows}, indent=1))
EOF
    ;;
  vllm)
    if ! python3 -c "import vllm" >"$OUT/vllm-import.log" 2>&1; then
      echo "gpu_session: vllm cannot be imported here (pip install vllm): stage vllm skipped" \
        | tee "$OUT/vllm.log"
      exit 0
    fi
    ckpt="${LLAMA_CKPT:-}"
    if [ -z "$ckpt" ]; then # the same small random Llama for both backends (vLLM needs a dir)
      ckpt=/tmp/inferlab-tiny-llama
      python3 - "$ckpt" <<'EOF' 2>&1 | tee "$OUT/vllm-ckpt.log"
import sys
from pathlib import Path

from inferlab.generation.models import random_model, tiny_config

path = Path(sys.argv[1])
config = tiny_config(  # Llama 3's vocabulary (the prompts' ids), head size 64 (vLLM's kernels)
    "llama", vocab_size=128_256, hidden_size=256, num_layers=2, num_heads=4, num_kv_heads=2,
    intermediate_size=512, max_positions=4096, eos_token_id=128_009,
)
random_model(config, seed=0).save_pretrained(path)
try:
    from inferlab.generation.tokenizers import load_tokenizer

    load_tokenizer("llama3").save_pretrained(path)
except Exception as exc:  # noqa: BLE001
    print(f"no tokenizer saved ({exc}): vLLM runs with skip_tokenizer_init")
print(f"tiny checkpoint: {path}")
EOF
      [ -f "$ckpt/config.json" ] || exit 1
    fi
    extra=()
    [ -f "$ckpt/tokenizer.json" ] || extra=(--set backend_options.skip_tokenizer_init=true)
    rm -rf "$runs/vllm-torch" "$runs/vllm-vllm"
    logged vllm-torch python3 -m inferlab run llama3.1-8b --quick --device cuda --dtype bf16 \
      --scenario Offline --backend torch --model-path "$ckpt" --out "$runs/vllm-torch"
    logged vllm-vllm python3 -m inferlab run llama3.1-8b --quick --device cuda --dtype bf16 \
      --scenario Offline --backend vllm --model-path "$ckpt" --out "$runs/vllm-vllm" \
      ${extra[@]+"${extra[@]}"}
    python3 - "$runs" "$OUT/vllm.json" "${LLAMA_CKPT:-}" <<'EOF' | tee "$OUT/vllm.log"
import json
import sys
from pathlib import Path

runs, out, real = Path(sys.argv[1]), Path(sys.argv[2]), bool(sys.argv[3])
rows = {}
for backend in ("torch", "vllm"):
    found = sorted((runs / f"vllm-{backend}").glob("*/result.json"))
    r = json.loads(found[-1].read_text()) if found else {}
    res, be = r.get("result") or {}, r.get("backend") or {}
    version = be.get("vllm_version")
    rows[backend] = {
        "status": r.get("status", "no result.json"),
        "tokens_per_s": res.get("value"),
        "validity": res.get("validity"),
        "engine": f"vLLM {version}" if version else be.get("engine"),
        "run_dir": r.get("run_dir"),
    }
t, v = rows["torch"]["tokens_per_s"], rows["vllm"]["tokens_per_s"]
ratio = t / v if t and v else None
verdict = "n/a" if ratio is None else ("meets" if ratio >= 0.8 else "misses") + " the 0.8 target"
note = "" if real else " (tiny random checkpoint: overheads, not the 8B target)"
print("llama3.1-8b Offline, --quick, bf16, one GPU, one checkpoint" + note)
for name, row in rows.items():
    print(
        f"  {name:6} {row['tokens_per_s']!s:>12} tokens/s  {row['validity']}  "
        f"{row['status']}  {row['engine']}"
    )
print(f"  torch / vLLM = {ratio if ratio is None else round(ratio, 3)}: {verdict}")
out.write_text(json.dumps({"rows": rows, "ratio": ratio, "real_checkpoint": real}, indent=1))
EOF
    logged vllm-tests python3 -m pytest -q tests/unit/test_vllm_backend.py -m gpu \
      -p no:cacheprovider
    ;;
  *)
    echo "gpu_session: unknown stage $stage (tests|slow|resnet|resnet8|compile|bert|llm|retinanet|vllm)"
    exit 2
    ;;
esac
