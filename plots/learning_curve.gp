# plots/learning_curve.gp — a run's learning curve from its log.csv
# usage: gnuplot -e "csv='DIR/log.csv'; png='OUT.png'; name='title'; corpus='FILE'; params='N'" plots/learning_curve.gp
# corpus and params are optional; the subtitle names them and the final validation loss.
if (!exists("csv")) csv = 'run/log.csv'
if (!exists("png")) png = 'learning_curve.png'
if (!exists("name")) name = 'learning curve'
set datafile separator ','
# the last logged validation loss and its step (rows without one are skipped)
final = NaN; final_step = 0
stats csv using (valid(5) ? (final = $5, final_step = $1) : 0) skip 1 nooutput
sub = (exists("corpus") ? sprintf("corpus %s, ", corpus) : "") . (exists("params") ? sprintf("%s parameters, ", params) : "") \
      . sprintf("final validation loss %.4f at step %d", final, final_step)
set terminal pngcairo size 900,540 noenhanced font ',11'
set output png
set title name . "\n" . sub
set xlabel 'step'
set ylabel 'loss (nats/token)'
set grid
set key top right
plot csv using 1:4 skip 1 with lines lw 2 title 'train loss', \
     csv using 1:5 skip 1 with linespoints pt 7 lw 2 title 'validation loss'
