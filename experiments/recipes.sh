# experiments/recipes.sh — how the comparison suite trains each family: the one place that
# holds the per-family choices (sourced by experiments/common.sh; every experiment script and
# experiments/sweep.sh use these functions). experiments/README.md ("Recipes") explains them.
# shellcheck shell=bash
#
#   recipe_lrs MIXER TASK        the learning-rate grid swept for MIXER on TASK (setting-dependent)
#   recipe_keys MIXER TASK T     extra spec keys for MIXER in the lm:/seq: wrapper on TASK at length T
#   recipe_schedule STEPS        seqlab train options of the schedule for a budget of STEPS
#   recipe_optim TASK            seqlab train options of the optimizer for TASK
#
# What the papers do, and what is kept here:
#  - Attention (and Based, see recipe_keys) gets positions: learned absolute position embeddings in the wrapper
#    (max_position_embeddings, as Zoology's attention baseline), because MQAR, induction heads and
#    copying need to know where a token is. RoPE (rope=1) was measured here and learns MQAR much
#    more slowly at these head widths (8-16): a GPT with pos=rope or pos=none stays at ~0.52 on
#    MQAR (seq_len 32, 4 pairs, n_embd 64) after 1500 steps, with learned positions it is at 1.0
#    by step 1250 (experiments/README.md, "Recipes").
#  - Mamba: dt initialised log-uniform in [dt_min, dt_max] = [1e-3, 1e-1] through the inverse
#    softplus of the dt bias, A_log = log(1..N), D = 1; no weight decay on A_log, D and the dt
#    bias (all as mamba_ssm; built into ssm/mamba.c and ssm/ssd.c, nothing to set here).
#  - S4 / S4D: the SSM parameters (log_dt, A, B, P) train at lr_scale = 0.1 of the base rate and
#    without weight decay (the S4 repository's lr 0.001 for them against 0.01 for the rest; the
#    default of ssm/s4.c and ssm/s4d.c).
#  - Schedule: linear warmup over 5% of the budget, then cosine decay to lr/10 at its end (the
#    decay is stretched over the whole budget, so the phase transitions of MQAR, induction and
#    selective copying happen while the rate is still high; issue #15's probes).
#  - AdamW, beta2 0.999 (seqlab's default), weight decay 0.1 on matrices (Zoology, Mamba), none
#    on gains, biases and the SSM parameters above, and none at all on induction heads (it
#    limits Mamba's length extrapolation, measured); gradient clipping at 1.
#  - Budget choices (2 cores): Mamba-2 and the HiPPO mixer use d_state 16 (their defaults, 64
#    and 32, cost 2-3x the step time; 16 is Mamba-1's state size, so the selective models compare
#    at equal state); Mamba-2 uses headdim 16 so that small widths have several heads.

# recipe_lrs MIXER TASK : the learning rates to sweep (space-separated). The quick setting sweeps
# one rate per family, the one the calibration sweeps chose (experiments/README.md, "Recipes");
# the full setting sweeps three around it, as Zoology sweeps every model.
recipe_lrs() {
    local mx=$1 task=$2 base
    # Based carries a softmax-attention branch and trains at attention's rate (recipe_keys)
    case $mx in
    attention | gpt | llama | based) base=1e-3 ;;
    *) base=3e-3 ;;
    esac
    case $task in
    charlm) case $mx in attention | gpt | llama | based) base=1e-3 ;; *) base=3e-3 ;; esac ;;
    # the S4 repository trains at 1e-2 (its SSM parameters at 1e-3: lr_scale 0.1); at 3e-3 S4
    # is still at MSE 0.087 after 2000 adding steps, at 1e-2 at 0.021 (experiments/README.md)
    adding) case $mx in s4 | s4d) base=1e-2 ;; esac ;;
    esac
    if [ "${SETTING:-quick}" = full ]; then
        case $base in
        1e-3) echo "3e-4 1e-3 3e-3" ;;
        3e-3) echo "1e-3 3e-3 1e-2" ;;
        1e-2) echo "3e-3 1e-2 3e-2" ;;
        esac
    else
        echo "$base"
    fi
}

# recipe_keys MIXER TASK T : ",key=value..." appended to the wrapper spec for MIXER
recipe_keys() {
    local mx=$1 task=$2 T=$3
    case $mx in
    attention) echo ",max_position_embeddings=$T" ;;
    # Based's two branches (Taylor linear attention, sliding-window softmax) see no positions and
    # cannot shift a token onto its neighbour; Zoology's Based model gets that from the short
    # convolutions of the BaseConv layers it alternates with, which the wrapper (one mixer
    # repeated) cannot build. Learned positions, as attention gets, stand in for them. Measured
    # on MQAR (2 pairs, d_model 64, 3000 steps, seed 1): without positions 0.54 at lr 1e-3 and
    # 0.52-0.54 at 3e-3 (3 seeds); with positions 1.0 by step 1500 at lr 1e-3, but 0.55 at 3e-3
    # (its softmax branch needs attention's rate; recipe_lrs), 0.998 with the window off at 3e-3
    based) echo ",max_position_embeddings=$T" ;;
    mamba2) echo ",d_state=16,headdim=16" ;;
    hippo) echo ",d_state=16" ;;
    s4) echo ",l_max=$T" ;;
    esac
    : "$task"
}

# recipe_schedule STEPS : warmup 5% (at least 10 steps), cosine to lr/10 over the whole budget
recipe_schedule() {
    local w=$(($1 / 20))
    [ "$w" -lt 10 ] && w=10
    [ "$w" -ge "$1" ] && w=$(($1 > 1 ? $1 - 1 : 0))
    echo "--warmup $w --schedule cosine"
}

# recipe_optim TASK : AdamW with weight decay 0.1 on the matrices; none on induction heads, where
# decay keeps Mamba's selection weak enough that its memory fades past about 8x the training
# length (experiments/README.md, "Recipes")
recipe_optim() {
    local wd=0.1
    case ${1%%:*} in induction) wd=0 ;; esac
    echo "--optimizer adamw --weight-decay $wd --clip 1"
}
