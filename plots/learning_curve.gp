# plots/learning_curve.gp — a run's learning curve from its log.csv
# usage: gnuplot -e "csv='DIR/log.csv'; png='OUT.png'; name='title'" plots/learning_curve.gp
if (!exists("csv")) csv = 'run/log.csv'
if (!exists("png")) png = 'learning_curve.png'
if (!exists("name")) name = 'learning curve'
set datafile separator ','
set terminal pngcairo size 900,540 noenhanced font ',11'
set output png
set title name
set xlabel 'step'
set ylabel 'loss (nats/token)'
set grid
set key top right
plot csv using 1:4 skip 1 with lines lw 2 title 'train loss', \
     csv using 1:5 skip 1 with linespoints pt 7 lw 2 title 'validation loss'
