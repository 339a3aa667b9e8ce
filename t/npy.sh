# t/npy.sh — .npy helpers for the TAP shell tests (POSIX sh; source it after setting $tmp,
# a scratch directory the caller owns).
#   npy_values FILE        the float32 payload of a little-endian .npy (format 1.0), one per line
#   npy_max_diff A B       max abs difference of two such files; "inf" if their sizes differ
#                          or they are empty

npy_values() {
    _hl=$(od -An -tu2 -j8 -N2 "$1" | tr -d ' ')
    od -An -v -tf4 -j $((10 + _hl)) "$1" | tr -s ' ' '\n' | sed '/^$/d'
}

npy_max_diff() {
    npy_values "$1" > "$tmp/.npy_a"
    npy_values "$2" > "$tmp/.npy_b"
    paste -d' ' "$tmp/.npy_a" "$tmp/.npy_b" | awk -v na="$(wc -l < "$tmp/.npy_a")" -v nb="$(wc -l < "$tmp/.npy_b")" '
        { d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d }
        END { if (na != nb || na == 0) print "inf"; else printf "%.3g\n", m }'
}
