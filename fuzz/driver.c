/* fuzz/driver.c — main() for the fuzz harnesses in builds without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on each file named on the command line (the files of a
 * directory argument, in name order), or on standard input when there is none. A finding
 * shows as a crash or a sanitizer report, as under libFuzzer; otherwise it prints the number
 * of inputs run and exits 0. t/fuzz-corpus.sh runs the seed corpora and the crash reproducers
 * through it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_stream(FILE *f, const char *name)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    if (!buf || ferror(f)) {
        fprintf(stderr, "fuzz driver: cannot read %s\n", name);
        free(buf);
        return 1;
    }
    /* an exact-size copy, so ASan sees a read past the input's end */
    uint8_t *in = malloc(n ? n : 1);
    memcpy(in, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    return 0;
}

static int run_path(const char *path, long *count)
{
    struct stat st;
    if (stat(path, &st)) {
        fprintf(stderr, "fuzz driver: cannot open %s\n", path);
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        struct dirent **ents;
        int n = scandir(path, &ents, NULL, alphasort), rc = 0;
        if (n < 0) {
            fprintf(stderr, "fuzz driver: cannot list %s\n", path);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (ents[i]->d_name[0] != '.') {
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, ents[i]->d_name);
                rc |= run_path(sub, count);
            }
            free(ents[i]);
        }
        free(ents);
        return rc;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz driver: cannot open %s\n", path);
        return 1;
    }
    int rc = run_stream(f, path);
    fclose(f);
    *count += !rc;
    return rc;
}

int main(int argc, char **argv)
{
    long count = 0;
    int rc = 0;
    if (argc < 2) {
        rc = run_stream(stdin, "standard input");
        count = !rc;
    }
    for (int i = 1; i < argc; i++) rc |= run_path(argv[i], &count);
    printf("%ld inputs run\n", count);
    return rc;
}
