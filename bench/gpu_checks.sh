#!/usr/bin/env bash
# The GPU checks of docs/gpu.md, in one command for the device machine:
#   bash bench/gpu_checks.sh STAGE...     (stages: build test disttest parity export-parity model checkpointing strategies multigpu train1b trainsmall generate sweep sweep2)
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
    export-parity)  # blt export --format hf, loaded by BltForCausalLM.from_pretrained, logits against blt's
      stage export-parity-cpu 200 python3 scripts/hf_export_parity.py --blt "$blt" --device cpu --work runs/hf_export_parity
      stage export-parity-cuda 200 python3 scripts/hf_export_parity.py --blt "$blt" --device cuda \
            --work runs/hf_export_parity_cuda
      # A trained checkpoint: `small` with the attention and patching HF has (whole-sequence causal, one byte per patch).
      stage export-train 300 "$blt" train configs/blt-small-gpu.yaml --set model.patching.static_size=1 \
            --set model.local_encoder.sliding_window=0 --set model.local_decoder.sliding_window=0 \
            --set model.document_mask=false --set data.seq_len=1024 --set data.batch_size=4 --set train.steps=20 \
            --set train.log_every=10 --set train.checkpoint_every=20 --set train.out_dir=runs/export-trained &&
      stage export-parity-trained 200 python3 scripts/hf_export_parity.py --blt "$blt" --device cuda \
            --ckpt runs/export-trained/checkpoints/step-00000020 --work runs/hf_export_parity_trained ;;
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
    multigpu)  # every strategy over 2 GPUs (each rank on its own GPU: the fsdp crash of issue 11), small BLT,
               # 8 x 8192 bytes per GPU, on a corpus made from this repository's text; 1 GPU of ddp for the ratio
      "$blt" preprocess docs blt configs --out runs/gpu-corpus >/dev/null 2>&1
      corpus="--set data.train=runs/gpu-corpus/train --set data.valid=runs/gpu-corpus/valid"
      common="--set train.steps=30 --set train.log_every=10 --set train.checkpoint_every=0 --set train.eval_every=0"
      stage 1gpu-small-ddp 200 "$blt" train configs/blt-small-gpu.yaml $corpus $common --set train.out_dir=runs/1gpu-small-ddp
      for st in ddp zero2 fsdp; do
        stage 2gpu-small-$st 200 scripts/launch.sh --nproc-per-node 2 -- "$blt" train configs/blt-small-gpu.yaml \
              --set dist.strategy=$st $corpus $common --set train.out_dir=runs/2gpu-small-$st
      done ;;
    trainsmall) stage train-small 240 "$blt" train configs/blt-small-gpu.yaml ;;
    train1b) stage train-1b 400 "$blt" train configs/blt-1b-gpu.yaml ;;
    # configs/sweeps/gpu-small.yaml (docs/sweeps.md): about 15 minutes on one H200, so more
    # than one call of this stage: each call continues the sweep (finished runs skipped, the
    # run cut by the limit resumed from its checkpoint); the report follows the last run.
    # Reads data/shards/english (carry it: scripts/get-data.sh makes it on the CPU machine).
    # SWEEP_LIMIT (seconds, default 570) leaves room for other stages in the same call.
    sweep)
      [ -d data/shards/english/train ] || { echo "sweep: no data/shards/english (carry it)"; exit 1; }
      stage sweep "${SWEEP_LIMIT:-570}" "$blt" sweep run configs/sweeps/gpu-small.yaml &&
        stage sweep-report 120 "$blt" sweep report configs/sweeps/gpu-small.yaml
      cp runs/sweeps/gpu-small/sweep.csv runs/sweeps/gpu-small/*.png "$out"/ 2>/dev/null ;;
    # Acceptance 3: a sweep through the launcher on 2 GPUs (nvidia-h200-x2): gpu-small's
    # static-4 run of the smallest budget, the global batch split over the two ranks.
    sweep2)
      [ -d data/shards/english/train ] || { echo "sweep2: no data/shards/english (carry it)"; exit 1; }
      one=(--set out_dir=../../runs/sweeps/gpu-small-2gpu --set "flop_budgets=[6.0e14]"
           --set "schemes=[{name: static-4, patching: static, static_size: 4}]" --world-size 2)
      stage sweep2 400 "$blt" sweep run configs/sweeps/gpu-small.yaml "${one[@]}" \
            --launcher "scripts/launch.sh --nproc-per-node 2 --" &&
        stage sweep2-report 60 "$blt" sweep report configs/sweeps/gpu-small.yaml "${one[@]}" --no-plots
      cp runs/sweeps/gpu-small-2gpu/sweep.csv "$out"/sweep-2gpu.csv 2>/dev/null
      cp runs/sweeps/gpu-small-2gpu/runs/*/train.log "$out"/sweep-2gpu-train.log 2>/dev/null ;;
    generate)
      # Greedy generation speed, blt-1b shapes (random weights), 256 new bytes after the same prompt:
      # transformers' BltForCausalLM.generate, then `blt generate` on the same weights (blt import).
      w=${TMPDIR:-/tmp}/blt-generate; mkdir -p "$w"
      prompt=$(python3 -c 'import sys; sys.path.insert(0, "scripts"); from bench_generate_hf import PROMPT; print(PROMPT)')
      stage gen-hf-bf16 600 python3 scripts/bench_generate_hf.py --shape blt-1b --dtype bf16 --device cuda \
        --new-bytes 256 --save "$w/hf-1b"
      stage gen-hf-fp32 400 python3 scripts/bench_generate_hf.py --shape blt-1b --dtype fp32 --device cuda --new-bytes 256
      stage gen-import 400 "$blt" import "$w/hf-1b" "$w/blt-1b"
      for dt in bfloat16 float32; do
        stage gen-blt-$dt 300 "$blt" generate "$w/blt-1b" --prompt "$prompt" --max-bytes 256 --device cuda --dtype $dt
      done
      stage gen-blt-small-cpu 300 build-gpu/bin/bench_generate --device cpu --bytes 256 ;;
    *) echo "unknown stage $s"; exit 2 ;;
  esac
done
