# Turns fortune files (records separated by lines holding only "%") into JSON lines
# {"lang": ..., "source": ..., "text": ...}, one record per line.
#
# usage: LC_ALL=C awk -f jsonl.awk -f fortunes.awk lang=en prefix=P FILE... lang=de FILE...
#   lang:   language tag written with each record of the files that follow it
#   prefix: leading part of FILENAME left out of the "source" field
# Leading and trailing blank lines of a record are dropped, records left empty are
# skipped, and ANSI colour sequences (ESC [ ... m, used by the Chinese files) removed.

function flush_record() {
    if (nlines > 0) {
        source = FILENAME_PREV
        if (index(source, prefix) == 1) source = substr(source, length(prefix) + 1)
        print "{\"lang\": " json_str(lang_prev) ", \"source\": " json_str(source) ", \"text\": \"" text "\"}"
        records++
    }
    text = ""; nlines = 0; blanks = 0
}

FNR == 1 { flush_record(); FILENAME_PREV = FILENAME; lang_prev = lang }

$0 == "%" { flush_record(); next }

{
    gsub(/\033\[[0-9;]*m/, "")
    if ($0 ~ /^[ \t\r]*$/) { if (nlines > 0) blanks++; next }
    for (; blanks > 0; blanks--) text = text "\\n"
    text = text (nlines++ ? "\\n" : "") json_escape($0)
}

END {
    flush_record()
    printf "fortunes.awk: %d records\n", records > "/dev/stderr"
}
