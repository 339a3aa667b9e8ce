#!/usr/bin/python3
"""bench/w2v_gensim.py — the gensim side of bench/w2v_bench.sh (Debian's python3-gensim).

Trains gensim Word2Vec on a corpus file with given hyper-parameters, times model.train() only
(vocabulary building is timed separately), evaluates analogies with gensim's own
evaluate_word_analogies (3CosAdd, restrict_vocab, case-insensitive), and optionally evaluates a
second vector file (seqlab's) with the same evaluator, so both models are judged identically.
Prints one CSV row per model: tool,train_s,vocab_s,words,words_per_s,analogy_acc,analogy_n,train_cpu_s
(train_cpu_s: process CPU time of all threads during training).
"""
import argparse
import logging
import sys
import time

from gensim.models import KeyedVectors, Word2Vec
from gensim.models.word2vec import LineSentence


def count_words(path):
    n = 0
    with open(path, "rb") as f:
        for line in f:
            n += len(line.split())
    return n


def analogy(kv, questions, restrict):
    score, sections = kv.evaluate_word_analogies(questions, restrict_vocab=restrict, case_insensitive=True)
    total = [s for s in sections if s["section"] == "Total accuracy"][0]
    n = len(total["correct"]) + len(total["incorrect"])
    return score, n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", required=True)
    p.add_argument("--questions")
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--iter", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sample", type=float, default=1e-3)
    p.add_argument("--alpha", type=float, default=0.025)
    p.add_argument("--sg", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--restrict", type=int, default=30000)
    p.add_argument("--mode", choices=["iterable", "corpus_file"], default="corpus_file")
    p.add_argument("--save", help="write gensim's vectors here (word2vec binary)")
    p.add_argument("--eval-other", help="also evaluate this word2vec file (e.g. seqlab's)")
    p.add_argument("--other-name", default="seqlab")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    words = count_words(a.corpus)
    m = Word2Vec(vector_size=a.size, window=a.window, negative=a.negative, hs=0, sg=a.sg, min_count=a.min_count,
                 sample=a.sample, alpha=a.alpha, min_alpha=a.alpha * 1e-4, workers=a.threads, seed=a.seed,
                 epochs=a.iter)
    t0 = time.perf_counter()
    if a.mode == "corpus_file":
        m.build_vocab(corpus_file=a.corpus)
    else:
        m.build_vocab(LineSentence(a.corpus))
    t1 = time.perf_counter()
    c1 = time.process_time()
    if a.mode == "corpus_file":
        m.train(corpus_file=a.corpus, total_examples=m.corpus_count, total_words=m.corpus_total_words,
                epochs=a.iter)
    else:
        m.train(LineSentence(a.corpus), total_examples=m.corpus_count, epochs=a.iter)
    t2 = time.perf_counter()
    c2 = time.process_time()
    if a.save:
        m.wv.save_word2vec_format(a.save, binary=True)
    acc, n = analogy(m.wv, a.questions, a.restrict) if a.questions else (float("nan"), 0)
    train_s, vocab_s = t2 - t1, t1 - t0
    print("tool,train_s,vocab_s,words,words_per_s,analogy_acc,analogy_n,train_cpu_s")
    print(f"gensim-{a.mode},{train_s:.3f},{vocab_s:.3f},{words * a.iter},{words * a.iter / train_s:.0f},{acc:.4f},{n},"
          f"{c2 - c1:.3f}")
    if a.eval_other:
        kv = KeyedVectors.load_word2vec_format(a.eval_other, binary=True)
        acc, n = analogy(kv, a.questions, a.restrict) if a.questions else (float("nan"), 0)
        print(f"{a.other_name}(gensim-eval),,,,,{acc:.4f},{n}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
