# Splits the GCIDE dictd text into documents of whole dictionary entries.
#
# usage: LC_ALL=C awk -v group_bytes=N -f jsonl.awk -f gcide.awk RANGES TEXT
#   RANGES: "offset<TAB>length" per entry, byte positions in TEXT, sorted by offset,
#           non-overlapping (decoded from gcide.index, header entries removed).
#   TEXT:   the uncompressed gcide.dict.
# Consecutive entries are joined (with one blank line between them, as in the source)
# until a document holds at least group_bytes bytes; group_bytes=0 gives one entry per
# document. Bytes between indexed ranges (the licence header and a few unindexed
# fragments) are dropped. Each document is one JSON line {"text": "..."}.
# Fails if an entry does not start or end on a line boundary, or if the number of
# entries written differs from the number of ranges.

FNR == NR { start[++nranges] = $1; stop[nranges] = $1 + $2; next }

function fail(msg) { printf "gcide.awk: %s\n", msg > "/dev/stderr"; failed = 1; exit 1 }

function flush_doc() {
    if (doc_entries == 0) return
    print "{\"text\": \"" doc "\"}"
    docs++; doc = ""; doc_bytes = 0; doc_entries = 0
}

function close_entry() {
    if (pos != stop[k]) fail("entry " k " ends at byte " stop[k] " inside the line at byte " pos)
    in_entry = 0; entries++; k++
}

FNR == 1 { k = 1; pos = 0 }

{
    while (in_entry && pos >= stop[k]) close_entry()
    if (k <= nranges && !in_entry && pos > start[k])
        fail("entry " k " starts at byte " start[k] ", not at a line start")
    if (k <= nranges && pos == start[k]) {
        if (doc_entries > 0 && doc_bytes >= group_bytes) flush_doc()
        if (doc_entries > 0) { doc = doc "\\n\\n"; doc_bytes += 2 }
        in_entry = 1; entry_lines = 0; doc_entries++
    }
    # Some entries open with blank lines; blank
    # lines before an entry's first text line carry nothing.
    if (in_entry && !(entry_lines == 0 && $0 == "")) {
        doc = doc (entry_lines++ ? "\\n" : "") json_escape($0)
        doc_bytes += length($0) + 1
    }
    pos += length($0) + 1
}

END {
    if (failed) exit 1
    if (in_entry) close_entry()
    if (nranges == 0) fail("no index ranges given")
    if (entries != nranges) fail("wrote " entries " entries but the index has " nranges)
    flush_doc()
    printf "gcide.awk: %d entries in %d documents\n", entries, docs > "/dev/stderr"
}
