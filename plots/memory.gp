# plots/memory.gp — experiments/memory.sh: copy accuracy and adding MSE against the gap: the
# median over seeds at each configuration's best learning rate, bars from the minimum to the maximum.
# gnuplot -e "copy='copy.csv'; adding='adding.csv'; mixers='rnn lstm'; chance='0.25'; outfile='memory.png'" plots/memory.gp
if (!exists("outfile")) outfile = 'memory.png'
if (!exists("chance")) chance = '0'
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
set offsets graph 0.03, graph 0.03, 0, 0
set multiplot layout 1,2 title sprintf("Long-range memory: copying and adding against the gap (median over %s seeds at the best lr, bars min-max)", seeds)
# columns: mixer,gap,seq_len,steps,d_model,n_layer,metric,lr,seeds,median,min,max,lrs_tried
set title "Copying memory (accuracy on the recalled symbols)"
set xlabel "gap (blank positions between symbols and recall)"
set ylabel "accuracy"
set yrange [0:1.05]
set arrow 1 from graph 0, first real(chance) to graph 1, first real(chance) nohead dt 2 lc rgb "gray"
set label 1 "chance" at graph 0.02, first real(chance) offset 0,0.6 tc rgb "gray"
plot for [i=1:words(mixers)] copy using 2:(strcol(1) eq word(mixers, i) ? $10 : NaN):11:12 \
         with yerrorlines title word(mixers, i)
set title "Adding problem (MSE at the last position)"
set xlabel "sequence length T"
set ylabel "MSE (log)"
set yrange [*:*]
set logscale y
unset arrow 1
unset label 1
set arrow 2 from graph 0, first 0.1667 to graph 1, first 0.1667 nohead dt 2 lc rgb "gray"
set label 2 "always 1 (0.167)" at graph 0.02, first 0.1667 offset 0,0.6 tc rgb "gray"
plot for [i=1:words(mixers)] adding using 2:(strcol(1) eq word(mixers, i) ? $10 : NaN):11:12 \
         with yerrorlines title word(mixers, i)
unset multiplot
