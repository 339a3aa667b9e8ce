# plots/w2v_pca.gp — 2-D PCA projection of chosen word vectors (from `seqlab w2v pca`).
#   seqlab w2v pca --vectors vec.bin --words king,queen,man,woman,paris,france --out pca.csv
#   gnuplot -e "csv='pca.csv'; out='pca.svg'" plots/w2v_pca.gp
# The CSV has a header "word,pc1,pc2". Output: SVG (or PNG if out ends in .png).
if (!exists("csv")) csv = 'w2v_pca.csv'
if (!exists("out")) out = 'w2v_pca.svg'
if (out[strlen(out)-3:] eq '.png') {
    set terminal png size 800,600
} else {
    set terminal svg size 800,600 dynamic
}
set output out
set datafile separator ','
set key off
set title 'word vectors: first two principal components'
set xlabel 'PC1'
set ylabel 'PC2'
set grid
set offsets graph 0.08, graph 0.08, graph 0.08, graph 0.08
plot csv skip 1 using 2:3 with points pt 7 ps 1.2 lc rgb '#1f77b4', \
     csv skip 1 using 2:3:1 with labels offset 0.8,0.6 left font ',10'
