#!/bin/sh
# t/lora-learn.sh — the LoRA learning test (issue 22): a character GPT pretrained on one licence
# text (GPL-3), fine-tuned to others (Apache-2.0, Artistic, MPL-2.0, kept to GPL-3's
# characters) in full and with LoRA (r=4 on c_attn|c_proj|c_fc). Passes when LoRA gets at
# least half of full fine-tuning's gain in validation loss with at most 15% of its trainable
# parameters. Prints both figures (docs/finetune.md quotes them). One thread: deterministic.
SEQLAB=${SEQLAB:-./seqlab}
lic=/usr/share/common-licenses
for f in GPL-3 Apache-2.0 Artistic MPL-2.0; do
    [ -r "$lic/$f" ] || { echo "1..0 # SKIP $lic/$f is missing"; exit 0; }
done
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0; fails=0
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails+1)); fi; }
cp "$lic/GPL-3" "$tmp/a.txt"
# the new corpus, kept to the base's characters (bytes, LC_ALL=C)
cat "$lic/Apache-2.0" "$lic/Artistic" "$lic/MPL-2.0" | LC_ALL=C awk 'NR == FNR { for (i = 1; i <= length($0); i++) seen[substr($0, i, 1)] = 1; next }
    { s = ""; for (i = 1; i <= length($0); i++) { c = substr($0, i, 1); if (c in seen) s = s c } print s }' "$tmp/a.txt" - >"$tmp/b.txt"
run="--seq-len 32 --batch 16 --eval-batches 8 --threads 1 --no-progress"
vloss() { "$SEQLAB" eval --run "$1" 2>/dev/null | sed -n 's/^val_loss: //p'; }
params() { "$SEQLAB" eval --run "$1" 2>/dev/null | sed -n 's/^params: //p'; }
"$SEQLAB" train --model gpt:n_layer=2,n_head=4,n_embd=48 --corpus "$tmp/a.txt" $run --steps 1000 --eval-every 0 --lr 3e-3 --out "$tmp/base" >/dev/null 2>&1
ok $? "pretrain gpt:n_layer=2,n_head=4,n_embd=48 on GPL-3 (1000 steps)"
ft="--corpus $tmp/b.txt $run --eval-every 0 --steps 200 --warmup 20"
"$SEQLAB" train --init-from "$tmp/base" $ft --steps 1 --lr 0 --min-lr 0 --warmup 0 --out "$tmp/b0" >/dev/null 2>&1
"$SEQLAB" train --init-from "$tmp/base" $ft --lr 3e-3 --out "$tmp/full" >/dev/null 2>&1; ok $? "full fine-tuning (200 steps, lr 3e-3)"
"$SEQLAB" train --init-from "$tmp/base" $ft --lr 1e-2 --lora "r=4,alpha=8,targets=c_attn|c_proj|c_fc" --out "$tmp/lora" >/dev/null 2>&1
ok $? "LoRA r=4 alpha=8 on c_attn|c_proj|c_fc (200 steps, lr 1e-2)"
l0=$(vloss "$tmp/b0"); lf=$(vloss "$tmp/full"); ll=$(vloss "$tmp/lora"); pf=$(params "$tmp/full"); pl=$(params "$tmp/lora")
echo "# validation loss on the new text: base $l0, full fine-tuning $lf ($pf trainable), LoRA $ll ($pl trainable)"
awk -v a="$l0" -v f="$lf" -v l="$ll" 'BEGIN { g = a - f; printf "# gain: full %.4f, LoRA %.4f = %.1f%% of full\n", g, a - l, 100 * (a - l) / g;
    exit !(a != "" && f != "" && l != "" && g > 0.1 && (a - l) >= 0.5 * g) }'
ok $? "LoRA gets at least half of full fine-tuning's gain"
awk -v f="$pf" -v l="$pl" 'BEGIN { printf "# trainable: LoRA %d of %d = %.1f%%\n", l, f, 100 * l / f; exit !(f > 0 && l > 0 && l <= 0.15 * f) }'
ok $? "with at most 15% of the trainable parameters"
echo "1..$n"
[ $fails -eq 0 ]
