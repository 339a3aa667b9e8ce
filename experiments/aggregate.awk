# experiments/aggregate.awk — a sweep's runs -> one row per configuration (used by
# exp_aggregate in common.sh and by experiments/sweep.sh; POSIX awk).
#   awk -F, -v by=COLS -v subc=COLS -v sel=COL=VALUE -v metric=COL -v better=max|min -f aggregate.awk RAW.csv
# RAW: a header, then one row per (run, SUB value) with columns lr, seed, status and METRIC.
# A configuration is the values of the BY columns. For each configuration and learning rate,
# the median over seeds of METRIC is taken at every SUB value; the learning rate is chosen by
# the median at the SUB row matching SEL (or, without SEL, the mean of the medians over the SUB
# rows), best by BETTER (ties: the first learning rate seen). Output: BY,SUB,lr,seeds,median,
# min,max,lrs_tried, one row per (configuration, SUB value) at the chosen learning rate, in
# the order of first appearance. Rows whose status is not "ok" or whose METRIC is empty are
# ignored; a configuration with no usable row at any learning rate is left out.

function split_cols(list, out,    n, i, a) {
    n = list == "" ? 0 : split(list, a, ",")
    for (i = 1; i <= n; i++) out[i] = a[i]
    return n
}
function col_of(name,    i) {
    for (i = 1; i <= NF; i++) if ($i == name) return i
    print "aggregate.awk: no column '" name "' in the header" > "/dev/stderr"
    bad = 1
    exit 2
}
function join_vals(idx, n,    i, s) {
    s = ""
    for (i = 1; i <= n; i++) s = s (i > 1 ? "," : "") $(idx[i])
    return s
}
# median / min / max of the space-separated numbers in s (into MED, MIN, MAX); returns the count
function stats(s,    v, n, i, j, x) {
    n = split(s, v, " ")
    for (i = 2; i <= n; i++) {   # insertion sort (a handful of seeds)
        x = v[i] + 0
        for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]
        v[j + 1] = x
    }
    MIN = v[1] + 0; MAX = v[n] + 0
    MED = (n % 2) ? v[(n + 1) / 2] + 0 : (v[n / 2] + v[n / 2 + 1]) / 2
    return n
}

BEGIN {
    nby = split_cols(by, BYN)
    nsub = split_cols(subc, SUBN)
    if (sel != "") { eq = index(sel, "="); selc = substr(sel, 1, eq - 1); selv = substr(sel, eq + 1) }
    if (better != "max" && better != "min") { print "aggregate.awk: better must be max or min" > "/dev/stderr"; bad = 1; exit 2 }
}
NR == 1 {
    for (i = 1; i <= nby; i++) BYI[i] = col_of(BYN[i])
    for (i = 1; i <= nsub; i++) SUBI[i] = col_of(SUBN[i])
    LRI = col_of("lr"); SEEDI = col_of("seed"); STI = col_of("status"); MI = col_of(metric)
    if (sel != "") SELI = col_of(selc)
    hdr = by
    if (subc != "") hdr = hdr (hdr != "" ? "," : "") subc
    print hdr (hdr != "" ? "," : "") "lr,seeds,median,min,max,lrs_tried"
    next
}
{
    if ($STI != "ok" || $MI == "") next
    k = join_vals(BYI, nby)
    s = nsub ? join_vals(SUBI, nsub) : ""
    lr = $LRI
    if (!(k in kseen)) { kseen[k] = 1; korder[++nk] = k }
    if (!((k, s) in sseen)) { sseen[k, s] = 1; nsubs[k]++; sorder[k, nsubs[k]] = s }
    if (!((k, lr) in lseen)) { lseen[k, lr] = 1; nlrs[k]++; lorder[k, nlrs[k]] = lr }
    vals[k, lr, s] = vals[k, lr, s] " " $MI
    if (sel != "" && $SELI == selv) selsub[k] = s
}
END {
    if (bad) exit 2
    for (a = 1; a <= nk; a++) {
        k = korder[a]
        best = ""; bestscore = 0
        for (b = 1; b <= nlrs[k]; b++) {
            lr = lorder[k, b]
            if (sel != "") {
                if (!(k in selsub) || !((k, lr, selsub[k]) in vals)) continue
                stats(vals[k, lr, selsub[k]]); score = MED
            } else {
                tot = 0; cnt = 0
                for (c = 1; c <= nsubs[k]; c++)
                    if ((k, lr, sorder[k, c]) in vals) { stats(vals[k, lr, sorder[k, c]]); tot += MED; cnt++ }
                if (!cnt) continue
                score = tot / cnt
            }
            if (best == "" || (better == "max" ? score > bestscore : score < bestscore)) { best = lr; bestscore = score }
        }
        if (best == "") continue
        for (c = 1; c <= nsubs[k]; c++) {
            s = sorder[k, c]
            if (!((k, best, s) in vals)) continue
            n = stats(vals[k, best, s])
            pre = k
            if (nsub) pre = pre (nby ? "," : "") s
            printf "%s%s,%d,%.6g,%.6g,%.6g,%d\n", (pre != "" ? pre "," : ""), best, n, MED, MIN, MAX, nlrs[k]
        }
    }
}
