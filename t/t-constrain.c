/* t/t-constrain.c — constrained generation (lab/constrain.h, issue #17 item 6, regular
 * expressions): the DFA's whole-text matches against POSIX extended regular expressions (libc
 * regcomp/regexec, anchored) over every string up to length 6 on a small alphabet, for a set
 * of patterns; the token masks over a multi-character vocabulary; generation with a
 * random-weight model (a GPT over characters, a Mamba LM over a vocabulary of multi-character
 * pieces) under the constraint over many seeds: every output matches; refused patterns (syntax
 * outside the subset, a pattern that matches nothing, one the vocabulary cannot write). */
#include "core/error.h" /* before t/testutil.h, which uses sl_errmsg */
#include "t/tap.h"
#include "t/testutil.h"

#include "lab/constrain.h"
#include "lab/generate.h"
#include "lab/registry.h"
#include "lab/sample.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* all strings over alpha up to length maxlen: DFA vs regexec */
static void against_posix(const char *pat, const char *posix, const char *alpha, int maxlen)
{
    sl_constraint *c = NULL;
    if (sl_constraint_regex(pat, 0, NULL, NULL, &c)) {
        ok(0, "compile %s: %s", pat, sl_errmsg());
        return;
    }
    regex_t re;
    char anch[256];
    snprintf(anch, sizeof anch, "^(%s)$", posix ? posix : pat);
    if (regcomp(&re, anch, REG_EXTENDED | REG_NOSUB)) {
        ok(0, "regcomp %s", anch);
        sl_constraint_free(c);
        return;
    }
    const int A = (int)strlen(alpha);
    char s[16];
    long tested = 0, bad = 0, matched = 0;
    for (int L = 0; L <= maxlen; L++) {
        long total = 1;
        for (int i = 0; i < L; i++) total *= A;
        for (long k = 0; k < total; k++) {
            long x = k;
            for (int i = 0; i < L; i++) { s[i] = alpha[x % A]; x /= A; }
            s[L] = 0;
            int a = sl_constraint_matches(c, s, L), b = regexec(&re, s, 0, NULL, 0) == 0;
            if (a != b && bad++ < 3) diag("'%s': dfa %d posix %d", s, a, b);
            matched += a;
            tested++;
        }
    }
    ok(bad == 0, "/%s/ (%d DFA states) == POSIX ERE on all %ld strings over \"%s\" up to length %d (%ld match)", pat,
       sl_constraint_states(c), tested, alpha, maxlen, matched);
    regfree(&re);
    sl_constraint_free(c);
}

static void refused(const char *pat, const char *needle)
{
    sl_constraint *c = NULL;
    int rc = sl_constraint_regex(pat, 0, NULL, NULL, &c);
    ok(rc != 0 && !c && strstr(sl_errmsg(), needle), "/%s/ refused: %s", pat, sl_errmsg());
}

/* generate up to n tokens with the constraint; returns the text length */
static int gen(sl_model *m, sl_constraint *c, const char *const *piece, const int *len, uint64_t seed, int n, char *text)
{
    const int V = m->d_out;
    sl_decoder *d = NULL;
    sl_rng *rng = sl_rng_alloc(seed);
    float *lg = malloc(V * sizeof(float)), *work = malloc(2 * (size_t)V * sizeof(float));
    int *iw = malloc(V * sizeof(int));
    int32_t start = 0, tl = 0;
    sl_decoder_new(m, 0, &d);
    sl_decoder_feed(d, &start, 1);
    sl_constraint_reset(c);
    sl_sampler smp = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    for (int k = 0; k < n; k++) {
        memcpy(lg, sl_decoder_logits(d), V * sizeof(float));
        if (sl_constraint_mask_budget(c, lg, n - k) == 0) break;
        int32_t t = sl_sample_logits(lg, V, &smp, rng, work, iw);
        if (sl_constraint_advance(c, t)) break;
        memcpy(text + tl, piece[t], len[t]);
        tl += len[t];
        if (sl_decoder_feed(d, &t, 1)) break;
    }
    text[tl] = 0;
    sl_decoder_free(d);
    sl_rng_free(rng);
    free(lg);
    free(work);
    free(iw);
    return tl;
}

static void gen_case(const char *label, sl_model *m, const char *pat, const char *const *piece, const int *len, int n, int seeds)
{
    sl_constraint *c = NULL;
    if (sl_constraint_regex(pat, m->d_out, piece, len, &c)) {
        ok(0, "%s: compile /%s/: %s", label, pat, sl_errmsg());
        return;
    }
    regex_t re;
    char anch[512];
    snprintf(anch, sizeof anch, "^(%s)$", pat);
    int posix = regcomp(&re, anch, REG_EXTENDED | REG_NOSUB) == 0;
    int good = 0, distinct = 0;
    char text[4096], first[4096] = "";
    for (int s = 0; s < seeds; s++) {
        int L = gen(m, c, piece, len, 100 + s, n, text);
        int okm = sl_constraint_matches(c, text, L) && (!posix || regexec(&re, text, 0, NULL, 0) == 0);
        if (!okm && good == s) diag("seed %d: '%s' does not match", s, text);
        good += okm;
        if (s == 0) strcpy(first, text);
        else distinct += strcmp(first, text) != 0;
    }
    ok(good == seeds && distinct > 0, "%s: /%s/: %d of %d sampled outputs match (e.g. '%s')", label, pat, good, seeds, first);
    if (posix) regfree(&re);
    sl_constraint_free(c);
}

int main(void)
{
    against_posix("a(b|c)*d", NULL, "abcd", 6);
    against_posix("(ab|a)(bc|c)?", NULL, "abc", 6);
    against_posix("[a-c]+x?[^a]{2}", NULL, "abcx", 6);
    against_posix("a{2,3}(b{1,}|c{0,2})", NULL, "abc", 7);
    against_posix("(a|b)*abb", NULL, "ab", 8);
    against_posix("\\d+(\\.\\d{1,2})?", "[0-9]+([.][0-9]{1,2})?", "1.a", 6);
    against_posix("((a|)b)*", NULL, "ab", 7);
    against_posix(".a.", "[^\n]a[^\n]", "ab\n", 4);
    against_posix("[\\w-]+", "[a-zA-Z0-9_-]+", "a-_ ", 5);
    against_posix("", NULL, "ab", 3);

    refused("a(b", "missing )");
    refused("a)b", "unmatched )");
    refused("^ab", "anchor");
    refused("a*?", "lazy");
    refused("(a)\\1", "backreference");
    refused("(?:a)", "(?...)");
    refused("*a", "nothing to repeat");
    refused("[a-", "unterminated");
    refused("a{3,1}", "n < m");
    refused("a{1000}", "above 100");
    refused("[z-a]", "reversed");
    refused("\\q", "unknown escape");
    refused("[^\\x00-\\xff]x", "escape");
    refused("a[^\\s\\S]b", "matches no text");
    refused("(a|b)*a(a|b){15}", "DFA states");
    /* a pattern the vocabulary cannot write */
    {
        const char *pc[] = {"a", "b"};
        const int ln[] = {1, 1};
        sl_constraint *c = NULL;
        int rc = sl_constraint_regex("c+", 2, pc, ln, &c);
        ok(rc == SL_EINVAL && !c && strstr(sl_errmsg(), "no token"), "a pattern no token can start is refused: %s", sl_errmsg());
    }

    /* masks over a multi-character vocabulary */
    {
        const char *pc[] = {"ab", "a", "b", "ba", "c", "abc", ""};
        const int ln[] = {2, 1, 1, 2, 1, 3, 0};
        sl_constraint *c = NULL;
        if (!sl_constraint_regex("(ab)+c", 7, pc, ln, &c)) {
            int exp0[] = {1, 1, 0, 0, 0, 1, 0};
            int got = 1;
            for (int v = 0; v < 7; v++) got &= sl_constraint_allows(c, v) == exp0[v];
            ok(got, "(ab)+c: tokens allowed at the start: ab, a, abc (not b, ba, c, the empty piece)");
            sl_constraint_advance(c, 1); /* "a" */
            int exp1[] = {0, 0, 1, 1, 0, 0, 0};
            got = 1;
            for (int v = 0; v < 7; v++) got &= sl_constraint_allows(c, v) == exp1[v];
            ok(got, "(ab)+c: after 'a': b and ba");
            ok(sl_constraint_advance(c, 4) == SL_EINVAL, "(ab)+c: 'c' after 'a' is refused");
            sl_constraint_advance(c, 3); /* "ba" -> "aba" */
            ok(!sl_constraint_accepting(c) && sl_constraint_min_bytes(c) == 2, "(ab)+c: after 'aba' not accepting, 2 bytes to go");
            sl_constraint_advance(c, 2);
            sl_constraint_advance(c, 4);
            ok(sl_constraint_accepting(c), "(ab)+c: 'ababc' accepts");
            sl_constraint_free(c);
        } else {
            ok(0, "compile: %s", sl_errmsg());
        }
    }

    /* generation: a random GPT over 40 characters */
    {
        const char *alpha = "abcdefghijklmnopqrstuvwxyz0123456789@.- ";
        const int V = (int)strlen(alpha);
        char store[40][2];
        const char *pc[40];
        int ln[40];
        for (int v = 0; v < V; v++) { store[v][0] = alpha[v]; store[v][1] = 0; pc[v] = store[v]; ln[v] = 1; }
        char spec[128];
        snprintf(spec, sizeof spec, "gpt:n_layer=1,n_head=2,n_embd=16,block_size=64,vocab_size=%d", V);
        sl_model *m = NULL;
        if (!sl_model_create(spec, 1, &m)) {
            gen_case("gpt, characters", m, "[a-z]+@[a-z]+\\.(com|org)", pc, ln, 40, 200);
            gen_case("gpt, characters", m, "(0|[1-9][0-9]*)(\\.[0-9]{1,3})?", pc, ln, 12, 200);
            gen_case("gpt, characters", m, "(yes|no|maybe)( (yes|no|maybe)){2}", pc, ln, 30, 200);
            sl_model_free(m);
        }
    }
    /* generation: a Mamba LM over multi-character pieces (some pieces straddle the pattern's
     * parts) */
    {
        const char *pc[] = {"{", "}", "\"", ":", ",", "a", "b", "ab", "\"a", "b\"", "\":", "1", "23", "{\"", "\"}", " ", "ba",
                            "x"};
        const int V = (int)(sizeof pc / sizeof *pc);
        int ln[32];
        for (int v = 0; v < V; v++) ln[v] = (int)strlen(pc[v]);
        char spec[128];
        snprintf(spec, sizeof spec, "lm:mixer=mamba,d_model=16,n_layer=1,vocab_size=%d", V);
        sl_model *m = NULL;
        if (!sl_model_create(spec, 2, &m)) {
            gen_case("mamba, multi-character pieces", m, "\\{\"[ab]+\":[0-9]+(,\"[ab]+\":[0-9]+)*\\}", pc, ln, 40, 200);
            sl_model_free(m);
        }
    }
    return done_testing();
}
