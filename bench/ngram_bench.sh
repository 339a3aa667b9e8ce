#!/bin/sh
# bench/ngram_bench.sh — seqlab's n-gram models against KenLM (lmplz, query, build_binary), the
# same run, interleaved. Fetches nothing.
#
#   SEQLAB=build/seqlab sh bench/ngram_bench.sh [KENLM_BIN_DIR]
#
# Without a KenLM bin directory (holding lmplz, query, build_binary) only seqlab is timed and the
# script says so. Corpora: tinyshakespeare (NGRAM_TEXT, default ../shared/data/tinyshakespeare.txt
# relative to the source tree) and a larger one made here from this machine's /usr/share/doc
# (every copyright file and Debian changelog, in sorted path order, cut at NGRAM_BIG_WORDS words,
# default 2,000,000; NGRAM_BIG=0 skips it). Work: build orders 3 and 5 (lmplz -S $NGRAM_S,
# default 200M), query of each tool's ARPA on the corpus itself (-v summary), binarize + query of
# each tool's binary, and the load alone (an empty text). Each (task, tool) runs NGRAM_REPS
# times (default 3), KenLM and seqlab alternating; medians.
#
# Output: bench/results/ngram_runs.csv (every run: wall, user, sys seconds, peak RSS KiB),
# bench/results/ngram_ppl.csv (each tool's perplexity on its own model, tokens scored) and
# bench/results/ngram.csv (medians; seqlab/KenLM ratios of wall time and of CPU time, user +
# sys, the steadier figure on a loaded machine; peak memory; query throughput in tokens per
# second of query time minus load time, wall and CPU). OMP_NUM_THREADS defaults to 1.
# NGRAM_SUMMARY_ONLY=1 recomputes ngram.csv from the two other files without running anything.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
SEQLAB=${SEQLAB:-$src/build/seqlab}
KEN=${1:-}
REPS=${NGRAM_REPS:-3}
S=${NGRAM_S:-200M}
TEXT=${NGRAM_TEXT:-$src/../shared/data/tinyshakespeare.txt}
BIGW=${NGRAM_BIG_WORDS:-2000000}
ORDERS=${NGRAM_ORDERS:-3 5}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=$src/bench/results
mkdir -p "$out" || exit 1
[ -x "$SEQLAB" ] || { echo "ngram_bench: no seqlab at $SEQLAB (set SEQLAB)" >&2; exit 1; }
[ -r "$TEXT" ] || { echo "ngram_bench: cannot read $TEXT (set NGRAM_TEXT)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "ngram_bench: needs GNU time (/usr/bin/time)" >&2; exit 1; }
if [ -n "$KEN" ]; then
    for b in lmplz query build_binary; do
        [ -x "$KEN/$b" ] || { echo "ngram_bench: $KEN/$b missing" >&2; exit 1; }
    done
else
    [ "${NGRAM_SUMMARY_ONLY:-0}" = 1 ] || echo "ngram_bench: no KenLM bin directory given: timing seqlab only (no ratios)" >&2
fi
# medians and ratios
summary() {
awk -F, -v pplf="$pplf" '
function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
BEGIN { while ((getline l < pplf) > 0) { split(l, f, ","); pk[f[1] "," f[2]] = f[3]; ps[f[1] "," f[2]] = f[4]; ntok[f[1]] = f[5] } }
NR > 1 { k = $1 "," $3 "," $4 "," $5; W[k] = W[k] " " $7; C[k] = C[k] " " ($8 + $9); M[k] = M[k] " " $10
         words[$1] = $2; if (!(($1 "," $3 "," $4) in seen)) { seen[$1 "," $3 "," $4] = 1; order[++n] = $1 "," $3 "," $4 } }
END {
    print "corpus,words,task,order,kenlm_wall_s,seqlab_wall_s,wall_ratio_seqlab_over_kenlm,kenlm_cpu_s,seqlab_cpu_s,cpu_ratio_seqlab_over_kenlm,kenlm_maxrss_mib,seqlab_maxrss_mib,kenlm_tokens_per_s,seqlab_tokens_per_s,kenlm_tokens_per_cpu_s,seqlab_tokens_per_cpu_s,kenlm_ppl,seqlab_ppl"
    for (i = 1; i <= n; i++) {
        split(order[i], f, ","); c = f[1]; t = f[2]; o = f[3]
        kk = order[i] ",kenlm"; sk = order[i] ",seqlab"
        kw = (kk in W) ? median(W[kk]) : ""; sw = (sk in W) ? median(W[sk]) : ""
        kc = (kk in C) ? median(C[kk]) : ""; sc = (sk in C) ? median(C[sk]) : ""
        km = (kk in M) ? sprintf("%.1f", median(M[kk]) / 1024) : ""; sm = (sk in M) ? sprintf("%.1f", median(M[sk]) / 1024) : ""
        ratio = (kw != "" && sw != "" && kw > 0) ? sprintf("%.2f", sw / kw) : ""
        cratio = (kc != "" && sc != "" && kc > 0) ? sprintf("%.2f", sc / kc) : ""
        kwps = ""; swps = ""; kcps = ""; scps = ""
        if (t ~ /^query/) {   # throughput: tokens scored (words + </s>) over query time minus load time
            lt = c ",load" substr(t, 6) "," o
            tok = ntok[c]
            if (kw != "" && ((lt ",kenlm") in W)) {
                d = kw - median(W[lt ",kenlm"]); if (d > 0) kwps = sprintf("%.0f", tok / d)
                d = kc - median(C[lt ",kenlm"]); if (d > 0) kcps = sprintf("%.0f", tok / d)
            }
            if (sw != "" && ((lt ",seqlab") in W)) {
                d = sw - median(W[lt ",seqlab"]); if (d > 0) swps = sprintf("%.0f", tok / d)
                d = sc - median(C[lt ",seqlab"]); if (d > 0) scps = sprintf("%.0f", tok / d)
            }
        }
        pp = c "," o
        printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", c, words[c], t, o, kw, sw, ratio, kc, sc, cratio, km, sm,
               kwps, swps, kcps, scps, (t == "query-arpa" ? pk[pp] : ""), (t == "query-arpa" ? ps[pp] : "")
    }
}' "$runs" > "$out/ngram.csv"
cat "$out/ngram.csv"
}

runs=$out/ngram_runs.csv
pplf=$out/ngram_ppl.csv
if [ "${NGRAM_SUMMARY_ONLY:-0}" = 1 ]; then
    summary
    exit
fi
work=$(mktemp -d /tmp/ngram-bench.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT

# corpora
cp "$TEXT" "$work/shakespeare.txt"
corpora=shakespeare
if [ "${NGRAM_BIG:-1}" != 0 ]; then
    find /usr/share/doc \( -name copyright -o -name 'changelog.Debian.gz' \) -type f 2>/dev/null | LC_ALL=C sort |
        while read -r f; do case $f in *.gz) zcat "$f" ;; *) cat "$f" ;; esac || break; done 2>/dev/null |
        awk -v max="$BIGW" '{ n += NF; print; if (n >= max) exit }' > "$work/docs.txt"
    corpora="$corpora docs"
fi
: > "$work/empty.txt"

echo "corpus,words,task,order,tool,rep,wall_s,user_s,sys_s,maxrss_kib" > "$runs"
: > "$pplf"
# timed corpus words task order tool rep -- command...   (stdout to $work/stdout)
timed() {
    c=$1 w=$2 t=$3 o=$4 tool=$5 r=$6
    shift 7
    if ! /usr/bin/time -f '%e,%U,%S,%M' -o "$work/time" "$@" > "$work/stdout" 2> "$work/stderr"; then
        echo "ngram_bench: failed: $*" >&2
        sed 's/^/  /' "$work/stderr" | tail -5 >&2
        return 1
    fi
    echo "$c,$w,$t,$o,$tool,$r,$(tail -1 "$work/time")" >> "$runs"
}

for c in $corpora; do
    txt=$work/$c.txt
    words=$(wc -w < "$txt" | tr -d ' ')
    echo "ngram_bench: corpus $c, $words words" >&2
    for o in $ORDERS; do
        for r in $(seq 1 "$REPS"); do
            # alternate who goes first
            for who in $( [ $((r % 2)) = 1 ] && echo "ken seq" || echo "seq ken"); do
                if [ "$who" = ken ] && [ -n "$KEN" ]; then
                    timed "$c" "$words" build "$o" kenlm "$r" -- "$KEN/lmplz" -o "$o" -S "$S" -T "$work" --skip_symbols \
                        --text "$txt" --arpa "$work/ken-$c-$o.arpa" || exit 1
                elif [ "$who" = seq ]; then
                    timed "$c" "$words" build "$o" seqlab "$r" -- "$SEQLAB" ngram build --order "$o" --quiet \
                        --text "$txt" --arpa "$work/seq-$c-$o.arpa" || exit 1
                fi
            done
        done
        [ -n "$KEN" ] && { "$KEN/build_binary" "$work/ken-$c-$o.arpa" "$work/ken-$c-$o.bin" > "$work/bb.log" 2>&1 || { cat "$work/bb.log" >&2; exit 1; }; }
        if "$SEQLAB" ngram binarize --help > "$work/bh" 2>&1; then
            "$SEQLAB" ngram binarize --arpa "$work/seq-$c-$o.arpa" --out "$work/seq-$c-$o.bin" > "$work/sb.log" 2>&1 ||
                { cat "$work/sb.log" >&2; exit 1; }
            seqbin=1
        else
            seqbin=0
        fi
        for r in $(seq 1 "$REPS"); do
            for who in $( [ $((r % 2)) = 1 ] && echo "ken seq" || echo "seq ken"); do
                for kind in arpa bin; do
                    for in in "$txt" "$work/empty.txt"; do
                        task=query-$kind
                        [ "$in" = "$work/empty.txt" ] && task=load-$kind
                        if [ "$who" = ken ] && [ -n "$KEN" ]; then
                            timed "$c" "$words" "$task" "$o" kenlm "$r" -- "$KEN/query" -v summary "$work/ken-$c-$o.$kind" < "$in" || exit 1
                            [ "$task" = query-arpa ] && grep 'including OOVs' "$work/stdout" | cut -f2 > "$work/ppl-ken-$c-$o"
                        elif [ "$who" = seq ] && { [ "$kind" = arpa ] || [ "$seqbin" = 1 ]; }; then
                            opt=--arpa
                            [ "$kind" = bin ] && opt=--model
                            timed "$c" "$words" "$task" "$o" seqlab "$r" -- "$SEQLAB" ngram query $opt "$work/seq-$c-$o.$kind" -v summary --text "$in" || exit 1
                            [ "$task" = query-arpa ] && grep 'including OOVs' "$work/stdout" | cut -f2 > "$work/ppl-seq-$c-$o" &&
                                grep '^Tokens:' "$work/stdout" | cut -f2 > "$work/tok-$c"
                        fi
                    done
                done
            done
        done
        echo "$c,$o,$(cat "$work/ppl-ken-$c-$o" 2>/dev/null),$(cat "$work/ppl-seq-$c-$o" 2>/dev/null),$(cat "$work/tok-$c")" >> "$pplf"
    done
done

summary
