/* fuzz/regex.c — `seqlab generate --regex PATTERN`: the pattern compiler (lab/constrain.c) over
 * a fixed vocabulary, then a walk of the token automaton (fuzz/constrain_common.h). Input: the
 * pattern up to its first NUL (at most 256 bytes); the bytes after the NUL steer the walk. */
#include "fuzz/constrain_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fc_vocab();
    size_t np = 0;
    while (np < size && data[np]) np++;
    if (np > 256) return 0;
    char *pat = fuzz_string(data, np);
    sl_constraint *c;
    if (sl_constraint_regex(pat, FC_V, fc_piece_, fc_len_, &c)) {
        free(pat);
        return fuzz_reject();
    }
    size_t off = np < size ? np + 1 : size;
    free(fc_walk(c, data + off, size - off));
    sl_constraint_free(c);
    free(pat);
    return 0;
}
