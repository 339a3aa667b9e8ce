# plots/synthetic.gp — experiments/synthetic.sh: selective copying accuracy per mixer and
# induction-heads accuracy against the evaluation length (trained at train_len): the median
# over seeds at each configuration's best learning rate, bars from the minimum to the maximum.
# gnuplot -e "selcopy='selcopy.csv'; induction='induction.csv'; mixers='rnn lstm'; sc_chance='0.25';
#             ind_chance='0.125'; train_len='32'; outfile='synthetic.png'" plots/synthetic.gp
if (!exists("outfile")) outfile = 'synthetic.png'
if (!exists("sc_chance")) sc_chance = '0'
if (!exists("ind_chance")) ind_chance = '0'
if (!exists("train_len")) train_len = '0'
if (!exists("seeds")) seeds = '?'
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 1400,560 font ",11" } else { set terminal png size 1400,560 }
set termoption noenhanced
set output outfile
set datafile separator ","
# 12 distinct line colours (gnuplot's default cycle repeats after 8)
array SLCOL[12] = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#f0e442", "#0072b2", "#e51e10", "#000000", "#8b4513", "#ff69b4", "#808000", "#00ced1"]
do for [k=1:12] { set linetype k lc rgb SLCOL[k] lw 2 pt (k % 2 ? 7 : 5) }
set linetype cycle 12
set key outside right top box
set grid
set logscale x 2
set yrange [0:1.05]
set ylabel "accuracy"
set offsets graph 0.03, graph 0.03, 0, 0
set multiplot layout 1,2 title sprintf("Selective copying and induction heads: median over %s seeds at the best lr, bars min-max", seeds)
# selcopy columns: mixer,seq_len,n_tokens,steps,d_model,n_layer,lr,seeds,median,min,max,lrs_tried
set title "Selective copying (accuracy on the recalled tokens)"
set xlabel "length of the noisy region"
set arrow 2 from graph 0, first real(sc_chance) to graph 1, first real(sc_chance) nohead dt 2 lc rgb "gray"
set label 2 "chance" at graph 0.02, first real(sc_chance) offset 0,0.6 tc rgb "gray"
# each mixer's points are dodged sideways by a few percent of the length (log axis), so that
# mixers at the same length (the quick setting has one) stay apart
plot for [i=1:words(mixers)] selcopy using ($2 * 2**((i - (words(mixers) + 1) / 2.0) * 0.06)):(strcol(1) eq word(mixers, i) ? $9 : NaN):10:11 \
         with yerrorlines title word(mixers, i)
# induction columns: mixer,train_len,steps,d_model,n_layer,eval_len,lr,seeds,median,min,max,lrs_tried
set title sprintf("Induction heads (trained at length %s)", train_len)
set xlabel "evaluation sequence length"
unset arrow 2
unset label 2
set arrow 1 from first real(train_len), graph 0 to first real(train_len), graph 1 nohead dt 3 lc rgb "black"
set label 1 "train length" at first real(train_len), graph 0.97 offset 0.5,0
set arrow 3 from graph 0, first real(ind_chance) to graph 1, first real(ind_chance) nohead dt 2 lc rgb "gray"
set label 3 "chance" at graph 0.02, first real(ind_chance) offset 0,0.6 tc rgb "gray"
plot for [i=1:words(mixers)] induction using 6:(strcol(1) eq word(mixers, i) ? $9 : NaN):10:11 \
         with yerrorlines title word(mixers, i)
unset multiplot
