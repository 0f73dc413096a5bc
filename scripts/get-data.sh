#!/usr/bin/env bash
# Fetches blt's default corpora from the Debian package archive, extracts plain text as
# JSON lines under data/raw/, and builds train/validation shards under data/shards/.
# Only apt-get, dpkg-deb and the base tools of a fresh Debian 12 are used (bash,
# coreutils, gzip, sed, awk, grep, xz, tar, iconv). data/README.md describes the corpora.
#
#   data/raw/english.jsonl       GCIDE dictionary entries       {"text"}
#   data/raw/multilingual.jsonl  fortunes in 12 languages       {"lang","source","text"}
#   data/raw/code.jsonl          C sources of Linux 6.1         {"path","text"}
#   data/raw/words.txt           wamerican-huge word list, one word a line
#   data/shards/{english,multilingual,code}/   made by `blt preprocess`
#
# Idempotent: a step whose output exists is skipped; --force redoes every step.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/get-data.sh [--force] [--raw-only]
  --force     download, extract and shard again even where outputs exist
  --raw-only  stop after data/raw/ (no blt binary needed)
Environment: BLT=path of the blt program (default build/bin/blt).
USAGE
}

force=0
raw_only=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --raw-only) raw_only=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "get-data: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Byte semantics for awk, sed and sort: the extractors handle UTF-8 as opaque bytes.
export LC_ALL=C

lib=scripts/lib
raw=data/raw
debs=$raw/debs
ext=$raw/extract
shards=data/shards
blt=${BLT:-build/bin/blt}
started=$SECONDS

log() { printf 'get-data: %s\n' "$*" >&2; }
die() { printf 'get-data: error: %s\n' "$*" >&2; exit 1; }

for tool in apt-get dpkg-deb awk zcat xz tar iconv sort sed find; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' not found; this script needs a Debian/Ubuntu system with apt (see data/README.md)"
done
mkdir -p "$debs" "$ext" "$shards"

# ---------------------------------------------------------------- downloads

# Newest downloaded .deb of package $1, or nothing.
deb_of() {
  local f found=""
  for f in "$debs/$1"_*.deb; do [ -e "$f" ] && found=$f; done
  printf '%s' "$found"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root or sudo to run: $*"
  fi
}

apt_download() {
  local opts=(-q)
  # As root apt drops to the _apt user, which cannot write into our directory.
  [ "$(id -u)" -eq 0 ] && opts+=(-o APT::Sandbox::User=root)
  (cd "$debs" && apt-get download "${opts[@]}" "$@" >&2)
}

# Downloads the packages not yet in data/raw/debs (all of them with --force).
fetch_debs() {
  local p missing=()
  for p in "$@"; do
    if [ "$force" -eq 1 ] || [ -z "$(deb_of "$p")" ]; then
      rm -f "$debs/$p"_*.deb
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "downloading ${missing[*]}"
  if ! apt_download "${missing[@]}"; then
    log "apt-get download failed; refreshing the package lists (apt-get update) and retrying"
    as_root apt-get update -qq || die "apt-get update failed"
    apt_download "${missing[@]}" ||
      die "cannot download ${missing[*]}: the Debian archive (deb.debian.org or a mirror in /etc/apt/sources.list*) must be reachable through apt"
  fi
}

# Unpacks package $1 into data/raw/extract/$1 (once).
unpack() {
  local dir=$ext/$1
  if [ "$force" -eq 1 ] || [ ! -d "$dir" ]; then
    rm -rf "$dir" "$dir.tmp"
    dpkg-deb -x "$(deb_of "$1")" "$dir.tmp"
    mv "$dir.tmp" "$dir"
  fi
}

# True (and logs) when output $1 exists and --force was not given.
have() {
  if [ "$force" -eq 0 ] && [ -s "$1" ]; then log "have $1"; return 0; fi
  return 1
}

# Output $1.tmp must be UTF-8 JSON lines (or, with a second argument, UTF-8 text);
# then it becomes $1.
finish() {
  local err
  err=$(iconv -f UTF-8 -t UTF-8 "$1.tmp" 2>&1 >/dev/null) || die "$1.tmp is not valid UTF-8: $err"
  if [ $# -eq 1 ]; then scripts/check-jsonl.sh "$1.tmp" >/dev/null || die "$1.tmp is malformed"; fi
  mv "$1.tmp" "$1"
}

# Lists files of directory $1 matching find's remaining arguments, sorted.
list_files() { local dir=$1; shift; find "$dir" -type f "$@" | sort; }

# ---------------------------------------------------------------- english: GCIDE

# Documents hold consecutive dictionary entries until they reach this many bytes
# (median entry 171 bytes; see data/README.md). 0 = one entry per document.
gcide_group_bytes=2048

build_english() {
  local out=$raw/english.jsonl dir=$ext/dict-gcide/usr/share/dictd
  fetch_debs dict-gcide
  unpack dict-gcide
  awk -f "$lib/dictd-index.awk" "$dir/gcide.index" | sort -n > "$raw/gcide.ranges.tmp"
  zcat "$dir/gcide.dict.dz" |
    awk -v group_bytes="$gcide_group_bytes" -f "$lib/jsonl.awk" -f "$lib/gcide.awk" "$raw/gcide.ranges.tmp" - |
    # Three bytes of GCIDE 0.48 are Windows-1252 in otherwise UTF-8 text; fix them in
    # context (a blanket byte replacement would break UTF-8 continuation bytes).
    sed -e 's/market\x92s/market\xe2\x80\x99s/' -e 's/fa\xe7ade/fa\xc3\xa7ade/' \
        -e 's/haven\xb9t/haven\xe2\x80\x99t/' > "$out.tmp"
  rm -f "$raw/gcide.ranges.tmp"
  finish "$out"
}

# ---------------------------------------------------------------- multilingual: fortunes

# package:language. fortunes-br is Brazilian Portuguese; fortunes-cs also holds a
# Slovak file (cs/klasik-sk). Offensive sections (off/ directories) are left out.
fortune_packages=(fortunes:en fortunes-bg:bg fortunes-br:pt fortunes-cs:cs fortunes-de:de
                  fortunes-eo:eo fortunes-es:es fortunes-ga:ga fortunes-it:it fortunes-pl:pl
                  fortunes-ru:ru fortunes-zh:zh)

# Encoding tried for a fortune file that is not UTF-8 (all are in Debian 12).
legacy_encoding() {
  case "$1" in
    ru) echo KOI8-R ;; bg) echo CP1251 ;; pl|cs) echo ISO-8859-2 ;; zh) echo GB18030 ;;
    *) echo ISO-8859-1 ;;
  esac
}

build_multilingual() {
  local out=$raw/multilingual.jsonl entry pkg lang root f args=() files
  local conv=$ext/fortunes-utf8
  fetch_debs "${fortune_packages[@]%%:*}"
  rm -rf "$conv"
  for entry in "${fortune_packages[@]}"; do
    pkg=${entry%%:*}
    lang=${entry#*:}
    unpack "$pkg"
    root=$ext/$pkg/usr/share/games/fortunes/
    # *.dat are strfile indexes, *.u8 empty placeholders filled by fortune's postinst,
    # *ascii*art* pictures rather than text.
    mapfile -t files < <(list_files "$root" -size +0 ! -name '*.dat' ! -name '*.u8' \
                          ! -path '*/off/*' ! -name '*ascii*art*')
    [ ${#files[@]} -gt 0 ] || die "no fortune files in $root"
    args+=("lang=$lang" "prefix=$root")
    for f in "${files[@]}"; do
      if ! iconv -f UTF-8 -t UTF-8 "$f" >/dev/null 2>&1; then
        mkdir -p "$conv"
        log "converting $f from $(legacy_encoding "$lang")"
        iconv -f "$(legacy_encoding "$lang")" -t UTF-8 "$f" > "$conv/${f#"$root"}" ||
          die "$f is neither UTF-8 nor $(legacy_encoding "$lang")"
        args+=("prefix=$conv/" "$conv/${f#"$root"}" "prefix=$root")
      else
        args+=("$f")
      fi
    done
  done
  awk -f "$lib/jsonl.awk" -f "$lib/fortunes.awk" "${args[@]}" > "$out.tmp"
  finish "$out"
}

# ---------------------------------------------------------------- code: Linux C sources

kernel=linux-source-6.1
# About 31 MB of .c/.h: core kernel, memory management, library code, ext4, IPv4, crypto.
kernel_dirs=(kernel mm lib fs/ext4 net/ipv4 crypto)
# Left out: megabytes of hexadecimal test vectors rather than code.
kernel_skip=(crypto/testmgr.h lib/crypto/chacha20poly1305-selftest.c)

build_code() {
  local out=$raw/code.jsonl src=$ext/linux d members=() files f
  fetch_debs "$kernel"
  if [ "$force" -eq 1 ] || [ ! -d "$src" ]; then
    rm -rf "$src" "$src.tmp"
    mkdir -p "$src.tmp"
    for d in "${kernel_dirs[@]}"; do members+=("$kernel/$d"); done
    log "extracting ${kernel_dirs[*]} from the $kernel tarball (reads all of its ~140 MB .xz)"
    dpkg-deb --fsys-tarfile "$(deb_of "$kernel")" |
      tar -xOf - "./usr/src/$kernel.tar.xz" |
      tar -xJf - -C "$src.tmp" "${members[@]}"
    mv "$src.tmp" "$src"
  fi
  local skip=()
  for f in "${kernel_skip[@]}"; do skip+=(! -path "$src/$kernel/$f"); done
  mapfile -t files < <(list_files "$src/$kernel" \( -name '*.c' -o -name '*.h' \) -size +0 "${skip[@]}")
  [ ${#files[@]} -gt 0 ] || die "no C files under $src/$kernel"
  if ! cat "${files[@]}" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1; then
    for f in "${files[@]}"; do
      iconv -f UTF-8 -t UTF-8 "$f" >/dev/null 2>&1 && continue
      log "converting $f from ISO-8859-1"
      iconv -f ISO-8859-1 -t UTF-8 "$f" > "$f.utf8" && mv "$f.utf8" "$f"
    done
  fi
  awk -f "$lib/jsonl.awk" -f "$lib/files.awk" "prefix=$src/$kernel/" "${files[@]}" > "$out.tmp"
  finish "$out"
}

# ---------------------------------------------------------------- words

build_words() {
  local out=$raw/words.txt
  fetch_debs wamerican-huge
  unpack wamerican-huge
  cp "$ext/wamerican-huge/usr/share/dict/american-english-huge" "$out.tmp"
  finish "$out" text
}

have "$raw/english.jsonl" || build_english
have "$raw/multilingual.jsonl" || build_multilingual
have "$raw/code.jsonl" || build_code
have "$raw/words.txt" || build_words

for f in english.jsonl multilingual.jsonl code.jsonl words.txt; do
  read -r lines bytes < <(wc -lc < "$raw/$f")
  log "$(awk -v f="$f" -v l="$lines" -v b="$bytes" 'BEGIN { printf "%-20s %8d lines %7.1f MB", f, l, b / 1e6 }')"
done
log "raw corpora ready after $((SECONDS - started)) s"

# ---------------------------------------------------------------- shards

if [ "$raw_only" -eq 1 ]; then
  log "--raw-only: not building shards"
  exit 0
fi
[ -x "$blt" ] ||
  die "$blt not found: build blt first (scripts/build.sh), set BLT=path/to/blt, or run with --raw-only"

# Shards of data/raw/$1.jsonl with validation fraction $2; redone when the raw file
# is newer than the stamp of the last successful run.
preprocess() {
  local name=$1 fraction=$2 out=$shards/$1 stamp=$shards/.$1.done
  if [ "$force" -eq 0 ] && [ -e "$stamp" ] && [ "$stamp" -nt "$raw/$name.jsonl" ]; then
    log "have $out"
    return 0
  fi
  rm -rf "$out" "$stamp"
  "$blt" preprocess "$raw/$name.jsonl" --format jsonl --text-field text --out "$out" \
    --valid-fraction "$fraction" --seed 0
  touch "$stamp"
}

preprocess english 0.01
preprocess multilingual 0.2
preprocess code 0.05
"$blt" data stats "$shards/english/train" "$shards/english/valid"
log "done after $((SECONDS - started)) s"
