/* nlp/bpe_pretok.c — UTF-8 decoding and GPT-2's pre-tokenisation pattern, by hand.
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * A regex engine tries the alternatives in order at each position; written out, at code
 * point i (c = text[i], d = text[i+1]):
 *  1. c is ' and the next one or two code points are s t m d / re ve ll: that contraction.
 *  2. let j = i+1 if c is ' ' (U+0020) and d exists, else j = i; if text[j] is a letter, a
 *     number, or "other" (neither space, letter nor number), the run of that class from j,
 *     with the space in front when j = i+1. (When c is ' ' and d is white space, no branch
 *     matches from j = i+1, and ' ' itself is none of the three classes.)
 *  3. c is white space: the maximal run of white space [i, k). At the end of the text, all
 *     of it; otherwise all but its last code point ((?!\S) backtracks one), unless that
 *     leaves nothing, in which case the one code point (\s+).
 * The classes are read off python3-regex by t/ref/make_bpe_unicode.py (nlp/bpe_unicode.c).
 */
#include "nlp/bpe.h"
#include "core/error.h"

extern const uint32_t sl_bpe_uc_letter[][2], sl_bpe_uc_number[][2], sl_bpe_uc_space[][2];
extern const int sl_bpe_uc_letter_n, sl_bpe_uc_number_n, sl_bpe_uc_space_n;

size_t sl_utf8_check(const unsigned char *s, size_t n)
{
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int l = sl_utf8_decode(s + i, n - i, &cp);
        if (!l) return i;
        i += (size_t)l;
    }
    return n;
}

static int in_ranges(const uint32_t (*r)[2], int n, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid - 1;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int sl_bpe_uclass(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return 'L';
        if (cp >= '0' && cp <= '9') return 'N';
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return 'S';
        return 'O';
    }
    if (in_ranges(sl_bpe_uc_letter, sl_bpe_uc_letter_n, cp)) return 'L';
    if (in_ranges(sl_bpe_uc_number, sl_bpe_uc_number_n, cp)) return 'N';
    if (in_ranges(sl_bpe_uc_space, sl_bpe_uc_space_n, cp)) return 'S';
    return 'O';
}

/* class and length of the code point at s[i]; the caller has validated the text */
static inline int cls_at(const unsigned char *s, size_t n, size_t i, int *len)
{
    uint32_t cp;
    if (s[i] < 0x80) {
        *len = 1;
        return sl_bpe_uclass(s[i]);
    }
    *len = sl_utf8_decode(s + i, n - i, &cp);
    return sl_bpe_uclass(cp);
}

int sl_bpe_pretokenize(const unsigned char *s, size_t n, int (*fn)(void *ctx, const unsigned char *p, size_t len), void *ctx)
{
    size_t bad = sl_utf8_check(s, n);
    if (bad < n) return sl_error(SL_EFORMAT, "text is not valid UTF-8 at byte offset %zu (byte 0x%02X)", bad, s[bad]);
    size_t i = 0;
    int rc;
    while (i < n) {
        unsigned char c = s[i];
        /* 1. contractions */
        if (c == '\'' && i + 1 < n) {
            unsigned char d = s[i + 1];
            size_t l = 0;
            if (d == 's' || d == 't' || d == 'm' || d == 'd') l = 2;
            else if (i + 2 < n &&
                     ((d == 'r' && s[i + 2] == 'e') || (d == 'v' && s[i + 2] == 'e') || (d == 'l' && s[i + 2] == 'l')))
                l = 3;
            if (l) {
                if ((rc = fn(ctx, s + i, l))) return rc;
                i += l;
                continue;
            }
        }
        /* 2. ( ?) followed by a run of letters, numbers or others */
        size_t j = (c == ' ' && i + 1 < n) ? i + 1 : i;
        int lj;
        int k = cls_at(s, n, j, &lj);
        if (k != 'S') {
            size_t e = j + (size_t)lj;
            while (e < n) {
                int le;
                if (cls_at(s, n, e, &le) != k) break;
                e += (size_t)le;
            }
            if ((rc = fn(ctx, s + i, e - i))) return rc;
            i = e;
            continue;
        }
        /* 3. white space (here s[i] is white space: either c is ' ' followed by white space,
         * or c itself is white space since case 2 did not apply with j = i) */
        size_t e = i, last = i;
        while (e < n) {
            int le;
            if (cls_at(s, n, e, &le) != 'S') break;
            last = e;
            e += (size_t)le;
        }
        size_t end = e;
        if (e < n) end = last > i ? last : e; /* leave the last one for the next token */
        if ((rc = fn(ctx, s + i, end - i))) return rc;
        i = end;
    }
    return SL_OK;
}

size_t sl_bpe_safe_cut(const unsigned char *s, size_t n)
{
    /* s[k-1] = '\n' preceded by an ASCII character that is not white space, and s[k] an ASCII
     * character that is not white space: the white-space run is the '\n' alone, which the
     * pattern makes one pre-token whether or not text follows (a longer run at the end of a
     * chunk would stay whole, where the full text gives its last character away), and no
     * branch spans the '\n' */
    for (size_t k = n - (n > 0); k >= 2; k--)
        if (s[k - 1] == '\n' && s[k] < 0x80 && sl_bpe_uclass(s[k]) != 'S' && s[k - 2] < 0x80 && sl_bpe_uclass(s[k - 2]) != 'S')
            return k;
    return 0;
}
