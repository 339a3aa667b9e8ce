# plots/hippo.gp — experiments/hippo.sh: HiPPO online function approximation.
#   left:   RMSE of the reconstruction from the final coefficients against N (log-log): the
#           median over the signal seeds, bars from the minimum to the maximum
#   middle: |error| of the online reconstruction of the present value against time, N = nsel
#   right:  the signal and its reconstruction from the final coefficients, N = nsel (both for
#           the first seed's signal)
# gnuplot -e "errors='errors.csv'; timefile='time.csv'; measures='legs legt'; signal='random';
#             disc='bilinear'; nsel='32'; outfile='hippo.png'" plots/hippo.gp
if (!exists("outfile")) outfile = 'hippo.png'
if (!exists("seeds")) seeds = '?'
if (!exists("seed1")) seed1 = '?'
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 1900,600 font ",11" } else { set terminal png size 1900,600 }
set termoption noenhanced
set output outfile
set datafile separator ","
# 12 distinct line colours (gnuplot's default cycle repeats after 8)
array SLCOL[12] = ["#9400d3", "#009e73", "#56b4e9", "#e69f00", "#f0e442", "#0072b2", "#e51e10", "#000000", "#8b4513", "#ff69b4", "#808000", "#00ced1"]
do for [k=1:12] { set linetype k lc rgb SLCOL[k] lw 2 pt (k % 2 ? 7 : 5) }
set linetype cycle 12
set grid
set multiplot layout 1,3 title sprintf("HiPPO online function approximation (signal %s, %s discretization)", signal, disc)
# errors columns: measure,N,discretization,signal,length,theta,lr,seeds,median,min,max,lrs_tried
set title sprintf("reconstruction error against N (median over %s signal seeds, bars min-max)", seeds)
set xlabel "N (coefficients)"
set ylabel "RMSE of the reconstruction from the final state"
set logscale xy
set key top right
plot for [i=1:words(measures)] errors using 2:((strcol(1) eq word(measures, i) && strcol(3) eq disc && strcol(4) eq signal) ? $9 : NaN):10:11 \
    with yerrorlines title word(measures, i)
# time columns: measure,N,t,signal,online,online_err,final,final_err
set title sprintf("online error of the present value, N = %s (seed %s)", nsel, seed1)
set xlabel "time t"
set ylabel "|online reconstruction - signal|"
set format y "%.0e"
unset logscale x
plot for [i=1:words(measures)] timefile using 3:(strcol(1) eq word(measures, i) ? abs($6) + 1e-12 : NaN) \
    with lines lw 1.5 title word(measures, i)
set title sprintf("reconstruction from the final state, N = %s (seed %s)", nsel, seed1)
set ylabel "f(t)"
unset logscale y
set format y "%g"
plot timefile using 3:(strcol(1) eq word(measures, 1) ? $4 : NaN) with lines lw 3 lc rgb "black" title "signal", \
    for [i=1:words(measures)] timefile using 3:(strcol(1) eq word(measures, i) ? $7 : NaN) with lines lw 1.5 title word(measures, i)
unset multiplot
