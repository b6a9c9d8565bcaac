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
# Each stage writes its log and JSON under $OUT (what the device tool brings back) and prints
# the table last. Without .whl the packages must already be importable.
set -uo pipefail
cd "$(dirname "$0")/.."
stage="${1:?usage: gpu_session.sh tests|slow|resnet|resnet8|compile|bert|llm}"
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
  *)
    echo "gpu_session: unknown stage $stage (tests|slow|resnet|resnet8|compile|bert|llm)"
    exit 2
    ;;
esac
