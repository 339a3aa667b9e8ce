#!/bin/sh
# t/mutate.sh — mutation testing (not part of make check).
#
#   t/mutate.sh [-l LIST] [-w WORKDIR] [-o CSV] [-k] [N...]
#
# Copies the committed tree (git archive HEAD) to WORKDIR (default /tmp/seqlab-mutate-$USER),
# bootstraps, configures and builds it once, then for each mutation of LIST (default
# t/mutations.txt; lines "FILE @@ OLD @@ NEW @@ TESTS", see that file) or only those numbered
# N...: replaces the single occurrence of OLD in FILE by NEW, rebuilds incrementally (only the
# changed object recompiles, the library and the test programs relink), runs
# `make check TESTS="TESTS"` and restores the file. A mutant is
#   caught   — some listed test failed (a failure there is a failure of make check);
#   MISSED   — every listed test passed: the tests do not notice this change;
#   invalid  — OLD does not occur exactly once, or the mutant does not build.
# Prints one line per mutant and a summary, writes CSV (n,file,status,seconds) to -o if given,
# and exits 1 if any mutant was missed or invalid. -k keeps WORKDIR (reused by the next run
# when it holds the same commit). Needs git, perl and the build dependencies; no Python.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
list="$here/t/mutations.txt"
work="${TMPDIR:-/tmp}/seqlab-mutate-$(id -un)"
csv=
keep=0
while getopts l:w:o:k opt; do
    case $opt in
    l) list=$(cd "$(dirname "$OPTARG")" && pwd)/$(basename "$OPTARG") ;;
    w) work=$OPTARG ;;
    o) csv=$OPTARG ;;
    k) keep=1 ;;
    *) echo "usage: t/mutate.sh [-l LIST] [-w WORKDIR] [-o CSV] [-k] [N...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ -r "$list" ] || { echo "mutate.sh: cannot read $list" >&2; exit 2; }
rev=$(git -C "$here" rev-parse --short HEAD) || exit 2
# the built copy is reused while the committed tree is the same apart from this script, its
# list and the docs
key=$(git -C "$here" ls-tree -r HEAD | grep -v -e '	t/mutate.sh$' -e '	t/mutations.txt$' -e '	docs/' | md5sum | cut -c1-32)

if [ ! -f "$work/.mutate-rev" ] || [ "$(cat "$work/.mutate-rev")" != "$key" ]; then
    rm -rf "$work" && mkdir -p "$work" || exit 2
    echo "# copying $rev to $work and building it (once)"
    git -C "$here" archive HEAD | tar -x -C "$work" || exit 2
    # every check program too: the shell tests use helpers such as t/st-cmp (they link the
    # shared library, so a mutant's library reaches them without a relink)
    (cd "$work" && ./bootstrap && ./configure && make -j2 && make -j2 check TESTS=) >"$work/.build.log" 2>&1 ||
        { echo "mutate.sh: the unmutated tree does not build, see $work/.build.log" >&2; exit 2; }
    echo "$key" >"$work/.mutate-rev"
fi
[ -n "$csv" ] && echo "n,file,status,seconds" >"$csv"

n=0; caught=0; missed=0; invalid=0
grep -v '^[[:space:]]*#' "$list" | grep '@@' >"$work/.list"
while IFS= read -r line; do
    n=$((n + 1))
    if [ $# -gt 0 ]; then
        want=0; for k in "$@"; do [ "$k" = $n ] && want=1; done
        [ $want = 1 ] || continue
    fi
    file=$(printf '%s\n' "$line" | awk -F' @@ ' '{print $1}')
    old=$(printf '%s\n' "$line" | awk -F' @@ ' '{print $2}')
    new=$(printf '%s\n' "$line" | awk -F' @@ ' '{print $3}')
    tests=$(printf '%s\n' "$line" | awk -F' @@ ' '{print $4}')
    t0=$(date +%s)
    f="$work/$file"
    cnt=$(OLD="$old" perl -0ne '$c = () = /\Q$ENV{OLD}\E/g; print $c' "$f" 2>/dev/null)
    if [ "$cnt" != 1 ]; then
        status=invalid; why="text found $cnt times"
    else
        cp -p "$f" "$work/.orig" &&
            OLD="$old" NEW="$new" perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "$f"
        # relink only the test programs the mutant runs (the shell tests use seqlab and the
        # check programs built with the copy)
        progs=$(for t in $tests; do case $t in *.sh) echo t/t-transformer ;; *) echo "$t" ;; esac; done | sort -u | tr '\n' ' ')
        if ! (cd "$work" && make -j2) </dev/null >"$work/.mutant.log" 2>&1; then
            status=invalid; why="does not build"
        elif (cd "$work" && make check TESTS="$tests" check_PROGRAMS="$progs") </dev/null >>"$work/.mutant.log" 2>&1; then
            status=MISSED; why="$tests all pass"
        elif ! grep -q '^FAIL:\|^ERROR:' "$work/.mutant.log"; then
            status=invalid; why="tests did not build or run"
        else
            status=caught
            why=$(grep -h '^FAIL:\|^ERROR:' "$work/.mutant.log" | head -1 | cut -c1-100)
        fi
        cp -p "$work/.orig" "$f"
        touch "$f"   # newer than the mutant's object: the next build recompiles it
    fi
    case $status in caught) caught=$((caught + 1)) ;; MISSED) missed=$((missed + 1)) ;; *) invalid=$((invalid + 1)) ;; esac
    secs=$(($(date +%s) - t0))
    printf '%2d %-8s %-18s %s\n' $n $status "$file" "$why"
    [ -n "$csv" ] && printf '%d,%s,%s,%d\n' $n "$file" $status $secs >>"$csv"
done <"$work/.list"
# leave the copy built as committed
(cd "$work" && make -j2) >/dev/null 2>&1
total=$((caught + missed + invalid))
echo "# mutation score: $caught of $total caught ($missed missed, $invalid invalid) at $rev"
[ $keep = 1 ] || rm -rf "$work"
[ $missed = 0 ] && [ $invalid = 0 ]
