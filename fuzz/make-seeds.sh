#!/bin/sh
# fuzz/make-seeds.sh — (re)make the committed seed corpora fuzz/corpus/NAME/ from the test
# fixtures, from files the built seqlab writes, and from hand-written hostile inputs (files
# that claim enormous sizes, counts or lengths: issue 19 item 2). Run from the top of the
# source tree after a build:  SEQLAB=./seqlab sh fuzz/make-seeds.sh   (needs perl).
# Every seed is small (the largest few KB): libFuzzer mutates faster, and the fixtures'
# larger files add no code paths.
set -eu
SEQLAB=${SEQLAB:-./seqlab}
c=fuzz/corpus
rm -rf "$c" && mkdir -p "$c"
for h in safetensors npy json spec arpa w2v_text w2v_bin llama2c llama2c_tok checkpoint corpus; do mkdir -p "$c/$h"; done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- safetensors: fixtures, and headers claiming huge shapes / header lengths
cp t/data/io_ref.safetensors t/data/recurrent_rnn_nobias.safetensors t/data/s4d_weights.safetensors "$c/safetensors/"
st() {  # st NAME JSON [DATA-BYTES]: a safetensors file with that header
    perl -e 'my ($j, $n) = @ARGV; print pack("Q<", length $j), $j, "\0" x $n' "$2" "${3:-0}" >"$c/safetensors/$1"
}
st huge-shape '{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'
st overflow-shape '{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}' 16
st meta-only '{"__metadata__":{"format":"pt","step":"3"}}'
st two-f16-i64 '{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"i":{"dtype":"I64","shape":[1],"data_offsets":[4,12]},"b":{"dtype":"BF16","shape":[1,1],"data_offsets":[12,14]}}' 14
perl -e 'print pack("Q<", 1 << 40), "{}"' >"$c/safetensors/huge-header-length"

# --- .npy: fixtures, and a header claiming 10^18 elements
cp t/data/io_ref.npy t/data/io_ref_v2.npy t/data/llama2c_tokens.npy t/data/gpt_tokens.npy "$c/npy/"
npy() {  # npy NAME DICT [DATA-BYTES]
    perl -e 'my ($d, $n) = @ARGV; my $h = $d; $h .= " " while (10 + length($h) + 1) % 64; $h .= "\n";
             print "\x93NUMPY\x01\x00", pack("v", length $h), $h, "\0" x $n' "$2" "${3:-0}" >"$c/npy/$1"
}
npy huge-shape "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }"
npy scalar "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" 8
npy i64-empty "{'descr': '<i8', 'fortran_order': False, 'shape': (0, 3), }"

# --- JSON: the safetensors headers, and hand-written documents
for f in "$c"/safetensors/*; do
    n=$(basename "$f")
    perl -e 'local $/; my $b = <STDIN>; my $n = unpack("Q<", substr($b, 0, 8)); print substr($b, 8, $n) if $n < length $b' <"$f" >"$c/json/$n.json"
    [ -s "$c/json/$n.json" ] || rm -f "$c/json/$n.json"
done
printf '%s' '{"a":[1,-2.5e-3,true,false,null,"x\u00e9\ud83d\ude00\n\"\\"],"b":{"c":{}},"d":[]}' >"$c/json/escapes.json"
printf '%s' '[18446744073709551615, -9223372036854775808, 1e308, 1E-400, 0.0, -0]' >"$c/json/numbers.json"
perl -e 'print "[" x 64, "]" x 64' >"$c/json/deep.json"

# --- spec strings: every model and task with small sizes, and a few near misses
i=0
while IFS= read -r s; do i=$((i + 1)); printf '%s' "$s" >"$c/spec/$(printf '%02d' $i)"; done <<'SPECS'
lm:mixer=rnn,d_model=8,n_layer=1,vocab_size=11
lm:mixer=lstm,d_model=8,n_layer=2,vocab_size=11,norm=layernorm,tie_embeddings=0
lm:mixer=gru,d_model=8,n_layer=1,vocab_size=11,max_position_embeddings=16
seq:mixer=s4d,d_model=8,n_layer=1,d_input=3,d_output=2,d_state=4
lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=11,d_state=4,expand=2
lm:mixer=mamba2,d_model=16,n_layer=1,vocab_size=11,d_state=8,headdim=8
lm:mixer=attention,d_model=16,n_layer=1,vocab_size=11,n_head=4,n_kv_head=2,max_seq_len=32
lm:mixer=attention,d_model=16,n_layer=1,vocab_size=11,n_head=2,kv_lora_rank=4,max_seq_len=32
rnn:input_size=3,hidden_size=4,num_layers=2,bidirectional=1,nonlinearity=relu
hippo:d_model=4,d_state=8,measure=legt,discretization=zoh
s4:d_model=4,d_state=8,l_max=32
s4d:d_model=4,d_state=8,init=inv,discretization=bilinear
gpt:n_layer=1,n_head=2,n_embd=16,block_size=16,vocab_size=32,dropout=0.1,bias=0
llama:dim=16,n_layers=1,n_heads=2,n_kv_heads=1,vocab_size=32,max_seq_len=16,multiple_of=8
ngram:order=3,vocab_size=16,method=kn
copy:length=4,delay=6,n_symbols=5
adding:length=10
charlm:seq_len=16,val_frac=0.2
selcopy:seq_len=16,n_tokens=4,vocab_size=8
induction:seq_len=16,vocab_size=16
mqar:seq_len=32,vocab_size=64,n_kv_pairs=4,power_a=0.01
lm:mixer=lstm,d_modle=8,vocab_size=11
gpt:n_layer=1,n_head=3,n_embd=16,block_size=16,vocab_size=32
lm:mixer=nosuch,vocab_size=11
:,=,
SPECS

# --- ARPA: a small model of each method, and counts of 10^9
printf 'the cat sat on the mat\nthe dog sat\na cat and a dog\n\n\xc3\xa9t\xc3\xa9 x\n' >"$tmp/text"
for m in mkn kn addk mle; do
    "$SEQLAB" ngram build --order 3 --method $m --discount-fallback --text "$tmp/text" --arpa "$c/arpa/$m-o3.arpa" --quiet
done
"$SEQLAB" ngram build --order 1 --text "$tmp/text" --arpa "$c/arpa/mkn-o1.arpa" --quiet
printf '\\data\\\nngram 1=1000000000\nngram 2=1000000000\n\n\\1-grams:\n-1\t<s>\t0\n\n\\end\\\n' >"$c/arpa/huge-counts.arpa"

# --- word2vec: the gensim fixtures, seqlab's own files, and a header of 50000000 x 20
cp t/data/w2v-gensim.txt "$c/w2v_text/gensim.txt"
printf '3 2\n</s> 0.000000 -1.500000 \nw\xc3\xa9 1e-3 2\nb 0.5 -0.25' >"$c/w2v_text/seqlab.txt"
cp t/data/w2v-gensim.bin "$c/w2v_bin/gensim.bin"
printf '50000000 20\nthe 0.1' >"$c/w2v_text/huge-header.txt"
printf '50000000 20\nthe \0\0\0\0' >"$c/w2v_bin/huge-header.bin"
perl -e 'print "2 3\n"; for my $w ("a", "\xc3\xa9") { print "$w ", pack("f<3", 0.5, -1, 2), "\n" }' >"$c/w2v_bin/seqlab.bin"
perl -e 'print "2 3\n"; for my $w ("a", "b") { print "$w ", pack("f<3", 1, 2, 3) }' >"$c/w2v_bin/no-newline.bin"

# --- llama2.c checkpoints: tiny shared and unshared models, and a header claiming seq_len 4M
l2c() {  # l2c NAME dim hidden layers heads kv_heads vocab seq_len
    perl -e 'my ($d, $f, $l, $h, $kv, $v, $s) = @ARGV; my $hs = $d / $h; my $dkv = $kv * $hs; my $V = abs $v;
             my $n = $V*$d + $l*$d + $l*$d*$d + 2*$l*$dkv*$d + $l*$d*$d + $l*$d + 3*$l*$f*$d + $d + $s*$hs;
             $n += $V*$d if $v < 0;
             print pack("l<7", @ARGV); srand(1); print pack("f<", rand() - 0.5) for 1 .. $n' "$2" "$3" "$4" "$5" "$6" "$7" "$8" >"$c/llama2c/$1"
}
l2c shared.bin 8 16 1 2 2 16 4
l2c unshared-gqa.bin 8 16 2 2 1 -16 4
perl -e 'print pack("l<7", 8, 16, 1024, 2, 2, 16, 4194304)' >"$c/llama2c/huge-seq-len.bin"

# --- tokenizer.bin (2 bytes of vocab_size - 1, then the file): the fixture, a small one, and a
# vocab of 65536 in a tiny file
perl -e 'print pack("v", 293)' >"$c/llama2c_tok/fixture"; cat t/data/llama2c_tok.bin >>"$c/llama2c_tok/fixture"
perl -e 'my @t = ("<unk>", "<s>", "</s>", " ", "a", "b", " a", "ab", "\xc3\xa9"); print pack("v", $#t), pack("l<", 5);
         for my $i (0 .. $#t) { print pack("f<l<", -$i, length $t[$i]), $t[$i] }' >"$c/llama2c_tok/small"
perl -e 'print pack("v", 65535), pack("l<", 8)' >"$c/llama2c_tok/huge-vocab"

# --- checkpoints: a two-step run of the fixed model of fuzz/checkpoint.c
"$SEQLAB" train --model lm:mixer=rnn,d_model=4,n_layer=1 --task copy:length=2,delay=1,n_symbols=3 \
    --steps 2 --batch 2 --eval-every 0 --eval-batches 1 --out "$tmp/run" >/dev/null 2>&1
cp "$tmp/run/checkpoint.safetensors" "$c/checkpoint/rnn-copy"
"$SEQLAB" train --model lm:mixer=gru,d_model=4,n_layer=1 --task copy:length=2,delay=1,n_symbols=3 \
    --steps 2 --batch 2 --eval-every 0 --eval-batches 1 --optimizer sgd --out "$tmp/run2" >/dev/null 2>&1 &&
    cp "$tmp/run2/checkpoint.safetensors" "$c/checkpoint/gru-copy-sgd"

# --- corpora: ASCII lines, UTF-8, invalid UTF-8, CR LF, blank lines, NUL and control bytes
printf 'the cat sat\non the mat\n\nthe end' >"$c/corpus/ascii"
printf 'na\xc3\xafve caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n\xe6\x97\xa5\xe6\x9c\xac\n' >"$c/corpus/utf8"
printf 'bad \xc3 \xff\xfe \xe2\x82 \xf8\x88\x80\x80\x80 \xed\xa0\x80\n' >"$c/corpus/invalid-utf8"
printf 'a b\r\nc\td\r\n\r\n  \x0b\x0c e\x00f\n' >"$c/corpus/crlf-controls"
head -c 3000 t/data/ngram-train.txt >"$c/corpus/ngram-train"
# --- tokenizers (issue 23): seqlab-bpe, GPT-2 vocab.json + merges.txt (joined by the line
# "#merges.txt", see fuzz/bpe_gpt2.c), tokenizer.json, SentencePiece .model, token shards;
# small models trained here, the fixtures' small ones, and headers that lie
for h in bpe bpe_gpt2 tok_hf spm shards; do mkdir -p "$c/$h"; done
head -c 4000 t/data/tok-corpus.txt >"$tmp/tc.txt"
"$SEQLAB" tokenizer train --vocab-size 300 --special '<|endoftext|>' --out "$c/bpe/small" --gpt2 "$tmp/g" "$tmp/tc.txt" 2>/dev/null
"$SEQLAB" tokenizer convert --tokenizer "$c/bpe/small" --hf "$c/tok_hf/small" 2>/dev/null
{ cat "$tmp/g/vocab.json"; printf '#merges.txt\n'; cat "$tmp/g/merges.txt"; } >"$c/bpe_gpt2/small"
{ cat "$tmp/g/vocab.json"; printf '#merges.txt\n'; head -3 "$tmp/g/merges.txt"; echo "Ġzz q"; } >"$c/bpe_gpt2/unknown-token"
printf 'seqlab-bpe 1\npattern gpt2\ntokens 2000000000\nb 00\n' >"$c/bpe/huge-count"
sed 's/^merges [0-9]*/merges 99999999/' "$c/bpe/small" >"$c/bpe/huge-merges"
sed 's/"Ġ Ġ"/["Ġ", "Ġ"]/; s/"byte_fallback": false/"byte_fallback": true/' "$c/tok_hf/small" >"$c/tok_hf/byte-fallback"
sed 's/"type": "ByteLevel", "add_prefix_space": false/"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}], "x": false/' "$c/tok_hf/small" >"$c/tok_hf/sequence"
cp t/data/spm-bpe-id.model "$c/spm/bpe-identity"
cp t/data/spm-uni-cf.model "$c/spm/unigram-nfkc-cf"
if command -v spm_train >/dev/null; then
    spm_train --input="$tmp/tc.txt" --model_prefix="$tmp/su" --model_type=unigram --vocab_size=400 --hard_vocab_limit=false \
        --normalization_rule_name=identity --byte_fallback=true --user_defined_symbols='<sep>' --minloglevel=2 \
        --num_threads=1 >/dev/null 2>&1 && cp "$tmp/su.model" "$c/spm/unigram-identity-bytes"
fi
perl -e 'print "\x0a\x80\x80\x80\x80\x08"' >"$c/spm/huge-piece-length"
printf 'he cat sat\n' >"$tmp/d.txt"
"$SEQLAB" tokenizer encode --tokenizer "$c/bpe/small" --shards "$tmp/sh" "$tmp/d.txt" 2>/dev/null
cp "$tmp/sh_train_000000.bin" "$c/shards/small16"
perl -e 'my @h = (20240801, 7, 3, 70000, 0, (0) x 251); print pack("l<*", @h), pack("L<*", 1, 69999, 5)' >"$c/shards/small32"
perl -e 'my @h = (20240520, 1, 1000000000, 300, 0, (0) x 251); print pack("l<*", @h), pack("S<*", 1, 2)' >"$c/shards/lying-count"
perl -e 'my @h = (20240520, 1, 2, 3, 0, (0) x 251); print pack("l<*", @h), pack("S<*", 1, 7)' >"$c/shards/token-past-vocab"
ls -R "$c" | wc -l
