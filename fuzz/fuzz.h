/* fuzz/fuzz.h — shared helpers of the fuzz harnesses (see docs/reliability.md, "Fuzzing").
 *
 * Every harness defines LLVMFuzzerTestOneInput (libFuzzer's entry point, also what AFL++'s
 * libFuzzer driver and fuzz/driver.c call). Parsers that read a path get the input through
 * fuzz_file(): one temporary file per process, rewritten for every input. A harness never
 * prints: the library reports errors through sl_errmsg(), and a rejected input is the normal
 * outcome. Only a crash, a sanitizer report, a leak or a hang is a finding.
 */
#ifndef SL_FUZZ_FUZZ_H
#define SL_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the path of a per-process temporary file holding exactly data[0..size) (in /dev/shm when
 * it exists, else $TMPDIR or /tmp); removed at exit */
static char fuzz_path_[256];
static void fuzz_cleanup_(void)
{
    if (fuzz_path_[0]) unlink(fuzz_path_);
}

static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    if (!fuzz_path_[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fuzz_path_, sizeof fuzz_path_, "%s/seqlab-fuzz-%ld", dir ? dir : "/tmp", (long)getpid());
        atexit(fuzz_cleanup_);
    }
    FILE *f = fopen(fuzz_path_, "wb");
    if (!f) abort(); /* the harness cannot work without its file: not a finding of the parser */
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    return fuzz_path_;
}

/* the return of a harness for an input its parser rejected: 0 (libFuzzer keeps inputs only by
 * coverage). With FUZZ_VERBOSE set in the environment the library's message is printed, to
 * see why a seed is refused (FUZZ_VERBOSE=1 fuzz/fuzz-npy fuzz/corpus/npy). */
const char *sl_errmsg(void);
static inline int fuzz_reject(void)
{
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "rejected: %s\n", sl_errmsg());
    return 0;
}

/* a NUL-terminated copy of the input (caller frees) */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* 1 if every run of decimal digits in s is at most `max` and s has no exponent such as 1e9 (used
 * before building a model from a hostile spec: the spec's limits are tested, but a model of
 * valid, large sizes costs seconds and gigabytes per input, which is not a finding) */
static inline int fuzz_small_numbers(const char *s, long max)
{
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            long v = 0;
            while (*p >= '0' && *p <= '9') {
                if (v <= max) v = v * 10 + (*p - '0');
                p++;
            }
            if (v > max) return 0;
            if (*p == 'e' || *p == 'E' || *p == 'x' || *p == 'X' || *p == 'p' || *p == 'P') return 0;
            if (!*p) break;
        }
    }
    return 1;
}

#endif
