/* core/cpu.h — the CPU features the kernels choose between, probed once per process.
 *
 * One probe (cpuid, the OS's register-state support in XCR0 and, for AMX, Linux's permission
 * for the tile data) fills a bit set the first time any feature is asked for; later calls read
 * the cached value. Kernels compiled with SL_CLONES (core/fastmath.h) are dispatched by the
 * loader instead; this is for code that picks a path itself (AdamW's AVX-512 loop, the
 * recurrent micro-kernel, the lanes path, the AMX products). */
#ifndef SL_CORE_CPU_H
#define SL_CORE_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SL_CPU_AVX2 = 1u << 0,
    SL_CPU_FMA = 1u << 1,
    SL_CPU_AVX512F = 1u << 2, /* with the OS saving the AVX-512 state */
    SL_CPU_AVX512BW = 1u << 3,
    SL_CPU_AMX_BF16 = 1u << 4, /* AMX-TILE, AMX-BF16, AVX512-BF16, the OS saving the tile
                                  * state and (Linux) the tile data permission granted */
};

/* the bit set (0 off x86-64 or without GCC) */
unsigned sl_cpu_features(void);

/* 1 if every feature in `f` is present */
static inline int sl_cpu_has(unsigned f) { return (sl_cpu_features() & f) == f; }

#ifdef __cplusplus
}
#endif

#endif
