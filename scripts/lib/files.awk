# Turns each input file into one JSON line {"path": ..., "text": ...}.
#
# usage: LC_ALL=C awk -f jsonl.awk -f files.awk prefix=P FILE...
#   prefix: leading part of FILENAME left out of the "path" field
# Every line, the last included, is taken to end with a newline; empty files are
# skipped. Lines are written as they are read, so file size does not matter.

function close_file() { if (open_file) { print "\"}"; open_file = 0; files++ } }

FNR == 1 {
    close_file()
    path = FILENAME
    if (index(path, prefix) == 1) path = substr(path, length(prefix) + 1)
    printf "{\"path\": %s, \"text\": \"", json_str(path)
    open_file = 1
}

{ printf "%s\\n", json_escape($0) }

END {
    close_file()
    printf "files.awk: %d files\n", files > "/dev/stderr"
}
