#!/bin/sh
# t/finetune.sh — fine-tuning from the command line (docs/finetune.md): train --init-from a run
# directory, a seqlab model file, a foreign nanoGPT state_dict (t/data/gpt_bias1.safetensors)
# and a llama2.c checkpoint (t/data/llama2c_shared.bin); the weights really arrive (one step at
# lr 0 gives the source's logits); vocabularies that differ are refused saying how; LoRA runs hold
# the adapters alone under PEFT names, evaluate, resume and merge; merged weights evaluate as
# the adapted run does and unmerge gives the base back; bad input exits non-zero and leaves no
# output file.
SEQLAB=${SEQLAB:-./seqlab}
: "${SL_SRCDIR:=.}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); fi; }
expect() { want=$1; needle=$2; shift 2; "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$tmp/err"; then r=0; else r=1; echo "# got $got: $(head -c 400 "$tmp/err")"; fi
    ok $r "exit $want, '$needle'"; }
hdr() { len=$(od -An -tu8 -N8 "$1" | tr -d ' '); tail -c +9 "$1" | head -c "$len"; }
# the validation loss of a run, as seqlab eval prints it
vloss() { "$SEQLAB" eval --run "$1" ${2:+--task "$2"} 2>/dev/null | sed -n 's/^val_loss: //p'; }
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t) }'; }

i=0; while [ $i -lt 60 ]; do echo "the quick brown fox jumps over the lazy dog $i"; i=$((i+1)); done >"$tmp/a.txt"
i=0; while [ $i -lt 60 ]; do echo "a lazy dog the brown fox $i quick"; i=$((i+1)); done >"$tmp/b.txt"
i=0; while [ $i -lt 60 ]; do echo "The Quick Zebra $i"; i=$((i+1)); done >"$tmp/c.txt"
# one step at learning rate 0: a run (checkpoint, model) whose weights are the initial ones
zero="--steps 1 --lr 0 --min-lr 0 --warmup 0"
common="--batch 4 --eval-batches 2 --threads 1 --no-progress --seq-len 16"
"$SEQLAB" train --model lstm:hidden_size=16 --corpus "$tmp/a.txt" --steps 20 $common --out "$tmp/base" >/dev/null 2>&1
ok $? "a base run (lm:mixer=lstm on text A)"

# a zero-rate step from the base: the run's model is the base's weights
"$SEQLAB" train --init-from "$tmp/base" --corpus "$tmp/a.txt" $zero $common --out "$tmp/same" >/dev/null 2>"$tmp/err"
ok $? "--init-from RUN_DIR, one step at lr 0"
a=$(vloss "$tmp/base"); b=$(vloss "$tmp/same")
[ -n "$a" ] && [ "$a" = "$b" ]; ok $? "  ... the same validation loss as the base ($a, $b)"
hdr "$tmp/same/checkpoint.safetensors" | grep -q '"init_from":"/'; ok $? "  ... init_from recorded (absolute path)"
# a new corpus whose characters the base's alphabet holds: trains, with the base's alphabet
"$SEQLAB" train --init-from "$tmp/base" --corpus "$tmp/b.txt" --steps 5 $common --out "$tmp/ft" >/dev/null 2>"$tmp/err"
ok $? "--init-from RUN_DIR on text B"
hdr "$tmp/ft/checkpoint.safetensors" | grep -q 'alphabet=' &&
    [ "$(hdr "$tmp/ft/checkpoint.safetensors" | sed -n 's/.*"alphabet":"\([0-9a-f]*\)".*/\1/p')" = \
      "$(hdr "$tmp/base/checkpoint.safetensors" | sed -n 's/.*"alphabet":"\([0-9a-f]*\)".*/\1/p')" ]
ok $? "  ... the task takes the base's alphabet (task spec and alphabet metadata)"
"$SEQLAB" train --resume "$tmp/ft" --steps 7 --threads 1 --no-progress >/dev/null 2>&1; ok $? "  ... and resumes"
# characters the base never saw
expect 1 "the vocabularies differ" "$SEQLAB" train --init-from "$tmp/base" --corpus "$tmp/c.txt" --steps 2 $common --out "$tmp/bad"
grep -q "'Z' (0x5a)" "$tmp/err"; ok $? "  ... naming the characters ('Z')"
[ ! -e "$tmp/bad" ]; ok $? "  ... and leaving no run directory"
# a model file with metadata, and an explicit --model that does not fit it
"$SEQLAB" train --init-from "$tmp/base/model.safetensors" --corpus "$tmp/a.txt" $zero $common --out "$tmp/same2" >/dev/null 2>&1
ok $? "--init-from FILE.safetensors (a seqlab model file)"
[ "$(vloss "$tmp/same2")" = "$a" ]; ok $? "  ... the base's validation loss"
expect 1 "shape" "$SEQLAB" train --init-from "$tmp/base/model.safetensors" --model lstm:hidden_size=24 --corpus "$tmp/a.txt" --steps 2 $common --out "$tmp/bad"
[ ! -e "$tmp/bad/model.safetensors" ] && [ ! -e "$tmp/bad/log.csv" ]; ok $? "  ... no run files"
expect 1 "no such file" "$SEQLAB" train --init-from "$tmp/nothing" --corpus "$tmp/a.txt" --steps 2 $common --out "$tmp/bad"
printf 'not a safetensors file at all' >"$tmp/junk.safetensors"
expect 1 "junk.safetensors" "$SEQLAB" train --init-from "$tmp/junk.safetensors" --corpus "$tmp/a.txt" --steps 2 $common --out "$tmp/bad"
expect 2 "--init-from and --init-embeddings" "$SEQLAB" train --init-from "$tmp/base" --init-embeddings "$tmp/a.txt" --out "$tmp/bad"

# a foreign state_dict (nanoGPT names, attn.bias buffers, tied lm_head): 40 distinct bytes
gspec=gpt:n_layer=2,n_head=4,n_embd=32,block_size=16,vocab_size=40,bias=1
awk 'BEGIN { s = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"; for (i = 0; i < 300; i++) { for (j = 1; j <= 40; j++) printf "%s", substr(s, (i * 7 + j * 3) % 40 + 1, 1) } }' >"$tmp/g40.txt"
"$SEQLAB" train --init-from "$SL_SRCDIR/t/data/gpt_bias1.safetensors" --model "$gspec" --corpus "$tmp/g40.txt" --steps 3 $common --out "$tmp/gpt" >/dev/null 2>"$tmp/err"
ok $? "--init-from a nanoGPT state_dict with --model"
expect 1 "names no model spec; give --model" "$SEQLAB" train --init-from "$SL_SRCDIR/t/data/gpt_bias1.safetensors" --corpus "$tmp/g40.txt" --out "$tmp/bad"
expect 1 "reads 40 token ids, task charlm has" "$SEQLAB" train --init-from "$SL_SRCDIR/t/data/gpt_bias1.safetensors" --model "$gspec" --corpus "$tmp/b.txt" --out "$tmp/bad" $common
# llama2.c: vocabulary 294, seq_len 16
expect 1 "reads 294 token ids" "$SEQLAB" train --init-from "$SL_SRCDIR/t/data/llama2c_shared.bin" --corpus "$tmp/a.txt" --out "$tmp/bad" $common
"$SEQLAB" train --init-from "$SL_SRCDIR/t/data/llama2c_shared.bin" --task copy:n_symbols=292,length=4,delay=4 --steps 3 --batch 4 --eval-batches 1 --threads 1 --no-progress --out "$tmp/l2c" >/dev/null 2>"$tmp/err"
ok $? "--init-from a llama2.c checkpoint (copy task with a 294-token vocabulary)"; [ -s "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | head -3

# LoRA
lora="r=2,alpha=4,targets=weight_ih_l0|weight_hh_l0"
"$SEQLAB" train --init-from "$tmp/base" --lora "$lora" --corpus "$tmp/b.txt" --steps 6 --ckpt-every 3 --stop-after 3 $common --out "$tmp/lora" >/dev/null 2>"$tmp/err"
ok $? "--lora run (stopped at step 3)"
grep -q "LoRA on 4 tensors" "$tmp/err"; ok $? "  ... reports the adapted tensors and trainable parameters"
"$SEQLAB" train --resume "$tmp/lora" --steps 6 --threads 1 --no-progress >/dev/null 2>"$tmp/err"; ok $? "  ... resumes (base from init_from, adapters from the checkpoint)"
h=$(hdr "$tmp/lora/model.safetensors")
echo "$h" | grep -q '"base_model.model.backbone.layers.0.mixer.weight_hh_l0.lora_A.weight"' &&
    echo "$h" | grep -q 'lora_B.weight' && ! echo "$h" | grep -q '"backbone.embedding.weight"' &&
    echo "$h" | grep -q '"lora":"r=2,alpha=4'
ok $? "  ... model.safetensors holds the adapters alone, PEFT names, 'lora' metadata"
lv=$(vloss "$tmp/lora")
[ -n "$lv" ]; ok $? "  ... seqlab eval reads a LoRA run ($lv)"
"$SEQLAB" generate --run "$tmp/lora" --prompt "the " --tokens 5 --seed 1 >"$tmp/gen" 2>"$tmp/err"; ok $? "  ... seqlab generate reads a LoRA run"
"$SEQLAB" lora merge --adapters "$tmp/lora" --out "$tmp/merged.safetensors" >/dev/null 2>"$tmp/err"; ok $? "lora merge (base from the run)"
"$SEQLAB" train --init-from "$tmp/merged.safetensors" --corpus "$tmp/b.txt" $zero $common --out "$tmp/m0" >/dev/null 2>&1
mv=$(vloss "$tmp/m0")
close "$lv" "$mv" 1e-5; ok $? "  ... merged weights evaluate as the adapted run ($lv, $mv)"
"$SEQLAB" lora unmerge --adapters "$tmp/lora" --base "$tmp/merged.safetensors" --out "$tmp/unmerged.safetensors" >/dev/null 2>&1
ok $? "lora unmerge"
"$SEQLAB" train --init-from "$tmp/unmerged.safetensors" --corpus "$tmp/a.txt" $zero $common --out "$tmp/u0" >/dev/null 2>&1
close "$(vloss "$tmp/u0")" "$a" 1e-5; ok $? "  ... gives the base back ($(vloss "$tmp/u0"), $a)"
# bad LoRA input
expect 2 "--lora adapts a trained model" "$SEQLAB" train --model lstm --lora "$lora" --corpus "$tmp/a.txt" --out "$tmp/bad"
expect 2 "only dropout=0" "$SEQLAB" train --init-from "$tmp/base" --lora "r=2,dropout=0.1,targets=weight_ih_l0" --out "$tmp/bad"
expect 1 "matches no rank-2 tensor" "$SEQLAB" train --init-from "$tmp/base" --lora "r=2,targets=c_attn" --corpus "$tmp/b.txt" $common --out "$tmp/bad"
[ ! -e "$tmp/bad" ]; ok $? "  ... no run directory left"
"$SEQLAB" train --model lstm:hidden_size=24 --corpus "$tmp/a.txt" --steps 2 $common --out "$tmp/other" >/dev/null 2>&1
expect 1 "another model" "$SEQLAB" lora merge --adapters "$tmp/lora" --base "$tmp/other" --out "$tmp/bad.safetensors"
[ ! -e "$tmp/bad.safetensors" ]; ok $? "  ... no output file"
expect 1 "no 'lora' metadata" "$SEQLAB" lora merge --adapters "$tmp/base/model.safetensors" --base "$tmp/base" --out "$tmp/bad.safetensors"
expect 1 "holds LoRA adapters" "$SEQLAB" train --init-from "$tmp/lora/model.safetensors" --corpus "$tmp/b.txt" --out "$tmp/bad" $common
expect 2 "(merge, unmerge)" "$SEQLAB" lora fold

# DPO (lab/dpo.h): the reference is the --init-from model loaded a second time
i=0; while [ $i -lt 12 ]; do echo "{\"prompt\": \"the $i \", \"chosen\": \"quick fox\", \"rejected\": \"lazy dog\"}"; i=$((i+1)); done >"$tmp/pref.jsonl"
"$SEQLAB" train --init-from "$tmp/base" --task "dpo:data=$tmp/pref.jsonl,beta=0.5" --steps 4 --stop-after 2 $common --out "$tmp/dpo" >/dev/null 2>"$tmp/err"
ok $? "--task dpo with --init-from (stopped at step 2)"; [ -s "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | head -3
"$SEQLAB" train --resume "$tmp/dpo" --steps 4 --threads 1 --no-progress >/dev/null 2>&1; ok $? "  ... resumes (reference rebuilt from init_from)"
"$SEQLAB" eval --run "$tmp/dpo" >"$tmp/out" 2>&1 && grep -q "^accuracy: " "$tmp/out"; ok $? "  ... seqlab eval reports the reward accuracy"
expect 1 "compares the policy with a frozen reference" "$SEQLAB" train --model lstm --task "dpo:data=$tmp/pref.jsonl,alphabet=$(hdr "$tmp/base/checkpoint.safetensors" | sed -n 's/.*"alphabet":"\([0-9a-f]*\)".*/\1/p')" $common --out "$tmp/bad"
echo '{"prompt": "the", "chosen": "quick"}' >"$tmp/badpref.jsonl"; cat "$tmp/pref.jsonl" >>"$tmp/badpref.jsonl"
expect 1 "badpref.jsonl:1: \"rejected\" is missing" "$SEQLAB" train --init-from "$tmp/base" --task "dpo:data=$tmp/badpref.jsonl" $common --out "$tmp/bad"
[ ! -e "$tmp/bad" ]; ok $? "  ... no run directory left"

echo "1..$n"
[ $fails -eq 0 ]
