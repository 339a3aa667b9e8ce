#!/bin/sh
# t/example.sh — the public C API as a user meets it: examples/train_copy (built by make
# check from <seqlab/seqlab.h>) creates a model from a spec, agrees between sequence and step
# mode, and learns; every public header compiles as C++ and the library links from C++ (the
# extern "C" guards), when a C++ compiler is present; the static library, when configure
# built one (--enable-static), links the example on its own.
: "${SL_SRCDIR:=.}" "${SL_BUILDDIR:=.}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); fi; }
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }

ex="$SL_BUILDDIR/examples/train_copy"
TRAIN_COPY_OUT="$tmp/w.safetensors" "$ex" >"$tmp/out" 2>&1; r=$?
sed 's/^/# /' "$tmp/out"
ok $r "examples/train_copy runs (exit 0: step mode agrees, validation loss falls)"
d=$(sed -n 's/.*max |difference| of the logits \(.*\)/\1/p' "$tmp/out")
awk -v d="$d" 'BEGIN { exit !(d != "" && d + 0 < 1e-4) }'; ok $? "  ... sequence and step mode logits agree ($d)"
grep -q '^validation: loss' "$tmp/out" && [ -s "$tmp/w.safetensors" ]; ok $? "  ... evaluates and saves the weights"

CXX=${CXX:-g++}
if command -v "$CXX" >/dev/null 2>&1; then
    {
        for h in $(cd "$SL_SRCDIR" && ls core/*.h seq/*.h ssm/*.h nlp/*.h lab/*.h); do echo "#include \"$h\""; done
        cat <<'CC'
#include <seqlab/seqlab.h>
#include <cstdio>
int main()
{
    sl_model *m = nullptr;
    if (sl_model_create("lstm:input_size=3,hidden_size=4", 1, &m) != SL_OK) { std::puts(sl_errmsg()); return 1; }
    float x[2 * 3] = {1, 2, 3, 4, 5, 6}, y[2 * 4];
    int rc = sl_model_forward(m, x, nullptr, y, 1, 2);
    sl_model_free(m);
    return rc;
}
CC
    } >"$tmp/api.cc"
    libdir="$SL_BUILDDIR/.libs"
    # a sanitizer build's library needs the same -fsanitize flags where it is linked
    # shellcheck disable=SC2086
    if "$CXX" -std=c++17 -Wall -fopenmp ${SL_SANITIZE_FLAGS:-} -I"$SL_SRCDIR" -I"$SL_SRCDIR/include" -I"$SL_BUILDDIR" "$tmp/api.cc" -o "$tmp/api" \
        -L"$libdir" -lseqlab -Wl,-rpath,"$libdir" 2>"$tmp/cxx.err" && "$tmp/api"; then r=0; else r=1; head -20 "$tmp/cxx.err" | sed 's/^/# /'; fi
    ok $r "every public header and <seqlab/seqlab.h> compile as C++; the library links and runs from C++"
else
    skip "no C++ compiler ($CXX)"
fi

if [ -f "$SL_BUILDDIR/.libs/libseqlab.a" ]; then
    libs=$(sed -n "s/^DEPS_LIBS = //p" "$SL_BUILDDIR/Makefile")
    if ${CC:-cc} -std=gnu11 -fopenmp -I"$SL_SRCDIR" -I"$SL_SRCDIR/include" -I"$SL_BUILDDIR" "$SL_SRCDIR/examples/train_copy.c" \
        -o "$tmp/static" "$SL_BUILDDIR/.libs/libseqlab.a" $libs 2>"$tmp/cc.err" && "$tmp/static" 20 >/dev/null &&
        ! ldd "$tmp/static" | grep -q libseqlab; then r=0; else r=1; head -20 "$tmp/cc.err" | sed 's/^/# /'; fi
    ok $r "the static library (--enable-static) links the example without libseqlab.so"
else
    skip "no static library (configure without --enable-static)"
fi
echo "1..$n"
[ $fails -eq 0 ]
