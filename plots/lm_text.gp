# plots/lm_text.gp — experiments/lm.sh, the text arm: neural models against n-gram models on
# natural text (tinyshakespeare by default).
#   left:  validation loss against step; right: against training time
# Every point: the median over seeds at the evaluation step, bars min-max; the gray dashed
# lines are the n-gram models by order (the validation loss of each fitted order).
# gnuplot -e "curves='textcurves.csv'; models='lstm mamba'; ng_orders='5 6'; ng_losses='1.55 1.51';
#             corpus='tinyshakespeare.txt'; seeds='3'; outfile='lm_text.png'" plots/lm_text.gp
if (!exists("outfile")) outfile = 'lm_text.png'
if (!exists("ng_orders")) ng_orders = ''
if (!exists("ng_losses")) ng_losses = ''
if (!exists("seeds")) seeds = '?'
if (!exists("corpus")) corpus = 'natural text'
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 1300,550 font ",11" } else { set terminal png size 1300,550 }
set termoption noenhanced
set output outfile
set datafile separator ","
array SLCOL[8] = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#0072b2", "#e51e10", "#000000", "#8b4513"]
do for [k=1:8] { set linetype k lc rgb SLCOL[k] lw 2 pt (k % 2 ? 7 : 5) }
set linetype cycle 8
set grid
set multiplot layout 1,2 title sprintf("Character-level LM on %s: neural models against n-gram models (validation nats/char; median over %s seeds, bars min-max)", corpus, seeds)
# keep the n-gram lines inside the plot: the y range starts below the best n-gram
ngmin = 1e9
do for [j=1:words(ng_losses)] { v = real(word(ng_losses, j)); if (v < ngmin) { ngmin = v } }
if (ngmin < 1e9) { set yrange [ngmin - 0.1:*] }
do for [j=1:words(ng_orders)] {
    set arrow j from graph 0, first real(word(ng_losses, j)) to graph 1, first real(word(ng_losses, j)) nohead dt 2 lc rgb "gray"
    set label j sprintf("%s-gram", word(ng_orders, j)) at graph 0.99, first real(word(ng_losses, j)) right offset 0,0.5 tc rgb "gray"
}
# curves columns: model,d_model,step,seconds,val_loss,min,max,seeds
set title "validation loss against step"
set xlabel "step"
set ylabel "validation loss"
set key top right
plot for [i=1:words(models)] curves using 3:(strcol(1) eq word(models, i) ? $5 : NaN):6:7 \
    with yerrorlines ps 0.6 title word(models, i)
set title "validation loss against training time"
set xlabel "training time (s, median over seeds)"
plot for [i=1:words(models)] curves using 4:(strcol(1) eq word(models, i) ? $5 : NaN):6:7 \
    with yerrorlines ps 0.6 title word(models, i)
unset multiplot
