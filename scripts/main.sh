#!/usr/bin/env bash
# The main job, from a fresh Debian/Ubuntu machine: install packages, build blt,
# fetch and shard the default corpus (English dictionary text), train the tiny
# entropy model, train a small BLT patched by it, and report bits per byte.
# CPU only; about 15 minutes on 2 cores. Re-running resumes/skips finished steps.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
bash scripts/build.sh
bash scripts/get-data.sh

echo "== 1/2: entropy model (configs/entropy-tiny-cpu.yaml)"
build/bin/blt train configs/entropy-tiny-cpu.yaml "$@"
echo "== 2/2: BLT patched by it (configs/blt-small-cpu.yaml)"
build/bin/blt train configs/blt-small-cpu.yaml "$@"

echo "== result"
build/bin/blt eval runs/blt-small/model --data data/shards/english/valid --seq-len 1024 --batch-size 8 --device cpu
