# plots/scaling.gp — experiments/scaling.sh: time per pass and peak memory against sequence
# length (log-log), one line per mixer variant. A slope of 1 is linear in T, 2 quadratic.
# gnuplot -e "data='scaling.csv'; labels='rnn attention-naive'; d_model='64'; batch='1'; outfile='scaling.png'" plots/scaling.gp
if (!exists("outfile")) outfile = 'scaling.png'
if (!exists("d_model")) d_model = '?'
if (!exists("batch")) batch = '?'
if (!exists("timecol")) timecol = 'wall'
tc = timecol eq 'cpu' ? 11 : 9
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 2000,600 font ",11" } else { set terminal png size 2000,600 }
set termoption noenhanced
set output outfile
set datafile separator ","
# 12 distinct line colours (gnuplot's default cycle repeats after 8)
array SLCOL[12] = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#f0e442", "#0072b2", "#e51e10", "#000000", "#8b4513", "#ff69b4", "#808000", "#00ced1"]
# past 12 lines the colours repeat with dashed lines and open points, so 24 stay distinct
do for [k=1:24] {
    dtk = (k > 12 ? 2 : 1)
    set linetype k lc rgb SLCOL[(k - 1) % 12 + 1] lw 2 dt dtk pt (k > 12 ? (k % 2 ? 6 : 4) : (k % 2 ? 7 : 5))
}
set linetype cycle 24
set grid
set logscale xy
set xlabel "sequence length T"
# columns: label,seq_len,batch,d_model,threads,pass,reps,time_mean_s,time_min_s,cpu_mean_s,cpu_min_s,tokens_per_s,
#          peak_rss_mb,base_rss_mb,params,status,reason,spec
set multiplot layout 1,3 title sprintf("Scaling with sequence length (batch %s, d_model %s; %s time, fastest of the timed passes)", batch, d_model, timecol eq 'cpu' ? "CPU" : "wall-clock")
unset key
set title "forward (inference)"
set ylabel "seconds per pass"
plot for [i=1:words(labels)] data using 2:((strcol(1) eq word(labels, i) && strcol(6) eq "forward") ? column(tc) : NaN) \
    with linespoints title word(labels, i)
set title "forward + backward (training)"
plot for [i=1:words(labels)] data using 2:((strcol(1) eq word(labels, i) && strcol(6) eq "forward_backward") ? column(tc) : NaN) \
    with linespoints title word(labels, i)
set key outside right top
set title "peak resident memory, forward + backward"
set ylabel "MB"
plot for [i=1:words(labels)] data using 2:((strcol(1) eq word(labels, i) && strcol(6) eq "forward_backward") ? $13 : NaN) \
    with linespoints title word(labels, i)
unset multiplot
