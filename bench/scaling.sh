#!/usr/bin/env bash
# Scaling table (docs/distributed.md): bytes/s, MFU and peak memory per GPU of `blt train` for each
# dist.strategy at 1 and 2 GPUs, per config; the per-GPU batch stays that of the config (weak
# scaling), so efficiency = bytes/s at 2 GPUs / (2 x bytes/s at 1 GPU).
#
#   bash bench/scaling.sh [BLT] [OUT] [CONFIG:STEPS ...]
#       defaults: build-gpu/bin/blt, gpu-logs/scaling, configs/blt-small-gpu.yaml:30 configs/blt-1b-gpu.yaml:10
#
# SCALING_STRATEGIES (default "ddp zero2 fsdp") picks the strategies; SCALING_SET="key=value ..." adds
# --set overrides to every run (e.g. train.optimizer.sparse_hash_rows=true).
# The numbers are those of the last logged window (steps after the first log, so start-up is out).
# Data: the config's corpus when it exists, else docs/ preprocessed (throughput does not depend on the text).
set -uo pipefail
blt=${1:-build-gpu/bin/blt}
out=${2:-gpu-logs/scaling}
shift 2 2>/dev/null || shift $#
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(configs/blt-small-gpu.yaml:30 configs/blt-1b-gpu.yaml:10)
mkdir -p "$out/runs"
data=()
if [ ! -d data/shards/english/train ]; then
  "$blt" preprocess docs README.md --doc-split blank-line --out "$out/corpus" >"$out/preprocess.log" 2>&1 || exit 1
  data=(--set data.train="$out/corpus/train" --set data.valid="$out/corpus/valid")
fi
extra=()
for kv in ${SCALING_SET:-}; do extra+=(--set "$kv"); done
port=$((29900 + RANDOM % 50))
table="$out/table.md"
echo "| config | strategy | GPUs | bytes/s | scaling | MFU | peak memory per GPU |" >"$table"
echo "|---|---|---|---|---|---|---|" >>"$table"
for item in "${runs[@]}"; do
  config=${item%%:*} steps=${item##*:}
  name=$(basename "$config" .yaml)
  for s in ${SCALING_STRATEGIES:-ddp zero2 fsdp}; do
    one=""
    for gpus in 1 2; do
      port=$((port + 1))
      dir="$out/runs/$name-$s-$gpus"
      rm -rf "$dir"
      launcher=()
      [ "$gpus" -eq 1 ] || launcher=(bash scripts/launch.sh --nproc-per-node 2 --master-port "$port" --)
      timeout 600 "${launcher[@]}" "$blt" train "$config" --set dist.strategy=$s --set train.steps="$steps" \
        --set train.log_every=$((steps / 2)) --set train.checkpoint_every=0 --set train.eval_every=0 \
        --set train.out_dir="$dir" "${data[@]}" "${extra[@]}" >"$dir.log" 2>&1
      rc=$?
      row=$(python3 - "$dir/metrics.jsonl" "$gpus" "${one:-0}" "$rc" <<'PY'
import json, sys
path, gpus, one, rc = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
try:
    last = [json.loads(l) for l in open(path) if '"bytes_per_s"' in l][-1]
except (OSError, IndexError):
    print(f"failed (exit {rc}) | | | |")
    sys.exit()
bps = last["bytes_per_s"]
eff = f"{100 * bps / (gpus * one):.0f}%" if gpus > 1 and one > 0 else ""
mfu = f"{100 * last['mfu']:.1f}%" if "mfu" in last else ""
mem = f"{last.get('peak_memory_gib', 0):.1f} GiB"
print(f"{bps / 1e3:.1f} k | {eff} | {mfu} | {mem} |{bps}")
PY
)
      [ "$gpus" -eq 1 ] && one=${row##*|}
      echo "| $name | $s | $gpus | ${row%|*}|" | tee -a "$table"
    done
  done
done
echo; cat "$table"
