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

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_fftconv sl_fftconv;

sl_fftconv *sl_fftconv_alloc(int T);   /* NULL (message set) on failure */
void sl_fftconv_free(sl_fftconv *c);
int sl_fftconv_len(const sl_fftconv *c);

int sl_fftconv_forward(sl_fftconv *c, float *y, const float *u, const float *K, int B, int H);
int sl_fftconv_backward(sl_fftconv *c, float *du, float *dK, const float *dy, const float *u, const float *K,
                        int B, int H);

void sl_conv_naive_forward(float *y, const float *u, const float *K, int B, int T, int H);
void sl_conv_naive_backward(float *du, float *dK, const float *dy, const float *u, const float *K, int B, int T, int H);

#ifdef __cplusplus
}
#endif
#endif
