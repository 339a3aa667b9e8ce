# mk/experiments.mk — experiments/ scripts, plots/ gnuplot scripts and their test
EXTRA_DIST += experiments/quickstart.sh plots/learning_curve.gp
