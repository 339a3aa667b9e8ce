# plots/lm.gp — experiments/lm.sh: character-level language modelling.
#   left:   validation loss against training time (widest models), n-gram models as lines
#   middle: final validation loss against trainable parameters, one line per model
#   right:  word2vec-initialised embeddings against random ones (validation loss per step)
# Every point: the median over seeds at the configuration's best learning rate, bars min-max
# (curves: the median seconds and loss at each evaluation step).
# gnuplot -e "lm='lm.csv'; curves='curves.csv'; w2vcurves='w2vcurves.csv'; models='lstm gpt';
#             dmax='48'; ng_orders='1 2 3'; ng_losses='3.1 2.4 2.0'; w2v_labels='lstm-random lstm-w2v';
#             outfile='lm.png'" plots/lm.gp
if (!exists("outfile")) outfile = 'lm.png'
if (!exists("ng_orders")) ng_orders = ''
if (!exists("ng_losses")) ng_losses = ''
if (!exists("w2v_labels")) w2v_labels = ''
if (!exists("seeds")) seeds = '?'
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 1900,600 font ",11" } else { set terminal png size 1900,600 }
set termoption noenhanced
set output outfile
set datafile separator ","
# 12 distinct line colours (gnuplot's default cycle repeats after 8)
array SLCOL[12] = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#f0e442", "#0072b2", "#e51e10", "#000000", "#8b4513", "#ff69b4", "#808000", "#00ced1"]
do for [k=1:12] { set linetype k lc rgb SLCOL[k] lw 2 pt (k % 2 ? 7 : 5) }
set linetype cycle 12
set grid
set multiplot layout 1,3 title sprintf("Character-level language modelling (validation loss, nats/char; median over %s seeds, bars min-max)", seeds)
do for [j=1:words(ng_orders)] {
    set arrow j from graph 0, first real(word(ng_losses, j)) to graph 1, first real(word(ng_losses, j)) nohead dt 2 lc rgb "gray"
    set label j sprintf("%s-gram", word(ng_orders, j)) at graph 0.99, first real(word(ng_losses, j)) right offset 0,0.5 tc rgb "gray"
}
# curves columns: model,d_model,step,seconds,val_loss,min,max,seeds
set title sprintf("learning curves, d_model %s (dashed: n-gram by order)", dmax)
set xlabel "training time (s)"
set ylabel "validation loss"
set logscale x
set key top right
plot for [i=1:words(models)] curves using 4:((strcol(1) eq word(models, i) && $2 == real(dmax)) ? $5 : NaN):6:7 \
    with yerrorlines ps 0.5 title word(models, i), \
    for [j=1:words(ng_orders)] real(word(ng_losses, j)) with dots lc rgb "gray" notitle
# lm columns: model,family,d_model,n_layer,steps,params,lr,seeds,median,min,max,lrs_tried
set title "final validation loss against model size"
set xlabel "trainable parameters"
plot for [i=1:words(models)] lm using 6:(strcol(1) eq word(models, i) ? $9 : NaN):10:11 \
    with yerrorlines title word(models, i), \
    for [j=1:words(ng_orders)] real(word(ng_losses, j)) with dots lc rgb "gray" notitle
do for [j=1:words(ng_orders)] { unset arrow j; unset label j }
unset logscale x
set title "word2vec-initialised vs random embeddings"
set xlabel "step"
if (words(w2v_labels) > 0) {
    plot for [i=1:words(w2v_labels)] w2vcurves using 3:(strcol(1) eq word(w2v_labels, i) ? $5 : NaN):6:7 \
        with yerrorlines ps 0.5 title word(w2v_labels, i)
} else {
    set label 99 "word2vec arm not run (see w2v.csv)" at graph 0.5, graph 0.5 center
    unset key
    set xrange [0:1]
    set yrange [0:1]
    plot 2 notitle
}
unset multiplot
