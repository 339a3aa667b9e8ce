# mk/experiments.mk — experiments/ scripts, plots/ gnuplot scripts and their test
EXTRA_DIST += experiments/quickstart.sh plots/learning_curve.gp
EXTRA_DIST += experiments/README.md experiments/common.sh experiments/run_all.sh \
	experiments/hippo.sh experiments/memory.sh experiments/synthetic.sh experiments/mqar.sh \
	experiments/lm.sh experiments/scaling.sh experiments/recipes.sh experiments/sweep.sh \
	experiments/aggregate.awk experiments/check.sh \
	plots/hippo.gp plots/memory.gp plots/synthetic.gp plots/mqar.gp plots/lm.gp plots/lm_text.gp plots/lm_subword.gp plots/scaling.gp \
	t/experiment.sh t/sweep.sh
TESTS += t/experiment.sh t/sweep.sh
