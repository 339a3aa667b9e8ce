#!/bin/sh
# t/cli-messages.sh — the program's error messages name what the user typed (the model, task,
# key and value as given), suggest the nearest name for a typo ("did you mean"), and exit 2
# for every bad flag or flag value: an unknown model, task or key, a bad key value, a wrapper
# given for the wrong kind of task. Failures that are not the command line's fault exit 1.
SEQLAB=${SEQLAB:-./seqlab}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); fi; }
# expect STATUS LINE CMD...: exit status, and LINE is exactly the first line of stderr
expect() {
    want=$1; line=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    first=$(head -n 1 "$tmp/err")
    if [ "$got" -eq "$want" ] && [ "$first" = "$line" ]; then r=0; else r=1; echo "# got $got: $first"; fi
    ok $r "exit $want, '$line'"
}
# no_usage: the last command printed its message alone (no usage text)
no_usage() { ! grep -q '^usage:' "$tmp/err"; ok $? "  ... without the usage text"; }
T="$SEQLAB train --steps 1 --out $tmp/run"
M="models: lm, seq, rnn, lstm, gru, hippo, s4, s4d, mamba, mamba2, attention, gpt, llama, ngram, lru, retnet, gla, rwkv, based, h3, hyena"
K="input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, d_model, n_layer, norm, norm_eps, max_position_embeddings, vocab_size, tie_embeddings"

# keys and values are checked under the model name the user typed, before a bare mixer is wrapped
expect 2 "seqlab: error: --model: key 'hidden_size' of model 'lstm': 'abc' is not an integer" \
    $T --model lstm:hidden_size=abc --task copy
no_usage
expect 2 "seqlab: error: --model: unknown key 'hiden_size' for model 'lstm'; did you mean 'hidden_size'? valid keys: $K" \
    $T --model lstm:hiden_size=64 --task copy
no_usage
expect 2 "seqlab: error: --model: key 'n_layer' of model 'gru': 5000 is out of range [0, 1024]" \
    $T --model gru:n_layer=5000 --task copy
expect 2 "seqlab: error: --model: key 'dropout' of model 'lm': 'x' is not a finite number" \
    $T --model lm:mixer=lstm,dropout=x --task copy
expect 2 "seqlab: error: --model: model 'lstm' is a mixer and has no key 'mixer'; to choose the mixer write lm:mixer=NAME" \
    $T --model lstm:mixer=gru --task copy
# the wrong wrapper for the task: the message names the fix
expect 2 "seqlab: error: --model: model 'seq' is for real-valued tasks and task 'charlm' is a token task: use lm:mixer=lstm,n_layer=1 (or the bare mixer 'lstm', which is wrapped to suit the task)" \
    $T --model seq:mixer=lstm,n_layer=1 --task charlm
expect 2 "seqlab: error: --model: model 'lm' is for token tasks and task 'adding' is a real-valued task: use seq:mixer=gru (or the bare mixer 'gru', which is wrapped to suit the task)" \
    $T --model lm:mixer=gru --task adding
expect 2 "seqlab: error: --model: model 'gpt' takes tokens and gives logits over tokens; task 'adding' gives real vectors and scores real vectors; for a real-valued task use a mixer (seqlab list --mixers), wrapped as seq:mixer=NAME" \
    $T --model gpt:n_layer=1,n_head=1,n_embd=8 --task adding
expect 2 "seqlab: error: --model: model 'lm' has vocabulary 3 and task 'copy' needs 10 (leave vocab_size out of the spec: train sets it from the task)" \
    $T --model lm:vocab_size=3 --task copy
# model names
expect 2 "seqlab: error: --model: unknown model 'lstmm'; did you mean 'lstm'? $M" $T --model lstmm --task copy
no_usage
expect 2 "seqlab: error: --model: unknown model 'copy' ('copy' is a task, not a model); $M" $T --model copy --task copy
expect 2 "seqlab: error: --model: unknown model 'transformer'; $M" $T --model transformer --task copy
expect 2 "seqlab: error: --model: key 'mixer' of model 'lm': 'lstmm' is not a mixer; did you mean 'lstm'? mixers: rnn, lstm, gru, hippo, s4, s4d, mamba, mamba2, attention, lru, retnet, gla, rwkv, based, h3, hyena" \
    $T --model lm:mixer=lstmm --task copy
expect 2 "seqlab: error: --model: unknown key 'n_layr' for model 'gpt'; did you mean 'n_layer'? valid keys: n_layer, n_head, n_embd, block_size, vocab_size, dropout, bias, n_kv_head, norm_eps, hidden_dim, pos, norm, mlp, gelu, tie, kernel, rope_theta, kv_lora_rank, q_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim" \
    $T --model gpt:n_layr=2 --task copy
# tasks: the same exit code as models, "task" in the message
expect 2 "seqlab: error: --task: unknown task 'cpoy'; did you mean 'copy'? tasks: copy, adding, charlm, selcopy, induction, mqar, dpo, tokens" \
    $T --model lstm --task cpoy
no_usage
expect 2 "seqlab: error: --task: unknown task 'lstm' ('lstm' is a model, not a task); tasks: copy, adding, charlm, selcopy, induction, mqar, dpo, tokens" \
    $T --model lstm --task lstm
expect 2 "seqlab: error: --task: unknown key 'lenght' for task 'copy'; did you mean 'length'? valid keys: length, delay, n_symbols" \
    $T --model lstm --task copy:lenght=5
expect 2 "seqlab: error: --task: key 'delay' of task 'copy': 'soon' is not an integer" \
    $T --model lstm --task copy:delay=soon
expect 2 "seqlab: error: --task: unknown task 'cpoy'; did you mean 'copy'? tasks: copy, adding, charlm, selcopy, induction, mqar, dpo, tokens" \
    "$SEQLAB" eval --run "$tmp/none" --task cpoy
# not the command line's fault: exit 1
expect 1 "seqlab: error: --task: charlm corpus: cannot open '$tmp/nonexistent': No such file or directory" \
    $T --model lstm --task charlm --corpus "$tmp/nonexistent"
[ ! -e "$tmp/run" ]; ok $? "no run directory after a refused command"
# flag, command and subcommand names
expect 2 "seqlab: error: unknown option '--modle' (did you mean '--model'?)" $T --modle lstm
expect 2 "seqlab: error: unknown option '--stpes=5' (did you mean '--steps'?)" "$SEQLAB" train --model lstm --stpes=5
expect 2 "seqlab: error: unknown option '--frobnicate'" "$SEQLAB" train --model lstm --frobnicate
expect 2 "seqlab: error: unknown option '--jsno' (did you mean '--json'?)" "$SEQLAB" eval --run x --jsno
expect 2 "seqlab: error: unknown option '--inptu' (did you mean '--input'?)" "$SEQLAB" forward --model lstm --inptu x
expect 2 "seqlab: error: --model: unknown model 'lsmt'; did you mean 'lstm'? $M" \
    "$SEQLAB" forward --model lsmt --input x --output "$tmp/y.npy"
expect 2 "seqlab: error: unknown option '--temprature' (did you mean '--temperature'?)" "$SEQLAB" generate --run x --temprature 1
expect 2 "seqlab: error: unknown command 'trian' (did you mean 'train'?)" "$SEQLAB" trian
expect 2 "seqlab: error: unknown argument '--mixer' (did you mean '--mixers'?)" "$SEQLAB" list --mixer
expect 2 "seqlab: error: hippo: unknown argument '--lenght' (did you mean '--length'?)" "$SEQLAB" hippo --lenght 3
expect 2 "seqlab: error: ngram: unknown subcommand 'biuld' (build, query, binarize) (did you mean 'build'?)" "$SEQLAB" ngram biuld
expect 2 "seqlab: error: w2v train: unknown option '-sise' (did you mean '-size'?)" "$SEQLAB" w2v train -sise 3
expect 2 "seqlab: error: --model: unknown model 'mamab'; did you mean 'mamba'? $M" \
    "$SEQLAB" scale --model mamab --seq-len 8 --out "$tmp/s.csv"
echo "1..$n"
[ $fails -eq 0 ]
