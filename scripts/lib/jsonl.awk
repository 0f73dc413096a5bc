# JSON string escaping for the corpus extractors (POSIX awk; tested with mawk).
# Run awk under LC_ALL=C so that strings are byte strings: multi-byte UTF-8 passes
# through untouched, only '"', '\' and the C0 control bytes are escaped.
#
# Replacement strings of gsub() treat '\' and '&' differently across awks, so
# escaping is done with split() and concatenation, which behave the same everywhere.

function jsonl_init(    i) {
    JSONL_BS = "\\"
    for (i = 1; i < 32; i++) {
        JSONL_CTRL[i] = sprintf("%c", i)
        JSONL_CTRL_ESC[i] = sprintf("\\u%04x", i)
    }
    JSONL_CTRL_ESC[8] = "\\b"; JSONL_CTRL_ESC[9] = "\\t"; JSONL_CTRL_ESC[10] = "\\n"
    JSONL_CTRL_ESC[12] = "\\f"; JSONL_CTRL_ESC[13] = "\\r"
    JSONL_CTRL_RE = "[" sprintf("%c", 1) "-" sprintf("%c", 31) "]"
    JSONL_READY = 1
}

# Replaces every occurrence of the single character `ch` in `s` with `rep`.
function jsonl_replace_char(s, ch, rep,    parts, n, i, out) {
    n = split(s, parts, ch)
    out = parts[1]
    for (i = 2; i <= n; i++) out = out rep parts[i]
    return out
}

# `s` as the contents of a JSON string (without the surrounding quotes).
function json_escape(s,    i) {
    if (!JSONL_READY) jsonl_init()
    if (index(s, JSONL_BS)) s = jsonl_replace_char(s, "[\\\\]", JSONL_BS JSONL_BS)
    if (index(s, "\"")) s = jsonl_replace_char(s, "[\"]", JSONL_BS "\"")
    if (s ~ JSONL_CTRL_RE)
        for (i = 1; i < 32; i++)
            if (index(s, JSONL_CTRL[i])) s = jsonl_replace_char(s, JSONL_CTRL[i], JSONL_CTRL_ESC[i])
    return s
}

# `s` as a quoted JSON string.
function json_str(s) { return "\"" json_escape(s) "\"" }
