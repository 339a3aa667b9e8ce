/* core/cpu.c — the one cached CPU-feature probe (see cpu.h). */
#include "core/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <pthread.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

static unsigned features;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void probe(void)
{
    unsigned f = 0;
    /* libgcc's checks include the OS's support for the register state (XCR0) */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) f |= SL_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= SL_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= SL_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= SL_CPU_AVX512BW;
    unsigned a, b, c, d;
    if ((f & SL_CPU_AVX512F) && (f & SL_CPU_AVX512BW) && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        const int tile = d >> 24 & 1, tbf16 = d >> 22 & 1;
        unsigned a1, b1, c1, d1;
        if (tile && tbf16 && a >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && (a1 >> 5 & 1)) { /* AVX512-BF16 */
            /* the OS must save the tile state (XCR0 bits 17, 18) */
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            (void)hi;
#ifdef __linux__
            /* Linux hands out the tile data state on request only (ARCH_REQ_XCOMP_PERM, XTILEDATA) */
            if ((lo & (3u << 17)) == (3u << 17) && syscall(SYS_arch_prctl, 0x1023, 18) == 0) f |= SL_CPU_AMX_BF16;
#endif
        }
    }
    features = f;
}

unsigned sl_cpu_features(void)
{
    pthread_once(&once, probe);
    return features;
}
#else
unsigned sl_cpu_features(void) { return 0; }
#endif
