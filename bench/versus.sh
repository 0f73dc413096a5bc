#!/usr/bin/env bash
# A change's measured effect: `blt bench` of this tree against an older one, alternated on one machine
# in one call. Machines of one kind differ by a few per cent in speed between calls, as much as a
# change of a few ms is worth, so both sides run on the same machine, old and new in turn.
#   here:          git archive REV | tar -x -C build-versus-src   (an ignored path: carry it along)
#   GPU machine:   bash bench/versus.sh build-versus-src CONFIG [ROUNDS] [--set key=value ...]
# Builds the old tree's blt into build-versus (this tree's must be in build-gpu), runs old, new, old,
# new ... ROUNDS (default 2) times each, and prints each run's median step, forward, backward and
# update, then every side's median over its runs. Logs and JSON under $OUT (or ./gpu-logs)/versus.
set -uo pipefail
old_src=$1 config=$2
shift 2
rounds=2
if [[ $# -gt 0 && $1 != --* ]]; then rounds=$1; shift; fi
out=${OUT:-gpu-logs}/versus
mkdir -p "$out"
source .device/env.sh
cmake -S "$old_src" -B build-versus -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$TORCH_CMAKE_PREFIX;$BLT_DEPS_PREFIX" -DBLT_DEPS_PREFIX="$BLT_DEPS_PREFIX" >"$out/build.log" 2>&1 &&
  cmake --build build-versus -j"$(nproc)" --target blt >>"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
for ((i = 1; i <= rounds; ++i)); do
  for side in old new; do
    blt=build-gpu/bin/blt
    [ $side = old ] && blt=build-versus/bin/blt
    timeout 300 "$blt" bench "$config" "$@" --json "$out/$side-$i.json" >"$out/$side-$i.log" 2>&1 ||
      { echo "$side run $i failed:"; tail -20 "$out/$side-$i.log"; exit 1; }
  done
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
runs = {side: [json.load(open(f"{out}/{side}-{i}.json")) for i in range(1, rounds + 1)] for side in ("old", "new")}
cols = ("step", "forward", "backward", "update")
def row(r):
    return [r["step_ms_median"]] + [r["phase_ms_median"].get(c, float("nan")) for c in cols[1:]]
print(f"{'run':<8}" + "".join(f"{c + ' ms':>12}" for c in cols) + f"{'peak GiB':>10}")
for side, rs in runs.items():
    for i, r in enumerate(rs, 1):
        print(f"{side} {i:<4}" + "".join(f"{v:12.1f}" for v in row(r)) + f"{r['peak_memory_gib']:10.1f}")
med = {side: [statistics.median(row(r)[k] for r in rs) for k in range(len(cols))] for side, rs in runs.items()}
for side in runs:
    print(f"{side + ' med':<8}" + "".join(f"{v:12.1f}" for v in med[side]))
print(f"{'new-old':<8}" + "".join(f"{n - o:+12.1f}" for n, o in zip(med["new"], med["old"])))
PY
