# plots/lm_subword.gp — experiments/lm.sh --subword: the families on byte-level BPE tokens beside
# the text arm's models on characters, all in nats per byte of the validation text.
#   left:  validation nats/byte against step; right: against training time
# MODEL-char curves come from the text arm (a character is a byte), MODEL-bpe curves from the
# subword arm (loss per token x validation tokens per byte); every point is the median over
# seeds, bars min-max; the dashed gray lines are the best n-gram of each arm.
# series: the curves' labels (column 1); colors: a line type per series (one per base model, so
# MODEL-char and MODEL-bpe share a colour); titles: a legend entry per series. -char series are
# dashed, -bpe solid.
# gnuplot -e "curves='bytecurves.csv'; series='lstm-char lstm-bpe gru-bpe'; colors='1 1 2';
#             titles='lstm-d256-chars lstm-d128-BPE gru-d128-BPE'; ng_char='1.51'; ng_bpe='1.51';
#             vocab='2048'; seeds='3'; outfile='lm_subword.png'" plots/lm_subword.gp
if (!exists("outfile")) outfile = 'lm_subword.png'
if (!exists("ng_char")) ng_char = ''
if (!exists("ng_bpe")) ng_bpe = ''
if (!exists("seeds")) seeds = '?'
if (!exists("vocab")) vocab = '?'
if (!exists("colors")) colors = ''
if (!exists("titles")) titles = series
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 1300,550 font ",11" } else { set terminal png size 1300,550 }
set termoption noenhanced
set output outfile
set datafile separator ","
array SLCOL[8] = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#0072b2", "#e51e10", "#000000", "#8b4513"]
do for [k=1:8] { set linetype k lc rgb SLCOL[k] lw 2 pt (k % 2 ? 7 : 5) }
set linetype cycle 8
set grid
set multiplot layout 1,2 title sprintf("Characters against a %s-token byte-level BPE: validation nats per byte (median over %s seeds, bars min-max)", vocab, seeds)
ngmin = 1e9
if (ng_char ne '') { ngmin = real(ng_char) }
if (ng_bpe ne '' && real(ng_bpe) < ngmin) { ngmin = real(ng_bpe) }
if (ngmin < 1e9) { eval sprintf("set yrange [%g:*<%g]", ngmin - 0.15, ngmin + 0.75) }
if (ng_char ne '') {
    set arrow 1 from graph 0, first real(ng_char) to graph 1, first real(ng_char) nohead dt 2 lc rgb "gray"
    set label 1 "best char n-gram" at graph 0.99, first real(ng_char) right offset 0,0.5 tc rgb "gray"
}
if (ng_bpe ne '') {
    set arrow 2 from graph 0, first real(ng_bpe) to graph 1, first real(ng_bpe) nohead dt 3 lc rgb "#555555"
    set label 2 "best BPE n-gram" at graph 0.99, first real(ng_bpe) right offset 0,-0.8 tc rgb "#555555"
}
lt_of(i) = (colors ne '' ? int(word(colors, i)) : i)
dt_of(i) = (strstrt(word(series, i), "-char") > 0 ? 2 : 1)
# curves columns: model,d_model,step,seconds,val_loss,min,max,seeds (loss already per byte)
set title "validation nats/byte against step"
set xlabel "step"
set ylabel "validation loss (nats per byte)"
set key top right
plot for [i=1:words(series)] curves using 3:(strcol(1) eq word(series, i) ? $5 : NaN):6:7 \
        with yerrorlines lt lt_of(i) dt dt_of(i) ps 0.6 title word(titles, i)
set title "validation nats/byte against training time"
set xlabel "training time (s, median over seeds)"
set logscale x
plot for [i=1:words(series)] curves using 4:(strcol(1) eq word(series, i) ? $5 : NaN):6:7 \
        with yerrorlines lt lt_of(i) dt dt_of(i) ps 0.6 title word(titles, i)
unset multiplot
