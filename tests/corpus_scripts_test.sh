#!/usr/bin/env bash
# Tests the awk extractors behind scripts/get-data.sh on small hand-made inputs:
# JSON escaping of awkward bytes, the dictd index decoder and GCIDE entry splitter,
# fortune records, whole files, and scripts/check-jsonl.sh's rejection of bad lines.
# usage: bash tests/corpus_scripts_test.sh   (exit status 0 = pass)
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lib=$root/scripts/lib
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

expect_eq() {  # name expected actual
  if [ "$2" == "$3" ]; then echo "ok   $1"
  else echo "FAIL $1"; echo "  expected: $2"; echo "  actual:   $3"; fails=$((fails + 1)); fi
}
expect_fail() {  # name command...
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then echo "FAIL $name (succeeded)"; fails=$((fails + 1)); else echo "ok   $name"; fi
}

# --- escaping: backslashes, quotes, tab, CR, other control bytes, DEL, UTF-8
printf 'a\\b \\\\ "q" \\"\tt\rr\001\037x\177 \303\274\320\266\344\270\255\n\n' > "$tmp/tricky.txt"
echo '{ print json_str($0) }' > "$tmp/print.awk"
actual=$(awk -f "$lib/jsonl.awk" -f "$tmp/print.awk" "$tmp/tricky.txt") || true
expected=$(printf '"a\\\\b \\\\\\\\ \\"q\\" \\\\\\"\\tt\\rr\\u0001\\u001fx\177 \303\274\320\266\344\270\255"\n""')
expect_eq "json_str escapes backslash quote and control bytes" "$expected" "$actual"

# --- dictd index decoding: "K" = 10, "BA" = 64, header entries dropped, duplicates merged
printf '00-database-info\tA\tF\nalpha\tG\tK\nAlpha\tG\tK\nbeta\tBA\tJ\n' > "$tmp/d.index"
actual=$(awk -f "$lib/dictd-index.awk" "$tmp/d.index" | sort -n | tr '\t\n' ':,') || true
expect_eq "dictd index decodes base-64 offsets" "6:10,64:9," "$actual"

# --- GCIDE splitting: header (bytes 0..5) skipped, entries at 6 (10 bytes) and 17 (9 bytes)
printf 'HEAD\n\nalpha \\a\\\n\nbeta "b"\n' > "$tmp/d.dict"
printf '6\t10\n17\t9\n' > "$tmp/ranges"
actual=$(awk -v group_bytes=0 -f "$lib/jsonl.awk" -f "$lib/gcide.awk" "$tmp/ranges" "$tmp/d.dict" 2>/dev/null) || true
expect_eq "gcide one entry per document" \
  "$(printf '{"text": "alpha \\\\a\\\\"}\n{"text": "beta \\"b\\""}')" "$actual"
actual=$(awk -v group_bytes=1000 -f "$lib/jsonl.awk" -f "$lib/gcide.awk" "$tmp/ranges" "$tmp/d.dict" 2>/dev/null) || true
expect_eq "gcide groups entries with a blank line" \
  '{"text": "alpha \\a\\\n\nbeta \"b\""}' "$actual"
printf '7\t9\n17\t9\n' > "$tmp/badranges"
expect_fail "gcide rejects an entry not on a line start" \
  awk -v group_bytes=0 -f "$lib/jsonl.awk" -f "$lib/gcide.awk" "$tmp/badranges" "$tmp/d.dict"
printf '6\t10\n17\t9\n40\t3\n' > "$tmp/extraranges"
expect_fail "gcide rejects an index range past the text" \
  awk -v group_bytes=0 -f "$lib/jsonl.awk" -f "$lib/gcide.awk" "$tmp/extraranges" "$tmp/d.dict"

# --- fortunes: records split on "%", blank edges trimmed, empty records skipped, colours removed
mkdir -p "$tmp/f/de"
printf '\none\n\n%%\n%%\n\033[32mtwo\033[m\n\n\nlines\n%%\n' > "$tmp/f/de/x"
actual=$(awk -f "$lib/jsonl.awk" -f "$lib/fortunes.awk" lang=de "prefix=$tmp/f/" "$tmp/f/de/x" 2>/dev/null) || true
expect_eq "fortune records" \
  "$(printf '{"lang": "de", "source": "de/x", "text": "one"}\n{"lang": "de", "source": "de/x", "text": "two\\n\\n\\nlines"}')" "$actual"

# --- whole files: one line each, empty files skipped
printf 'int x;\n' > "$tmp/a.c"; : > "$tmp/b.c"; printf '"s"\n' > "$tmp/c.h"
actual=$(awk -f "$lib/jsonl.awk" -f "$lib/files.awk" "prefix=$tmp/" "$tmp/a.c" "$tmp/b.c" "$tmp/c.h" 2>/dev/null) || true
expect_eq "files to json lines" \
  "$(printf '{"path": "a.c", "text": "int x;\\n"}\n{"path": "c.h", "text": "\\"s\\"\\n"}')" "$actual"

# --- check-jsonl: everything above passes, malformed lines do not
printf '%s\n' "$actual" > "$tmp/good.jsonl"
expect_eq "check-jsonl accepts generated lines" 0 "$("$root/scripts/check-jsonl.sh" "$tmp/good.jsonl" >/dev/null 2>&1; echo $?)"
i=0
for bad in '{"text": "raw	tab"}' '{"text": "un"quoted"}' '{"text": "\x"}' '{"text": "\u12"}' \
           '{"path": "x"}' '{"text": 5}' '{"text": "a"} x' '{"text": "cut' '{"a": "b", "text": "c",}' \
           $'{"text": "\xff"}'; do
  i=$((i + 1))
  printf '%s\n' "$bad" > "$tmp/bad$i.jsonl"
  expect_fail "check-jsonl rejects line $i: $bad" "$root/scripts/check-jsonl.sh" "$tmp/bad$i.jsonl"
done

[ "$fails" -eq 0 ] && echo "all passed" || { echo "$fails failed"; exit 1; }
