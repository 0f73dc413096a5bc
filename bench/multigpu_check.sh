#!/usr/bin/env bash
# Multi-GPU equality check (docs/distributed.md, "On GPUs"): ddp, zero2 and fsdp on 2 GPUs train the
# same global batch as 1 GPU to the same losses and final parameters, a 2-GPU checkpoint resumes on
# 1 GPU (under another strategy) and a 1-GPU checkpoint on 2, every strategy with row-sparse hash-table
# updates matches 1 GPU, every strategy with gradients summed in bf16 trains within the same bounds; under
# scripts/launch.sh, under torchrun --no-python and with CUDA_VISIBLE_DEVICES narrowed to one GPU per rank.
#
#   bash bench/multigpu_check.sh [BLT] [OUT]        (defaults: build-gpu/bin/blt, gpu-logs/multigpu)
#   DEVICE=cpu MODEL=tiny bash bench/multigpu_check.sh build/bin/blt /tmp/mg    (the same over Gloo on CPU)
#
# fp32 on the GPU (train.precision fp32: LibTorch leaves TF32 off for cuBLAS), so the runs differ
# only in the order of sums (per-rank partial sums, other kernels for another batch size).
# Tolerances from the arithmetic, not from a measurement:
#   - the first step compared starts from equal parameters: the loss differs by the rounding of its
#     sums, a relative ~log2(n) * 2^-24 ~ 1.3e-6 for n ~ 2^21 terms; allowed 1e-5.
#   - a parameter moves at most lr * (R + wd |theta|) per AdamW step, R = max |m_hat / sqrt(v_hat)|
#     <= (1 - b1) sqrt(1 - b2^t) / ((1 - b1^t) sqrt(1 - b2) sqrt(1 - b1^2 / b2)) <= 2 for
#     b1 = 0.9, b2 = 0.95 (Cauchy-Schwarz over the moment sums; exactly 1 at t = 1). Elements whose
#     gradient is rounding noise can move in opposite directions in the two runs, so two runs stay
#     within 2 * 2 * lr per step of each other: 4 * lr * steps (constant lr, wd |theta| lr negligible).
#     A wrong shard or device mix-up moves parameters by their own size (init std 0.02, norms 1).
#   - later losses: a loose 1e-3 (parameters within the bound above change the loss far less; a
#     broken step changes it by much more).
# Exits non-zero when any comparison fails or any run fails.
set -uo pipefail
blt=${1:-build-gpu/bin/blt}
out=${2:-gpu-logs/multigpu}
device=${DEVICE:-cuda}
model=${MODEL:-small}
steps=6 half=3 lr=1e-4 global_batch=8
repo=$(pwd)
rm -rf "$out" && mkdir -p "$out"
port=$((29800 + RANDOM % 100))
failures=0

"$blt" preprocess "$repo/docs" "$repo/README.md" --doc-split blank-line --out "$out/corpus" >"$out/preprocess.log" 2>&1 ||
  { cat "$out/preprocess.log"; exit 1; }
cat >"$out/run.yaml" <<YAML
include: [$repo/configs/model/$model.yaml]
model:
  patching: {mode: static, static_size: 4}
data: {train: $out/corpus/train, valid: $out/corpus/valid, seq_len: 1024, workers: 1}
train:
  steps: $steps
  device: $device
  precision: fp32
  log_every: 1
  eval_every: 0
  checkpoint_every: $half
  keep_checkpoints: 2
  optimizer: {lr: $lr, warmup_steps: 0, min_lr_ratio: 1.0, grad_clip: 1.0}
dist: {timeout_s: 120}
YAML
param_tol() { python3 -c "print(4 * $lr * $1)"; }

# run NAME LAUNCHER STRATEGY [--set ...]: LAUNCHER is one, launch, torchrun or launch-cvd (per-rank CUDA_VISIBLE_DEVICES).
run() {
  local name=$1 launcher=$2 strategy=$3; shift 3
  local ranks=2 cmd=()
  port=$((port + 1))
  case $launcher in
    one) ranks=1; cmd=(env CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES-0}") ;;
    launch) cmd=(bash "$repo/scripts/launch.sh" --nproc-per-node 2 --master-port "$port" --) ;;
    launch-cvd) cmd=(bash "$repo/scripts/launch.sh" --nproc-per-node 2 --master-port "$port" --
                     bash -c 'CUDA_VISIBLE_DEVICES=$LOCAL_RANK exec "$0" "$@"') ;;
    torchrun) cmd=(torchrun --no-python --nproc-per-node=2 --master-port="$port") ;;
  esac
  local start=$SECONDS
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "${cmd[@]}" "$blt" train "$out/run.yaml" --set dist.strategy="$strategy" \
    --set data.batch_size=$((global_batch / ranks)) --set train.out_dir="$out/runs/$name" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "run $name ($launcher, $ranks x $strategy): exit $rc, $((SECONDS - start)) s"
  if [ $rc -ne 0 ]; then tail -n 20 "$out/$name.log"; failures=$((failures + 1)); fi
  return $rc
}
compare() {  # REFERENCE OTHER STEPS
  python3 "$repo/scripts/compare_runs.py" "$out/runs/$1" "$out/runs/$2" --param-abs "$(param_tol "$3")" || failures=$((failures + 1))
}
seed() {  # FROM TO: FROM's step-$half checkpoint as TO's latest
  local step_dir=$(printf 'step-%08d' $half)
  mkdir -p "$out/runs/$2/checkpoints"
  cp -r "$out/runs/$1/checkpoints/$step_dir" "$out/runs/$2/checkpoints/"
  echo "$step_dir" >"$out/runs/$2/checkpoints/latest"
}

command -v torchrun >/dev/null || echo "no torchrun on PATH: its runs use scripts/launch.sh instead"
two_gpu_launcher() { if [ "$1" = torchrun ] && ! command -v torchrun >/dev/null; then echo launch; else echo "$1"; fi; }
declare -A other=([ddp]=fsdp [zero2]=ddp [fsdp]=zero2)
declare -A launcher=([ddp]=launch [zero2]=torchrun [fsdp]=launch)
for s in ddp zero2 fsdp; do
  run "$s-1" one "$s" && run "$s-2" "$(two_gpu_launcher ${launcher[$s]})" "$s" || continue
  compare "$s-1" "$s-2" $steps
  # 2 GPUs -> 1 GPU of another strategy, and 1 GPU -> 2 GPUs: continue as the uninterrupted run did.
  seed "$s-2" "$s-2to1" && run "$s-2to1" one "${other[$s]}" && compare "$s-2" "$s-2to1" $((steps - half))
  seed "$s-1" "$s-1to2" && run "$s-1to2" launch "$s" && compare "$s-1" "$s-1to2" $((steps - half))
done
# ddp with row-sparse hash-table updates: ranks all-gather the rows they used (parallel/grad_sync.cpp).
sparse=(--set train.optimizer.sparse_hash_rows=true)
run ddp-sparse-1 one ddp "${sparse[@]}" && run ddp-sparse-2 launch ddp "${sparse[@]}" &&
  compare ddp-sparse-1 ddp-sparse-2 $steps
# zero2 and fsdp take the same row path for the table (parallel/hash_rows.h): 2 GPUs against ddp's 1.
for s in zero2 fsdp; do
  run "$s-sparse-2" launch "$s" "${sparse[@]}" && compare ddp-sparse-1 "$s-sparse-2" $steps
done
# Gradients summed in bf16 (dist.reduce_dtype): each rank's gradient and the sum rounded to bf16. The
# parameter bound above holds for any gradients, so it still applies; it catches a broken layout or
# device, not the rounding (tests/test_reduce_dtype.cpp checks the sums themselves).
for s in ddp zero2 fsdp; do
  run "$s-bf16-2" launch "$s" --set dist.reduce_dtype=bfloat16 && compare "$s-1" "$s-bf16-2" $steps
done
# fsdp (the strategy that allocates its own storage) under the other two launch modes.
run fsdp-2-torchrun "$(two_gpu_launcher torchrun)" fsdp && compare fsdp-1 fsdp-2-torchrun $steps
run fsdp-2-cvd launch-cvd fsdp && compare fsdp-1 fsdp-2-cvd $steps
echo "multigpu: $failures failure(s)"
[ $failures -eq 0 ]
