/* ssm/fftconv.h — causal long convolution along time, batch-first, by FFT (FFTW3, float),
 * with the naive O(T^2) reference beside it.
 *
 *   y[b,t,h] = sum_{j=0..t} K[h,j] u[b,t-j,h]       u, y (B,T,H), K (H,T)
 *
 * The FFT path zero-pads to n = 2T (so the circular convolution is the linear one, as in
 * irfft(rfft(u, 2L) * rfft(k, 2L))[:L] of the S4 code). Plans are made once per T (FFTW's
 * planner is not thread-safe: make the object outside parallel regions); execution is
 * parallel over channels h, each channel on one thread, so results do not depend on the
 * thread count. Backward accumulates (+=) into du and dK (either may be NULL).
 */
#ifndef SL_SSM_FFTCONV_H
#define SL_SSM_FFTCONV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_fftconv sl_fftconv;

sl_fftconv *sl_fftconv_alloc(int T); /* NULL (message set) on failure */
void sl_fftconv_free(sl_fftconv *c);
int sl_fftconv_len(const sl_fftconv *c);

int sl_fftconv_forward(sl_fftconv *c, float *y, const float *u, const float *K, int B, int H);
int sl_fftconv_backward(sl_fftconv *c, float *du, float *dK, const float *dy, const float *u, const float *K, int B, int H);

/* Packed rows (seq/model.h): pos (B, T) each position's place in its document. The convolution
 * does not cross a document start: y[b,t,h] = sum_{j=0..pos[b,t]} K[h,j] u[b,t-j,h], each
 * document convolved alone. Per-document sub-convolutions: a document of L positions is
 * zero-padded to 2m, m the power of two >= L, and transformed at that size (plans made once
 * per size, on first use, outside the parallel region), so a row costs sum over its documents
 * of O(m log m) per channel, no more than the whole row's O(T log T) up to the power-of-two
 * rounding, plus one transform of K per size that the batch uses. Backward as the plain one
 * (du and dK accumulate; dK receives lags < the longest document's m only, the rest would be
 * zero). */
int sl_fftconv_docs_forward(sl_fftconv *c, float *y, const float *u, const float *K, const int32_t *pos, int B, int H);
int sl_fftconv_docs_backward(sl_fftconv *c, float *du, float *dK, const float *dy, const float *u, const float *K,
                             const int32_t *pos, int B, int H);

void sl_conv_naive_forward(float *y, const float *u, const float *K, int B, int T, int H);
void sl_conv_naive_backward(float *du, float *dK, const float *dy, const float *u, const float *K, int B, int T, int H);

#ifdef __cplusplus
}
#endif
#endif
