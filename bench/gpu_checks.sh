#!/usr/bin/env bash
# The GPU checks of docs/gpu.md, in one command for the device machine:
#   bash bench/gpu_checks.sh STAGE...     (stages: build test disttest parity model checkpointing strategies train1b trainsmall
#                                              multigpu scaling; the last two need 2 GPUs: nvidia-h200-x2)
# Run from the repository root with .device staged by scripts/stage-gpu.sh.
# Logs go to $OUT (or ./gpu-logs); every stage is bounded by `timeout`.
set -uo pipefail
out=${OUT:-gpu-logs}
mkdir -p "$out"
source .device/env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
stage() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  echo "== $name: $*"
  local start=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - start)) s"
  tail -n "${TAIL:-15}" "$out/$name.log"
  return $rc
}
blt=build-gpu/bin/blt
for s in "$@"; do
  case "$s" in
    build) stage build 400 bash .device/build.sh || exit 1 ;;
    disttest) stage disttest 200 build-gpu/bin/blt_tests "[dist]" ;;
    test) stage ctest 300 bash -c 'cd build-gpu && ctest -j8 --output-on-failure --timeout 120' ;;
    parity)
      stage parity-cpu 200 python3 scripts/hf_parity.py --blt "$blt" --device cpu
      stage parity-cuda 200 python3 scripts/hf_parity.py --blt "$blt" --device cuda ;;
    model)
      stage step-small 120 build-gpu/bin/bench_model_step configs/model/small.yaml --seq-len 8192 --batch 8
      stage step-1b 240 build-gpu/bin/bench_model_step configs/model/blt-1b.yaml --seq-len 8192 --batch 1 --steps 5 ;;
    checkpointing)  # activation checkpointing: memory saved and time paid on blt-1b
      stage step-1b-b4 240 build-gpu/bin/bench_model_step configs/model/blt-1b.yaml --seq-len 8192 --batch 4 --steps 3
      stage step-1b-b4-ckpt 240 build-gpu/bin/bench_model_step configs/model/blt-1b.yaml --seq-len 8192 --batch 4 --steps 3 --checkpointing ;;
    strategies)  # every dist.strategy at world size 1: overhead against ddp (no sharding) and peak memory
      for st in ddp zero2 fsdp; do
        stage small-$st 200 "$blt" train configs/blt-small-gpu.yaml --set dist.strategy=$st --set train.steps=100 \
              --set train.checkpoint_every=0 --set train.out_dir=runs/small-$st
        stage 1b-$st 300 "$blt" train configs/blt-1b-gpu.yaml --set dist.strategy=$st --set train.steps=12 \
              --set train.log_every=4 --set train.out_dir=runs/1b-$st
      done ;;
    multigpu)  # 2 GPUs vs 1 for every strategy, resharding, launch.sh / torchrun / per-rank CUDA_VISIBLE_DEVICES
      stage multigpu 420 bash bench/multigpu_check.sh "$blt" "$out/multigpu-runs" ;;
    scaling)  # bytes/s, MFU, peak memory per GPU at 1 and 2 GPUs per strategy (small, blt-1b)
      stage scaling-small 280 bash bench/scaling.sh "$blt" "$out/scaling-small" configs/blt-small-gpu.yaml:30
      stage scaling-1b 560 bash bench/scaling.sh "$blt" "$out/scaling-1b" configs/blt-1b-gpu.yaml:10 ;;
    trainsmall) stage train-small 240 "$blt" train configs/blt-small-gpu.yaml ;;
    train1b) stage train-1b 400 "$blt" train configs/blt-1b-gpu.yaml ;;
    *) echo "unknown stage $s"; exit 2 ;;
  esac
done
