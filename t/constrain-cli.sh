#!/bin/sh
# t/constrain-cli.sh — `seqlab generate --json-schema FILE` and constrained speculative decoding
# on the command line (issue #17 item 6): sampled outputs of a character-level run over 30 seeds
# are JSON values that satisfy the schema (checked by Python's json module and a validator
# written here, when python3 is there); greedy constrained output with --draft equals it without
# (--json-schema and --regex); a llama2.c checkpoint and tokenizer; bad input: unsatisfiable,
# malformed and unsupported schemas, a missing file, --regex with --json-schema, too few tokens.
SEQLAB=${SEQLAB:-./seqlab}
d=${SL_SRCDIR:-.}/t/data
tmp=$(mktemp -d /tmp/sl-cons-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
echo "1..20"
ok() { n=$((n+1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }
expect() {
    want=$1; pat=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pat" "$tmp/err"; then ok 0 "exit $want, '$pat': $(head -1 "$tmp/err")"
    else ok 1 "expected exit $want and '$pat', got $rc: $(head -2 "$tmp/err" | tr '\n' ' ')"; fi
}
PY=
if command -v python3 >/dev/null 2>&1 && python3 -c "import json" 2>/dev/null; then PY=python3; fi
# check.py SCHEMA FILE...: each file (minus the prompt line's prefix and the trailing newline) is
# a JSON value valid under SCHEMA (type, properties, required, items, enum, const,
# additionalProperties), integers by value
cat >"$tmp/check.py" <<'PYEOF'
import json, sys
def valid(s, v):
    if s is True or s is False: return s
    t = s.get("type")
    def is_t(v, t):
        if t == "integer": return isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()
        return {"null": v is None, "boolean": isinstance(v, bool), "string": isinstance(v, str),
                "number": isinstance(v, (int, float)) and not isinstance(v, bool),
                "array": isinstance(v, list), "object": isinstance(v, dict)}[t]
    if t is not None and not any(is_t(v, x) for x in (t if isinstance(t, list) else [t])): return False
    if "const" in s and not (s["const"] == v and type(s["const"]) == type(v)): return False
    if "enum" in s and not any(e == v and (isinstance(e, bool) == isinstance(v, bool)) for e in s["enum"]): return False
    if isinstance(v, list) and "items" in s and not all(valid(s["items"], x) for x in v): return False
    if isinstance(v, dict):
        pr = s.get("properties", {})
        for k, x in v.items():
            if k in pr and not valid(pr[k], x): return False
            if k not in pr and s.get("additionalProperties", True) is False: return False
        if not all(k in v for k in s.get("required", [])): return False
    return True
schema = json.load(open(sys.argv[1]))
bad = 0
for f in sys.argv[3:]:
    text = open(f, encoding="utf-8").read()[int(sys.argv[2]):].rstrip("\n")
    def no_dup(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)): raise ValueError("duplicate key")
        return dict(pairs)
    try:
        v = json.loads(text, object_pairs_hook=no_dup)
        if not valid(schema, v): raise ValueError("not valid under the schema")
    except Exception as e:
        bad += 1
        print("%s: %r: %s" % (f, text, e))
sys.exit(1 if bad else 0)
PYEOF

# a character-level GPT and a 4-gram run on JSON-like text (the alphabet has every JSON character)
i=0; while [ $i -lt 30 ]; do
    echo "{\"name\": \"bo$i\", \"age\": $((i * 7)), \"score\": -$i.5e+2, \"ok\": true, \"tags\": [\"x\", \"yz\"], \"kind\": null}"
    echo "{\"ok\": false, \"q\": \"\\\\ \\\"\", \"abcdefghijklmnopqrstuvwxyz\": [0, 1.25, 3e-1, 4E5]}"
    i=$((i+1)); done >"$tmp/text.txt"
$SEQLAB train --model gpt:n_layer=1,n_head=2,n_embd=16 --task charlm --corpus "$tmp/text.txt" --seq-len 32 --steps 3 \
    --batch 2 --eval-every 3 --out "$tmp/gpt" >"$tmp/train.out" 2>&1; ok $? "train a character GPT (block size 32) on JSON-like text"
$SEQLAB train --model ngram:order=4 --task charlm --corpus "$tmp/text.txt" --seq-len 32 --steps 1 --batch 2 \
    --out "$tmp/ng" >"$tmp/ngt.out" 2>&1; ok $? "fit a 4-gram run on the same text"
cat >"$tmp/person.json" <<'EOF2'
{"type": "object", "title": "a person",
 "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "score": {"type": "number"},
                "ok": {"type": "boolean"}, "tags": {"type": "array", "items": {"enum": ["x", "yz", 3]}},
                "kind": {"type": ["null", "string"]}},
 "required": ["name", "ok"], "additionalProperties": false}
EOF2
# the prompt "a" and 80 tokens: the GPT slides past its 32 positions
good=0; s=1; files=
while [ $s -le 30 ]; do
    $SEQLAB generate --run "$tmp/gpt" --prompt "a" --tokens 80 --json-schema "$tmp/person.json" --seed $s \
        >"$tmp/j$s" 2>"$tmp/j${s}e" && [ ! -s "$tmp/j${s}e" ] && good=$((good+1))
    files="$files $tmp/j$s"; s=$((s+1))
done
[ $good -eq 30 ]; ok $? "--json-schema: 30 of 30 seeds exit 0 without a note ($(head -1 "$tmp/j1" | cut -c2-80))"
if [ -n "$PY" ]; then
    $PY "$tmp/check.py" "$tmp/person.json" 1 $files >"$tmp/pyout" 2>&1
    ok $? "--json-schema: every output parses (Python's json) and satisfies the schema $(head -2 "$tmp/pyout" | tr '\n' ' ')"
else
    skip "no python3 to check the outputs"
fi
# greedy, with and without a draft: the same text (within the 32-position context: speculative
# decoding does not slide, and the budget is the same)
$SEQLAB generate --run "$tmp/gpt" --prompt "a" --tokens 30 --json-schema "$tmp/person.json" --temperature 0 \
    >"$tmp/g1" 2>"$tmp/g1e"; rc1=$?
$SEQLAB generate --run "$tmp/gpt" --draft "$tmp/ng" --speculate 3 --prompt "a" --tokens 30 --json-schema "$tmp/person.json" \
    --temperature 0 --stats >"$tmp/g2" 2>"$tmp/g2e"; rc2=$?
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -s "$tmp/g1" ] && cmp -s "$tmp/g1" "$tmp/g2" && grep -q "proposals accepted" "$tmp/g2e"
ok $? "--json-schema with --draft (4-gram, k=3): greedy text == without --draft: '$(head -1 "$tmp/g1" | cut -c1-60)'"
$SEQLAB generate --run "$tmp/gpt" --prompt "a" --tokens 30 --regex '[a-z]+ (x|yz)[0-9]{2,4}' --temperature 0 >"$tmp/r1" 2>"$tmp/r1e"; rc1=$?
$SEQLAB generate --run "$tmp/gpt" --draft "$tmp/ng" --speculate 4 --prompt "a" --tokens 30 --regex '[a-z]+ (x|yz)[0-9]{2,4}' \
    --temperature 0 >"$tmp/r2" 2>"$tmp/r2e"; rc2=$?
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && cmp -s "$tmp/r1" "$tmp/r2" && tail -c +2 "$tmp/r1" | grep -Eqx '[a-z]+ (x|yz)[0-9]{2,4}'
ok $? "--regex with --draft: greedy text == without --draft and matches: '$(head -1 "$tmp/r1")'"
# sampled with a draft: every output in the language
good=0; s=1; files=
while [ $s -le 20 ]; do
    $SEQLAB generate --run "$tmp/gpt" --draft "$tmp/ng" --prompt "a" --tokens 30 --json-schema "$tmp/person.json" --seed $s \
        >"$tmp/d$s" 2>"$tmp/d${s}e" && [ ! -s "$tmp/d${s}e" ] && good=$((good+1))
    files="$files $tmp/d$s"; s=$((s+1))
done
[ $good -eq 20 ]; ok $? "--json-schema --draft, sampled: 20 of 20 seeds exit 0 without a note"
if [ -n "$PY" ]; then
    $PY "$tmp/check.py" "$tmp/person.json" 1 $files >"$tmp/pyout" 2>&1
    ok $? "--json-schema --draft, sampled: every output is JSON satisfying the schema $(head -2 "$tmp/pyout" | tr '\n' ' ')"
else
    skip "no python3 to check the outputs"
fi
good=0; s=1
while [ $s -le 20 ]; do
    $SEQLAB generate --run "$tmp/gpt" --draft "$tmp/ng" --prompt "a" --tokens 12 --regex '(x|yz)+ [0-9]{1,3}' --seed $s \
        >"$tmp/e$s" 2>/dev/null && tail -c +2 "$tmp/e$s" | grep -Eqx '(x|yz)+ [0-9]{1,3}' && good=$((good+1))
    s=$((s+1))
done
[ $good -eq 20 ]; ok $? "--regex --draft, sampled, 12 tokens: $good of 20 seeds match"

# llama2.c (seq_len 16: BOS + 15 tokens); the fixture's tokenizer has byte tokens
cat >"$tmp/small.json" <<'EOF2'
{"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"type": "integer"}}, "required": ["a"]}
EOF2
good=0; s=1; files=
while [ $s -le 10 ]; do
    $SEQLAB generate --llama2c "$d/llama2c_shared.bin" --tokenizer "$d/llama2c_tok.bin" --prompt "" --tokens 15 \
        --json-schema "$tmp/small.json" --seed $s >"$tmp/l$s" 2>"$tmp/l${s}e" && good=$((good+1))
    files="$files $tmp/l$s"; s=$((s+1))
done
[ $good -eq 10 ]; ok $? "--llama2c --json-schema: 10 of 10 seeds exit 0 ($(head -1 "$tmp/l1"))"
if [ -n "$PY" ]; then
    $PY "$tmp/check.py" "$tmp/small.json" 0 $files >"$tmp/pyout" 2>&1
    ok $? "--llama2c --json-schema: every output is JSON satisfying the schema $(head -2 "$tmp/pyout" | tr '\n' ' ')"
else
    skip "no python3 to check the outputs"
fi

# bad input
G="$SEQLAB generate --run $tmp/gpt --prompt a --tokens 40"
echo '{"type": "string", "enum": [1, 2]}' >"$tmp/unsat.json"
expect 1 "unsatisfiable" $G --json-schema "$tmp/unsat.json"
echo '{"type": "object", "properties": {"a": {"type": "string"}}' >"$tmp/malformed.json"
expect 1 "not valid JSON" $G --json-schema "$tmp/malformed.json"
echo '{"type": "string", "pattern": "a+"}' >"$tmp/unsup.json"
expect 1 'unsupported keyword "pattern"' $G --json-schema "$tmp/unsup.json"
echo '{"type": "object", "properties": {"a": {}}}' >"$tmp/any.json"
expect 1 "#/properties/a: a schema without" $G --json-schema "$tmp/any.json"
expect 1 "$tmp/nope.json" $G --json-schema "$tmp/nope.json"
expect 2 "not both" $G --json-schema "$tmp/person.json" --regex 'a'
echo '{"enum": ["QQQ"]}' >"$tmp/noalpha.json"
expect 1 "can complete a match" $G --json-schema "$tmp/noalpha.json"
expect 1 "needs 21 tokens" $SEQLAB generate --run "$tmp/gpt" --prompt a --tokens 5 --json-schema "$tmp/person.json"
expect 2 "not --hf" $SEQLAB generate --hf "$tmp" --prompt-ids 1 --tokens 3 --json-schema "$tmp/person.json"
