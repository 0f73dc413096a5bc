#!/usr/bin/env bash
# The main job, from a fresh Debian/Ubuntu machine: install packages, build blt,
# fetch and shard the default corpus (English dictionary text), train the tiny
# entropy model, pick the entropy threshold that gives patches of 4 bytes on
# average, train a small BLT patched by it, and report validation bits per byte
# next to the corpus' byte-unigram entropy. CPU only. Re-running resumes or
# skips finished steps. Extra arguments (--set k=v) go to both training runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
bash scripts/build.sh
bash scripts/get-data.sh

blt=build/bin/blt
echo "== 1/3: entropy model (configs/entropy-tiny-cpu.yaml)"
$blt train configs/entropy-tiny-cpu.yaml "$@"

echo "== 2/3: entropy threshold for a mean patch of 4 bytes"
threshold=$($blt patching threshold runs/entropy-tiny/model --data data/shards/english/train --mean-patch 4 \
            --seq-len 512 --sequences 256 --device cpu)
echo "model.patching.threshold = $threshold"

echo "== 3/3: BLT patched by it (configs/blt-small-cpu.yaml)"
$blt train configs/blt-small-cpu.yaml --set model.patching.threshold="$threshold" "$@" 2>&1 | tee runs/blt-small.log

echo "== result (validation set, every byte)"
grep -o "done: .*" runs/blt-small.log | tail -1
