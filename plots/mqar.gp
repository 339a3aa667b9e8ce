# plots/mqar.gp — experiments/mqar.sh: MQAR accuracy against model width, one panel per
# number of key-value pairs (as in Zoology's figure 2): the median over seeds at each
# configuration's best learning rate, bars from the minimum to the maximum over seeds.
# With zoo='attention based h3 ...' and zoo_width='64' a last panel compares those mixers at that
# width, one bar group per mixer and one bar per number of pairs (the zoo is trained at one width).
# gnuplot -e "data='mqar.csv'; mixers='rnn attention'; kvs='4 8'; seq_len='64'; vocab='64'; seeds='3'; outfile='mqar.png'" plots/mqar.gp
if (!exists("outfile")) outfile = 'mqar.png'
if (!exists("seq_len")) seq_len = '?'
if (!exists("vocab")) vocab = '?'
if (!exists("seeds")) seeds = '?'
if (!exists("zoo")) zoo = ''
if (!exists("zoo_width")) zoo_width = ''
nz = (words(zoo) > 0 && zoo_width ne '') ? 1 : 0
n = words(kvs)
np = n + nz
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size (np > 2 ? 480 * np + 200 : 1200),520 font ",11" } else { set terminal png size (np > 2 ? 480 * np + 200 : 1200),520 }
set termoption noenhanced
set output outfile
set datafile separator ","
# 12 distinct line colours (gnuplot's default cycle repeats after 8)
array SLCOL[12] = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#f0e442", "#0072b2", "#e51e10", "#000000", "#8b4513", "#ff69b4", "#808000", "#00ced1"]
do for [k=1:12] { set linetype k lc rgb SLCOL[k] lw 2 pt (k % 2 ? 7 : 5) }
set linetype cycle 12
set grid
set logscale x 2
set yrange [0:1.05]
set xlabel "model width d_model"
set ylabel "accuracy"
set offsets graph 0.05, graph 0.05, 0, 0
# columns: mixer,n_kv_pairs,seq_len,vocab_size,d_model,n_layer,steps,lr,seeds,median,min,max,lrs_tried
set multiplot layout 1,np title sprintf("Multi-query associative recall (seq_len %s, vocab %s): median over %s seeds at the best lr, bars min-max", seq_len, vocab, seeds)
do for [j=1:n] {
    kv = real(word(kvs, j))
    set title sprintf("%d key-value pairs", int(kv))
    if (j == n) { set key outside right top box } else { unset key }
    if (j == n && nz) { set key inside left bottom box opaque }
    plot for [i=1:words(mixers)] data using 5:((strcol(1) eq word(mixers, i) && $2 == kv) ? $10 : NaN):11:12 \
        with yerrorlines title word(mixers, i)
}
if (nz) {
    unset logscale x
    set offsets 0, 0, 0, 0
    set xrange [0.3:words(zoo) + 0.7]
    set xtics () rotate by -30
    do for [i=1:words(zoo)] { set xtics add (word(zoo, i) i) }
    set xlabel ""
    set title sprintf("the zoo beside attention, Mamba and S4D, d_model %s", zoo_width)
    set key outside right top box
    set style fill solid 0.6 noborder
    bw = 0.8 / n
    set boxwidth bw
    plot for [j=1:n] data using ($0 * 0 + 1):(NaN) notitle, \
        for [j=1:n] for [i=1:words(zoo)] data using (i - 0.4 + (j - 0.5) * bw):((strcol(1) eq word(zoo, i) && $2 == real(word(kvs, j)) && $5 == real(zoo_width)) ? $10 : NaN) \
            with boxes lc j title (i == 1 ? sprintf("%s pairs", word(kvs, j)) : ''), \
        for [j=1:n] for [i=1:words(zoo)] data using (i - 0.4 + (j - 0.5) * bw):((strcol(1) eq word(zoo, i) && $2 == real(word(kvs, j)) && $5 == real(zoo_width)) ? $10 : NaN):11:12 \
            with yerrorbars lc rgb "black" pt 0 notitle
}
unset multiplot
