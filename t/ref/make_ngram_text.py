#!/usr/bin/python3
"""Write t/data/ngram-train.txt and t/data/ngram-test.txt: small sentences from a toy grammar
mixed with the first lines of /usr/share/common-licenses/GPL-3 (natural text), repetitive enough that modified Kneser-Ney discounts can be estimated up to order 5 without
lmplz's --discount_fallback. Deterministic (own LCG, no library RNG)."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "data")

state = 12345


def rnd(n):
    global state
    state = (state * 1103515245 + 12345) % 2**31
    return (state >> 8) % n


def pick(xs):
    return xs[rnd(len(xs))]


SUBJ = ["the cat", "the dog", "a bird", "my friend", "the old man", "the child", "she", "he"]
VERB = ["sat on", "looked at", "ran to", "saw", "walked past", "sat near"]
OBJ = ["the mat", "the house", "a tree", "the river", "the old bridge", "the garden"]
ADV = ["", "", "in the morning", "after dinner", "quietly", "again", "every day"]


def sentence(extra=()):
    s = [pick(SUBJ), pick(VERB), pick(OBJ)]
    a = pick(ADV)
    if a:
        s.append(a)
    if rnd(5) == 0:
        s += ["and", pick(VERB), pick(OBJ)]
    words = " ".join(s).split()
    if extra:
        words.insert(rnd(len(words)), pick(extra))
    return " ".join(words)


NLIC = 30


def main():
    with open("/usr/share/common-licenses/GPL-3") as g:
        lic = [l.strip() for l in g.readlines()[:NLIC]]
    with open(os.path.join(out, "ngram-train.txt"), "w") as f:
        for i in range(200):
            f.write(sentence() + "\n")
            if i % 6 == 0 and lic:
                f.write(lic.pop(0) + "\n")
        f.write("\n")  # an empty line: <s> </s>
    with open(os.path.join(out, "ngram-test.txt"), "w") as f:
        for _ in range(30):
            f.write(sentence(extra=["zebra", "purple", "yesterday"]) + "\n")
        f.write("the cat\n\n")


if __name__ == "__main__":
    sys.exit(main())
