/* fuzz/constrain_common.h — shared part of the constrained-generation harnesses (regex,
 * json_schema): a fixed vocabulary of the 255 one-byte tokens 1..255 plus a few multi-byte
 * pieces, and a walk of the token automaton steered by the input's bytes, whose invariants are
 * checked as it goes (an allowed token advances, the mask agrees with allows(), a walk ending in
 * an accepting state spells a string the byte DFA matches). Returns the walk's text (NUL-
 * terminated, caller frees) when it ends accepting, else NULL. */
#ifndef SL_FUZZ_CONSTRAIN_COMMON_H
#define SL_FUZZ_CONSTRAIN_COMMON_H

#include "fuzz/fuzz.h"
#include "lab/constrain.h"

#include <math.h>

enum { FC_MULTI = 8, FC_V = 255 + FC_MULTI, FC_STEPS = 64 };
static const char *const fc_multi_[FC_MULTI] = {"ab", "{\"", "\":", "12", "true", "null", "\", \"", "}]"};
static char fc_byte_[255][2];
static const char *fc_piece_[FC_V];
static int fc_len_[FC_V];

static void fc_vocab(void)
{
    if (fc_piece_[0]) return;
    for (int v = 0; v < 255; v++) {
        fc_byte_[v][0] = (char)(v + 1);
        fc_piece_[v] = fc_byte_[v];
        fc_len_[v] = 1;
    }
    for (int i = 0; i < FC_MULTI; i++) {
        fc_piece_[255 + i] = fc_multi_[i];
        fc_len_[255 + i] = (int)strlen(fc_multi_[i]);
    }
}

/* walk: at each step the token is chosen by the next steering byte among the allowed ones;
 * when the steering bytes run out it heads for the shortest completion (min_bytes falls) */
static char *fc_walk(sl_constraint *c, const uint8_t *steer, size_t nsteer)
{
    static float logits[FC_V];
    char *text = malloc(FC_STEPS * 8 + 1);
    if (!text) abort();
    size_t n = 0;
    sl_constraint_reset(c);
    for (int s = 0; s < FC_STEPS; s++) {
        for (int v = 0; v < FC_V; v++) logits[v] = 0.0f;
        int allowed = sl_constraint_mask(c, logits);
        int count = 0;
        for (int v = 0; v < FC_V; v++) {
            int ok = sl_constraint_allows(c, v);
            if (ok != !isinf(logits[v])) abort(); /* the mask and allows() agree */
            count += ok;
        }
        if (count != allowed) abort();
        if (sl_constraint_accepting(c) && (size_t)s >= nsteer) break;
        if (allowed == 0) break;
        int pick = -1;
        if ((size_t)s < nsteer) {
            int k = steer[s] % allowed;
            for (int v = 0; v < FC_V && pick < 0; v++)
                if (sl_constraint_allows(c, v) && k-- == 0) pick = v;
        } else {
            int best = -1;
            for (int v = 0; v < FC_V; v++) {
                if (!sl_constraint_allows(c, v)) continue;
                int st = sl_constraint_get_state(c);
                if (sl_constraint_advance(c, v)) abort();
                int mb = sl_constraint_min_bytes(c);
                sl_constraint_set_state(c, st);
                if (best < 0 || mb < best) best = mb, pick = v;
            }
        }
        if (pick < 0 || sl_constraint_advance(c, pick)) abort(); /* an allowed token advances */
        memcpy(text + n, fc_piece_[pick], (size_t)fc_len_[pick]);
        n += (size_t)fc_len_[pick];
    }
    text[n] = 0;
    if (!sl_constraint_accepting(c)) {
        free(text);
        return NULL;
    }
    if (!sl_constraint_matches(c, text, (int)n)) abort(); /* the token walk and the byte DFA agree */
    return text;
}
#endif
