#!/usr/bin/env bash
# Two CPU trainings sharing 2 cores against one alone (issue: an idle OpenMP
# thread spinning in one process steals the time slices of the other's).
#   bash bench/cpu_contention.sh [BLT] [CONFIG]
# Trains CONFIG (default: the main job's entropy model, STEPS=20 steps) on a corpus made
# from this repository's own text, pinned to 2 cores, once alone and twice side by
# side, under libgomp's default spin (GOMP_SPINCOUNT=300000, what blt ran with
# before core/cpu_runtime.cpp shortened it) and under blt's own setting. Prints
# bytes/s of each run and the pair's speed as a fraction of one alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
blt=$(realpath "${1:-build/bin/blt}")
config=${2:-configs/entropy-tiny-cpu.yaml}
cores=${CORES:-0,1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$blt" preprocess docs blt configs --out "$work/corpus" >/dev/null 2>&1

train() {  # name, extra env...: prints the run's mean bytes/s after its first logged step
  local name=$1; shift
  env "$@" taskset -c "$cores" "$blt" train "$config" --set data.train="$work/corpus/train" --set data.valid="$work/corpus/valid" \
    --set train.out_dir="$work/$name" --set train.steps=${STEPS:-20} --set train.log_every=5 --set train.checkpoint_every=0 \
    >"$work/$name.log" 2>&1 || { cat "$work/$name.log" >&2; return 1; }
  python3 -c 'import json,sys; r=[j for j in map(json.loads, open(sys.argv[1])) if "bytes_per_s" in j][1:]; print(sum(x["bytes_per_s"] for x in r)/len(r))' \
    "$work/$name/metrics.jsonl"
}

for setting in ${SETTINGS:-"GOMP_SPINCOUNT=300000" "BLT_DEFAULT=1"}; do
  alone=$(train alone-$setting $setting)
  train a-$setting $setting >"$work/a.out" & pa=$!
  train b-$setting $setting >"$work/b.out" & pb=$!
  wait $pa $pb
  a=$(cat "$work/a.out"); b=$(cat "$work/b.out")
  python3 - "$setting" "$alone" "$a" "$b" <<'PY'
import sys
setting, alone, a, b = sys.argv[1], *map(float, sys.argv[2:])
print(f"{setting:24s} alone {alone:9.0f} B/s | side by side {a:9.0f} + {b:9.0f} B/s | "
      f"each at {min(a, b) / alone:5.1%} of alone (ideal 50%)")
PY
done
