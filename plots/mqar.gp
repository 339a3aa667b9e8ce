# plots/mqar.gp — experiments/mqar.sh: MQAR accuracy against model width, one panel per
# number of key-value pairs (as in Zoology's figure 2): the median over seeds at each
# configuration's best learning rate, bars from the minimum to the maximum over seeds.
# gnuplot -e "data='mqar.csv'; mixers='rnn attention'; kvs='4 8'; seq_len='64'; vocab='64'; seeds='3'; outfile='mqar.png'" plots/mqar.gp
if (!exists("outfile")) outfile = 'mqar.png'
if (!exists("seq_len")) seq_len = '?'
if (!exists("vocab")) vocab = '?'
if (!exists("seeds")) seeds = '?'
n = words(kvs)
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size (n > 2 ? 420 * n + 200 : 1200),520 font ",11" } else { set terminal png size (n > 2 ? 420 * n + 200 : 1200),520 }
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
set multiplot layout 1,n title sprintf("Multi-query associative recall (seq_len %s, vocab %s): median over %s seeds at the best lr, bars min-max", seq_len, vocab, seeds)
do for [j=1:n] {
    kv = real(word(kvs, j))
    set title sprintf("%d key-value pairs", int(kv))
    if (j == n) { set key outside right top box } else { unset key }
    plot for [i=1:words(mixers)] data using 5:((strcol(1) eq word(mixers, i) && $2 == kv) ? $10 : NaN):11:12 \
        with yerrorlines title word(mixers, i)
}
unset multiplot
