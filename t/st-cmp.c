/* t/st-cmp.c — compare the float32 tensors of two safetensors files (for the shell tests):
 * prints "max_rel R bitwise B" where R = max |a - b| / max |b| over every tensor of A (each
 * must be in B with the same size) and B is 1 when every tensor is equal byte for byte.
 * Exit 0, or 1 when a file is unreadable or the tensors do not match up. */
#include "core/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: st-cmp A.safetensors B.safetensors\n");
        return 2;
    }
    sl_safetensors *a, *b;
    if (sl_safetensors_read(argv[1], &a)) return fprintf(stderr, "st-cmp: cannot read %s\n", argv[1]), 1;
    if (sl_safetensors_read(argv[2], &b)) return fprintf(stderr, "st-cmp: cannot read %s\n", argv[2]), 1;
    double mx = 0.0, sc = 0.0;
    int bitwise = a->n == b->n;
    for (size_t i = 0; i < a->n; i++) {
        const sl_st_tensor *u = &a->t[i], *v = sl_safetensors_find(b, u->name);
        if (!v || u->end - u->begin != v->end - v->begin)
            return fprintf(stderr, "st-cmp: tensor %s differs in presence or size\n", u->name), 1;
        bitwise &= !memcmp(a->data + u->begin, b->data + v->begin, u->end - u->begin);
        size_t n = (u->end - u->begin) / sizeof(float);
        for (size_t k = 0; k < n; k++) {
            float x, y;
            memcpy(&x, a->data + u->begin + 4 * k, 4);
            memcpy(&y, b->data + v->begin + 4 * k, 4);
            double d = fabs((double)x - y);
            if (!(d <= mx) && !isnan(mx)) mx = d; /* NaN is the largest difference */
            if (fabs((double)y) > sc) sc = fabs((double)y);
        }
    }
    printf("max_rel %.3e bitwise %d\n", mx / (sc > 0 ? sc : 1.0), bitwise);
    sl_safetensors_free(a);
    sl_safetensors_free(b);
    return 0;
}
