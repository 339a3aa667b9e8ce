#!/bin/sh
# t/reliab-output.sh — where a seqlab output path may point: a new path, a regular file, a
# symlink, a FIFO, a character device, "-". Only regular files (and new paths) are written
# atomically (temporary + rename); FIFOs and devices are written into and stay what they were.
# The device is made with mknod in a temporary directory (root only): /dev/null is never used.
d="$SL_SRCDIR/t/data"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() { # description, then a command whose status decides
    desc=$1
    shift
    if "$@" > "$tmp/out" 2> "$tmp/err"; then ok "$desc"; else nok "$desc"; sed 's/^/# /' "$tmp/err" | head -5; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
no_temps() { test -z "$(find "$tmp" -name '.*.tmp.*')"; }
build() { "$SEQLAB" ngram build --order 2 --method kn --quiet --text "$d/ngram-train.txt" --arpa "$1"; }
# the training text is committed: a missing one is a failure (and the FIFO check below would
# wait for a writer that never comes)
if [ ! -f "$d/ngram-train.txt" ]; then echo "1..1"; echo "not ok 1 - committed fixture t/data/ngram-train.txt is missing"; exit 1; fi
echo "1..12"

"$SEQLAB" ngram build --order 2 --method kn --quiet --text "$d/ngram-train.txt" > "$tmp/ref.arpa" 2> "$tmp/err"
check "reference ARPA on stdout (--arpa absent)" grep -q '^\\2-grams:' "$tmp/ref.arpa"
check "--arpa - writes to stdout" sh -c "'$SEQLAB' ngram build --order 2 --method kn --quiet --text '$d/ngram-train.txt' --arpa - > '$tmp/dash.arpa' && cmp -s '$tmp/dash.arpa' '$tmp/ref.arpa'"
build "$tmp/new.arpa" && cmp -s "$tmp/new.arpa" "$tmp/ref.arpa" && ok "--arpa NEW creates the file with the model" || nok "--arpa NEW creates the file with the model"
echo stale > "$tmp/old.arpa"; chmod 600 "$tmp/old.arpa"
build "$tmp/old.arpa" && cmp -s "$tmp/old.arpa" "$tmp/ref.arpa" && test "$(stat -c %a "$tmp/old.arpa")" = 600 \
    && ok "--arpa EXISTING replaces it, mode kept" || nok "--arpa EXISTING replaces it, mode kept"

echo stale > "$tmp/real.arpa"; ln -s real.arpa "$tmp/link.arpa"
build "$tmp/link.arpa" && test -L "$tmp/link.arpa" && cmp -s "$tmp/real.arpa" "$tmp/ref.arpa" \
    && ok "--arpa SYMLINK replaces the target, the link stays" || nok "--arpa SYMLINK replaces the target, the link stays"

mkfifo "$tmp/fifo"
cat "$tmp/fifo" > "$tmp/from-fifo" &
reader=$!
build "$tmp/fifo"
brc=$?
# a build that failed before opening the FIFO leaves the reader waiting in open(): open it
# read-write (never blocks on Linux) and close it, so the reader sees end of file
if [ $brc -ne 0 ]; then exec 3<>"$tmp/fifo"; exec 3>&-; fi
wait $reader
test $brc -eq 0 && cmp -s "$tmp/from-fifo" "$tmp/ref.arpa" && ok "--arpa FIFO writes into the FIFO" || nok "--arpa FIFO writes into the FIFO"
test -p "$tmp/fifo" && ok "  the FIFO is still a FIFO" || nok "  the FIFO is still a FIFO"

if [ "$(id -u)" = 0 ] && mknod "$tmp/nulldev" c 1 3 2> "$tmp/err"; then
    build "$tmp/nulldev" 2> "$tmp/err"
    test -c "$tmp/nulldev" && ok "--arpa CHARDEV: still a character device" || nok "--arpa CHARDEV: still a character device"
    test "$(stat -c %t:%T "$tmp/nulldev")" = 1:3 && ok "  with its numbers 1:3" || nok "  with its numbers 1:3"
    ln -s nulldev "$tmp/devlink"
    build "$tmp/devlink" 2> "$tmp/err"
    test -c "$tmp/nulldev" && test -L "$tmp/devlink" && ok "--arpa SYMLINK-TO-CHARDEV: both unchanged" || nok "--arpa SYMLINK-TO-CHARDEV: both unchanged"
    rm -f "$tmp/nulldev" "$tmp/devlink"
else
    skip "not root or mknod not permitted"; skip "not root"; skip "not root"
fi

mkdir "$tmp/adir"
"$SEQLAB" ngram build --order 2 --method kn --quiet --text "$d/ngram-train.txt" --arpa "$tmp/adir" > "$tmp/out" 2> "$tmp/err"
rc=$?
test $rc -eq 1 && test -d "$tmp/adir" && grep -q "directory" "$tmp/err" && ok "--arpa DIRECTORY: exit 1, names the problem" \
    || { nok "--arpa DIRECTORY: exit 1, names the problem"; sed 's/^/# /' "$tmp/err"; }
no_temps && ok "no temporary files left anywhere" || nok "no temporary files left anywhere"
exit $fail
