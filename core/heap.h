/* core/heap.h — a binary heap of values of one type, written once for the library's users
 * (BPE training's pair counts, SentencePiece's BPE merge queue). Private to the library.
 *
 *   SL_HEAP_DEFINE(NAME, T, BEFORE, CAP0)
 *
 * defines `typedef struct { T *h; size_t n, cap; } NAME;` and two static functions:
 *   int  NAME_push(NAME *q, T e)   0, or SL_ENOMEM (the heap grows from CAP0 by doubling)
 *   T    NAME_pop(NAME *q)         the first element by BEFORE; q->n must be > 0
 * BEFORE(const T *a, const T *b) is true when a comes out before b. The caller frees q->h.
 * Sift-up and sift-down are the textbook ones, so the order of equal elements is fixed by
 * the sequence of pushes and pops alone. */
#ifndef SL_CORE_HEAP_H
#define SL_CORE_HEAP_H

#include "core/error.h"

#include <stdlib.h>

#define SL_HEAP_DEFINE(NAME, T, BEFORE, CAP0) \
    typedef struct { \
        T *h; \
        size_t n, cap; \
    } NAME; \
    static int NAME##_push(NAME *q, T e) \
    { \
        if (q->n == q->cap) { \
            size_t c = q->cap ? 2 * q->cap : (CAP0); \
            T *p = realloc(q->h, c * sizeof *p); \
            if (!p) return sl_error(SL_ENOMEM, "out of memory"); \
            q->h = p; \
            q->cap = c; \
        } \
        size_t i = q->n++; \
        q->h[i] = e; \
        while (i > 0) { \
            size_t p = (i - 1) / 2; \
            if (!BEFORE(&q->h[i], &q->h[p])) break; \
            T t = q->h[i]; \
            q->h[i] = q->h[p]; \
            q->h[p] = t; \
            i = p; \
        } \
        return SL_OK; \
    } \
    static T NAME##_pop(NAME *q) \
    { \
        T top = q->h[0]; \
        q->h[0] = q->h[--q->n]; \
        size_t i = 0; \
        for (;;) { \
            size_t l = 2 * i + 1, r = l + 1, b = i; \
            if (l < q->n && BEFORE(&q->h[l], &q->h[b])) b = l; \
            if (r < q->n && BEFORE(&q->h[r], &q->h[b])) b = r; \
            if (b == i) break; \
            T t = q->h[i]; \
            q->h[i] = q->h[b]; \
            q->h[b] = t; \
            i = b; \
        } \
        return top; \
    }

#endif
