#!/usr/bin/env bash
# Checks scripts/plot_metrics.py on hand-written metrics.jsonl files: a PNG for
# one and for two runs on each x axis, and a clear error for a malformed line.
# usage: bash tests/plot_metrics_test.sh   (exit status 0 = pass)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Machines without Debian's python3-matplotlib (scripts/setup.sh installs it; the GPU
# machine's system Python lacks it) report the test as skipped (ctest SKIP_RETURN_CODE).
/usr/bin/python3 -c "import matplotlib" 2>/dev/null || { echo "skipped: /usr/bin/python3 has no matplotlib"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {  # name condition-command...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" == "89504e470d0a1a0a" ] && [ "$(stat -c %s "$1")" -gt 10000 ]; }

for run in entropy static; do
  mkdir -p "$tmp/$run"
  for step in 10 20 30 40; do
    bpb=$(awk -v s=$step -v r=$run 'BEGIN { printf "%.3f", 6 - s / 20 - (r == "entropy" ? 0.2 : 0) }')
    echo "{\"step\":$step,\"loss\":1.0,\"bpb\":$bpb,\"lr\":0.001,\"bytes_total\":$((step * 4096)),\"flops_total\":$((step * 1000000))}"
  done > "$tmp/$run/metrics.jsonl"
  echo "{\"step\":40,\"valid_bpb\":4.1,\"valid_loss\":2.8,\"valid_bytes\":1000,\"valid_mean_patch\":4.0}" >> "$tmp/$run/metrics.jsonl"
done

/usr/bin/python3 "$root/scripts/plot_metrics.py" "$tmp/entropy" --out "$tmp/one.png" >/dev/null
check "one run -> PNG" is_png "$tmp/one.png"
for x in step bytes flops; do
  /usr/bin/python3 "$root/scripts/plot_metrics.py" "$tmp/entropy" "$tmp/static/metrics.jsonl" --x $x --out "$tmp/two-$x.png" >/dev/null
  check "two runs, x = $x -> PNG" is_png "$tmp/two-$x.png"
done

echo '{"step": 50, "bpb": ' >> "$tmp/static/metrics.jsonl"
if out=$(/usr/bin/python3 "$root/scripts/plot_metrics.py" "$tmp/static" --out "$tmp/bad.png" 2>&1); then
  check "malformed line is an error" false
else
  check "malformed line names file and line" grep -q "static/metrics.jsonl:6: not JSON" <<<"$out"
fi
check "no PNG after an error" test ! -e "$tmp/bad.png"

[ $fails -eq 0 ] && echo "plot_metrics: all passed" || { echo "plot_metrics: $fails failed"; exit 1; }
