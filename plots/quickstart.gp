# plots/quickstart.gp — experiments/quickstart.sh: validation loss of one model per family on
# the character LM task against training step and training time (the median over seeds, bars
# from the minimum to the maximum), the n-gram model as a dashed line.
# gnuplot -e "curves='curves.csv'; summary='quickstart.csv'; models='lstm gpt'; ngram='2.1'; ngram_order='5';
#             seeds='3'; outfile='quickstart.png'" plots/quickstart.gp
if (!exists("outfile")) outfile = 'quickstart.png'
if (!exists("ngram")) ngram = ''
if (!exists("ngram_order")) ngram_order = '?'
if (!exists("seeds")) seeds = '?'
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 1300,520 font ",11" } else { set terminal png size 1300,520 }
set termoption noenhanced
set output outfile
set datafile separator ","
array SLCOL[6] = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#0072b2", "#e51e10"]
do for [k=1:6] { set linetype k lc rgb SLCOL[k] lw 2 pt (k % 2 ? 7 : 5) }
set linetype cycle 6
set grid
set key top right
set ylabel "validation loss (nats/char)"
# the n-gram model's loss is drawn as a dashed line (a function, so the y range includes it)
ng(x) = (ngram ne '') ? real(ngram) : NaN
ngtitle = (ngram ne '') ? sprintf("%s-gram", ngram_order) : ''
set multiplot layout 1,2 title sprintf("One model per family, character LM (median over %s seeds, bars min-max)", seeds)
# curves columns: model,d_model,step,seconds,val_loss,min,max,seeds
set title "against training step"
set xlabel "step"
plot for [i=1:words(models)] curves using 3:(strcol(1) eq word(models, i) ? $5 : NaN):6:7 \
    with yerrorlines ps 0.5 title word(models, i), \
    ng(x) with lines dt 2 lw 2 lc rgb "gray40" title ngtitle
set title "against training time"
set xlabel "seconds (median over seeds)"
plot for [i=1:words(models)] curves using 4:(strcol(1) eq word(models, i) ? $5 : NaN):6:7 \
    with yerrorlines ps 0.5 title word(models, i), \
    ng(x) with lines dt 2 lw 2 lc rgb "gray40" title ngtitle
unset multiplot
