#!/bin/sh
# t/fuzz-corpus.sh — every fuzz harness (fuzz/NAME.c, built as fuzz/fuzz-NAME) over its
# committed seed corpus (fuzz/corpus/NAME) and over the reproducers of every finding the
# fuzzers made (t/data/fuzz/NAME, see docs/reliability.md): each input must run without a
# crash, a sanitizer report or a hang. In the ordinary build the harnesses run through
# fuzz/driver.c; in a --enable-fuzzing build they are libFuzzer programs, which run the files
# given to them once each. A corpus directory committed to the tree must be present and
# non-empty: a missing one fails, and so does a harness of with_regs whose reproducers
# (t/data/fuzz/NAME, committed with the fix of each finding) are missing.
: "${SL_SRCDIR:=.}" "${SL_BUILDDIR:=.}"
harnesses="safetensors npy json spec arpa w2v_text w2v_bin llama2c llama2c_tok checkpoint corpus bpe bpe_gpt2 tok_hf spm shards regex json_schema"
with_regs="arpa llama2c shards tok_hf regex json_schema"
n=0
for h in $harnesses; do n=$((n + 1)); done
echo "1..$n"
k=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-corpus.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
for h in $harnesses; do
    k=$((k + 1))
    prog="$SL_BUILDDIR/fuzz/fuzz-$(echo $h | tr _ -)"
    seeds="$SL_SRCDIR/fuzz/corpus/$h"
    regs="$SL_SRCDIR/t/data/fuzz/$h"
    files=$(find "$seeds" "$regs" -type f 2>/dev/null | LC_ALL=C sort)
    nseed=$(find "$seeds" -type f 2>/dev/null | wc -l)
    nreg=$(find "$regs" -type f 2>/dev/null | wc -l)
    if [ ! -x "$prog" ]; then
        echo "not ok $k - $h: $prog was not built"
        continue
    fi
    if [ "$nseed" -eq 0 ]; then
        echo "not ok $k - $h: no seed corpus in $seeds"
        continue
    fi
    case " $with_regs " in
    *" $h "*)
        if [ "$nreg" -eq 0 ]; then
            echo "not ok $k - $h: its committed reproducers ($regs) are missing"
            continue
        fi ;;
    esac
    # shellcheck disable=SC2086
    if timeout 300 "$prog" $files >"$tmp/out" 2>&1; then
        echo "ok $k - $h: $nseed seed inputs and $nreg reproducers run clean"
    else
        echo "not ok $k - $h: a crash, sanitizer report or hang over its corpus"
        sed 's/^/# /' "$tmp/out" | tail -30
    fi
done
