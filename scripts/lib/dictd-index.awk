# Decodes a dictd .index file ("headword<TAB>offset<TAB>length", offset and length in
# dictd's base-64 digits A-Z a-z 0-9 + /, most significant first) into the sorted list
# of distinct entry ranges "offset<TAB>length". Ranges carrying a headword that starts
# with "00-" (the database's own header entries) are left out.
# usage: LC_ALL=C awk -f dictd-index.awk FILE.index | sort -n -u

BEGIN {
    FS = "\t"
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for (i = 1; i <= 64; i++) value[substr(digits, i, 1)] = i - 1
}

function b64(s,    r, i, c) {
    r = 0
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (!(c in value)) { printf "dictd-index.awk: line %d: bad digit '%s'\n", NR, c > "/dev/stderr"; bad = 1; exit 1 }
        r = r * 64 + value[c]
    }
    return r
}

NF != 3 { printf "dictd-index.awk: line %d: expected 3 tab-separated fields\n", NR > "/dev/stderr"; bad = 1; exit 1 }

{
    range = b64($2) "\t" b64($3)
    if (substr($1, 1, 3) == "00-") header[range] = 1
    else ranges[range] = 1
}

END {
    if (bad) exit 1
    for (r in ranges) if (!(r in header)) print r
}
