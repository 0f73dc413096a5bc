#!/usr/bin/env bash
# The GPU checks of docs/gpu.md, in one command for the device machine:
#   bash bench/gpu_checks.sh STAGE...     (stages: build test disttest parity model checkpointing strategies train1b trainsmall sweep sweep2)
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
    trainsmall) stage train-small 240 "$blt" train configs/blt-small-gpu.yaml ;;
    train1b) stage train-1b 400 "$blt" train configs/blt-1b-gpu.yaml ;;
    # gpu-small takes about an hour: each call runs up to the stage's limit and the next
    # call continues it (finished runs skipped, the cut run resumed); then the report.
    sweep)
      stage sweep 570 "$blt" sweep run configs/sweeps/gpu-small.yaml
      stage sweep-report 120 "$blt" sweep report configs/sweeps/gpu-small.yaml ;;
    sweep2) stage sweep2 570 "$blt" sweep run configs/sweeps/gpu-small.yaml --world-size 2 \
              --launcher "scripts/launch.sh --nproc-per-node 2 --" --set out_dir=../../runs/sweeps/gpu-small-2gpu ;;
    *) echo "unknown stage $s"; exit 2 ;;
  esac
done
