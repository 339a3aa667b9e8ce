/* seq/recurrent_amx.h — float32 products on Intel AMX tiles for the recurrent lanes path
 * (seq/recurrent_lanes.c), exact to float32 rounding.
 *
 * AMX's TDPBF16PS multiplies bfloat16 tiles (8-bit significands) into float32 sums at several
 * times the AVX-512 float32 FMA rate. Each float is split as x = x0 + x1 + x2 (x0 = bf16(x)
 * rounded to nearest even, x1 = bf16(x - x0), x2 = bf16(x - x0 - x1): 24 significant bits, as a
 * float has), and a product keeps the six terms a_i b_j with i + j <= 2. What it drops (a1 b2,
 * a2 b1, a2 b2 and the parts' own rounding) is below 2^-24 of |a b|, float32's own rounding;
 * the sums are float32 (AMX rounds to nearest even and flushes denormals, |v| < 1.2e-38, to
 * zero). Each product of two bf16 is exact in float32, so the result differs from a float32
 * FMA loop only in the order of the sums.
 *
 * Layouts (uint16 bf16 values; every block 64-byte aligned):
 *  - a "part block" is 16 rows x 32 values (512 bf16, 1 KB), a tile's worth;
 *  - a "chunk" is 32 reduction indices; its three parts are three part blocks, part p at
 *    + p * SL_AMX_PART (SL_AMX_CHUNK bf16 in all);
 *  - the left operand A (M-tile: 16 output rows) is its chunks one after another: chunk q at
 *    + q * SL_AMX_CHUNK, row i, index kk at + p * SL_AMX_PART + i * 32 + kk;
 *  - the right operand B (lanes: 16 NV columns, NV = 1 or 2) is per chunk NV halves of 16
 *    lanes, each in the pair layout TDPBF16PS reads (line kk / 2 holds, lane by lane, the values
 *    of indices kk and kk + 1): chunk q, half v, part p at + (q * NV + v) * SL_AMX_CHUNK +
 *    p * SL_AMX_PART, index kk, lane l at + (kk / 2) * 32 + 2 l + kk % 2.
 *
 * x86-64 with GCC only; elsewhere sl_amx_available() is 0 and nothing else may be called.
 */
#ifndef SL_SEQ_RECURRENT_AMX_H
#define SL_SEQ_RECURRENT_AMX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SL_AMX_PART = 512,              /* bf16 of a part block (16 x 32) */
    SL_AMX_CHUNK = 3 * SL_AMX_PART, /* bf16 of a chunk's three parts */
};

/* 1 if this CPU has AMX-TILE, AMX-BF16 and AVX512-BF16 and the kernel lets this process use
 * the tile registers (asked once, arch_prctl ARCH_REQ_XCOMP_PERM); 0 otherwise. */
int sl_amx_available(void);

/* Configure (on) or release (off) the calling thread's tile registers: on before the calling
 * thread's first product, off after its last (each thread of a team for itself). */
void sl_amx_tiles_on(void);
void sl_amx_tiles_off(void);

/* A's chunk for one M-tile from src (16 rows x 32 floats, row-major): its three part blocks at
 * dst. */
void sl_amx_pack_a(uint16_t *dst, const float *src);

/* Rows [k0, k0 + n) of B (k0 even) from floats: row k0 + r, lane l = src[r * lds + l] for
 * 16 NV lanes; B's chunk 0 at b. Where n is odd, the pair's second row is written as zeros. */
void sl_amx_rows_to_b(uint16_t *b, int NV, int k0, const float *src, size_t lds, int n);

/* c0 (16 rows, stride ldc floats, 16 NV lanes) = A0 B over nq chunks, and c1 = A1 B when a1 is
 * not NULL: a0, a1 and b at their first chunk (A's chunks SL_AMX_CHUNK apart, B's NV
 * SL_AMX_CHUNK). Needs sl_amx_tiles_on on the calling thread. */
void sl_amx_pair(const uint16_t *a0, const uint16_t *a1, const uint16_t *b, int nq, int NV, float *c0, float *c1, size_t ldc);

#ifdef __cplusplus
}
#endif
#endif
