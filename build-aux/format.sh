#!/bin/sh
# build-aux/format.sh — apply the house style (.clang-format, docs/HACKING.md "Formatting") to C
# files. clang-format 14 (Debian 12) puts every #pragma line in column 0; the house style indents
# `#pragma omp` with the code it governs. So each #pragma line goes through clang-format as a
# line comment (`//#pragma ...`, which clang-format indents like the code that follows and
# leaves otherwise alone) and is turned back into the pragma afterwards.
#   build-aux/format.sh FILE...           rewrite the files in place
#   build-aux/format.sh --check FILE...   rewrite nothing; list the files that would change, exit 1 if any
check=0
[ "$1" = --check ] && { check=1; shift; }
command -v clang-format >/dev/null || { echo "format.sh: clang-format not found (apt-get install clang-format)" >&2; exit 2; }
tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp"' EXIT
changed=0
for f in "$@"; do
    sed 's|^\([ \t]*\)#\([ \t]*pragma\)|\1//@@#\2|' "$f" | clang-format --style=file --assume-filename="$f" |
        sed 's|^\([ \t]*\)// *@@#|\1#|' > "$tmp" || exit 2
    if ! cmp -s "$tmp" "$f"; then
        changed=1
        if [ $check = 1 ]; then echo "$f"; else cat "$tmp" > "$f"; fi
    fi
done
[ $check = 1 ] && exit $changed
exit 0
