#!/usr/bin/env bash
# Checks that every line of a JSON-lines corpus file is a flat JSON object whose values
# are all strings and which has the field given by --field (default "text"), and that
# the file is valid UTF-8. This is the shape scripts/get-data.sh writes; `blt preprocess`
# does the full JSON parse. Uses only bash, awk and iconv.
# usage: scripts/check-jsonl.sh [--field NAME] FILE...
set -euo pipefail
export LC_ALL=C

field=text
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --field) [ $# -ge 2 ] || { echo "check-jsonl: --field needs a value" >&2; exit 2; }
             field=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) files+=("$1"); shift ;;
  esac
done
[ ${#files[@]} -gt 0 ] || { echo "usage: scripts/check-jsonl.sh [--field NAME] FILE..." >&2; exit 2; }

status=0
for f in "${files[@]}"; do
  [ -r "$f" ] || { echo "check-jsonl: $f: cannot read" >&2; status=1; continue; }
  if ! err=$(iconv -f UTF-8 -t UTF-8 "$f" 2>&1 >/dev/null); then
    echo "check-jsonl: $f: not valid UTF-8: $err" >&2; status=1; continue
  fi
  awk -v file="$f" -v field="$field" '
    BEGIN {
      hex = "[0-9a-fA-F]"
      # A JSON string: no raw quote, backslash or control byte; escapes per RFC 8259.
      str = "\"([^\"\\\\\001-\037]|\\\\([\"\\\\/bfnrt]|u" hex hex hex hex "))*\""
      member = str "[ \t]*:[ \t]*" str
      object = "^[ \t]*\\{[ \t]*" member "([ \t]*,[ \t]*" member ")*[ \t]*\\}[ \t]*$"
      want = "\"" field "\"[ \t]*:"
    }
    $0 !~ object { printf "check-jsonl: %s:%d: not a flat JSON object of strings\n", file, NR > "/dev/stderr"; bad = 1; exit }
    # The field name must appear as a key: right after "{" or after a complete member.
    $0 !~ ("^[ \t]*\\{[ \t]*(" member "[ \t]*,[ \t]*)*" want) {
      printf "check-jsonl: %s:%d: no \"%s\" field\n", file, NR, field > "/dev/stderr"; bad = 1; exit
    }
    END {
      if (bad) exit 1
      if (NR == 0) { printf "check-jsonl: %s: empty\n", file > "/dev/stderr"; exit 1 }
      printf "check-jsonl: %s: %d lines ok\n", file, NR
    }' "$f" || status=1
done
exit $status
