#!/usr/bin/env bash
# Entropy patching against static patching of the same mean size (spec section 6):
# after scripts/main.sh, trains the same small BLT for the same steps on the same
# data with static patches of 4 bytes (and, with MODES="static space", with space
# patching), and prints the validation bits per byte of each next to the
# entropy-patched run of main.sh. Extra arguments (--set k=v) go to every run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
blt=build/bin/blt
[ -f runs/blt-small.log ] || { echo "compare-patching: run scripts/main.sh first (runs/blt-small.log is missing)" >&2; exit 1; }

modes=${MODES:-static}
for mode in $modes; do
  echo "== BLT with $mode patching"
  $blt train configs/blt-small-cpu.yaml --set model.patching.mode=$mode --set model.patching.static_size=4 \
       --set train.out_dir=runs/blt-small-$mode "$@" 2>&1 | tee runs/blt-small-$mode.log
done

echo "== validation bits per byte, same model, steps and data"
for run in blt-small $(printf 'blt-small-%s ' $modes); do
  bpb=$(grep -o "done: .*" runs/$run.log | tail -1)
  patch=$(grep -o "mean patch [0-9.]* bytes" runs/$run.log | tail -1)
  printf '%-18s %s (%s)\n' "$run" "$bpb" "$patch"
done
