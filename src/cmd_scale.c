/* src/cmd_scale.c — `seqlab scale`: forward and forward+backward time and peak memory of a
 * model against sequence length.
 *
 * Every (length, pass) is measured in a child process of its own (fork), so its peak
 * resident set size — ru_maxrss from wait4 — belongs to that measurement alone and a length
 * that runs out of memory or time (setrlimit RLIMIT_AS, alarm) is recorded as failed while
 * the others go on. The child builds the model afresh, fills a random input, runs one
 * untimed warm-up pass and then --reps timed passes (sl_now, CLOCK_MONOTONIC), and reports
 * through a pipe. Rows go to a CSV written atomically at the end (or to stdout).
 */
#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/util.h"
#include "lab/registry.h"
#include "src/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char USAGE[] = "usage: seqlab scale --model SPEC --seq-len T1,T2,... [options]\n"
                            "  Times forward (inference) and forward+backward (training) passes of a model at each\n"
                            "  sequence length and measures the peak resident memory, each in a fresh child process.\n"
                            "  --model SPEC       a mixer (rnn, lstm, attention:kernel=naive, ...; built directly with its\n"
                            "                     width = --d-model) or any model spec (seq:mixer=..., lm:..., gpt:...);\n"
                            "                     length limits it leaves out (max_seq_len, l_max, block_size) are set to\n"
                            "                     each measured length\n"
                            "  --seq-len LIST     comma-separated sequence lengths, e.g. 256,512,1024\n"
                            "  --batch B          batch size (default 1)\n"
                            "  --d-model D        width of a bare mixer (default 64)\n"
                            "  --reps N           timed passes per measurement after one warm-up pass (default 3)\n"
                            "  --backward         also measure forward+backward (default: forward only)\n"
                            "  --threads K        OpenMP/OpenBLAS threads (default: all cores)\n"
                            "  --seed S           seed of the weights and inputs (default 1)\n"
                            "  --mem-limit MB     address-space limit of each child (default 4096; 0 = none)\n"
                            "  --time-limit S     wall-clock limit of each child in seconds (default 600; 0 = none)\n"
                            "  --label NAME       name in the CSV's label column (default: the spec's name)\n"
                            "  --out FILE.csv     write the CSV there (atomically); default: stdout\n"
                            "  CSV: label,seq_len,batch,d_model,threads,pass,reps,time_mean_s,time_min_s,cpu_mean_s,\n"
                            "       cpu_min_s,tokens_per_s,peak_rss_mb,base_rss_mb,params,status,reason,spec\n"
                            "  time_*: wall clock per pass (CLOCK_MONOTONIC); cpu_*: CPU time of the process per pass,\n"
                            "  which on a busy machine measures single-threaded work better; status ok or failed.\n"
                            "  peak_rss_mb is the child's peak resident set; base_rss_mb its resident set after the\n"
                            "  model and inputs were built, so peak - base is the working memory of the pass.\n";

enum { O_MODEL = 256, O_SEQLEN, O_BATCH, O_DMODEL, O_REPS, O_BACKWARD, O_THREADS, O_SEED, O_MEM, O_TIME, O_LABEL, O_OUT };

static const struct option opts[] = {{"model", 1, 0, O_MODEL},     {"seq-len", 1, 0, O_SEQLEN},
                                     {"batch", 1, 0, O_BATCH},     {"d-model", 1, 0, O_DMODEL},
                                     {"reps", 1, 0, O_REPS},       {"backward", 0, 0, O_BACKWARD},
                                     {"threads", 1, 0, O_THREADS}, {"seed", 1, 0, O_SEED},
                                     {"mem-limit", 1, 0, O_MEM},   {"time-limit", 1, 0, O_TIME},
                                     {"label", 1, 0, O_LABEL},     {"out", 1, 0, O_OUT},
                                     {"help", 0, 0, 'h'},          {0, 0, 0, 0}};

typedef struct {
    int ok;
    double mean, min;         /* wall seconds per pass */
    double cpu_mean, cpu_min; /* CPU seconds per pass (all threads of the process) */
    double base_mb;           /* VmRSS after building */
    size_t params;
    char msg[240];
} child_result;

/* The spec to build: a bare mixer gets its width key (and out key) = d_model; any model with
 * a length limit (max_seq_len, block_size, l_max) that the spec leaves out gets t_max. */
static int build_spec(const char *model, int d_model, int t_max, char **out, char *label, size_t label_cap)
{
    sl_spec *s;
    const sl_model_entry *e;
    int rc = sl_registry_parse(model, &s, &e);
    if (rc) return rc;
    char buf[32];
    if (label) {
        const char *mx = sl_spec_raw(s, "mixer");
        snprintf(label, label_cap, "%s", mx ? mx : s->name);
    }
    if (e->is_mixer) {
        snprintf(buf, sizeof buf, "%d", d_model);
        if (e->width_key && sl_spec_raw(s, e->width_key)) {
            rc = sl_error(SL_EINVAL, "--model: give the width with --d-model, not '%s'", e->width_key);
            sl_spec_free(s);
            return rc;
        }
        if (e->width_key) rc = sl_spec_set(s, e->width_key, buf);
        if (!rc && e->out_key && !sl_spec_raw(s, e->out_key)) rc = sl_spec_set(s, e->out_key, buf);
    }
    snprintf(buf, sizeof buf, "%d", t_max);
    static const char *len_keys[] = {"max_seq_len", "block_size", "l_max"};
    for (int i = 0; i < 3 && !rc; i++) {
        if (sl_model_entry_has_key(e, len_keys[i]) && !sl_spec_raw(s, len_keys[i])) rc = sl_spec_set(s, len_keys[i], buf);
        /* wrappers pass the key on to their mixer */
        const char *mx = sl_spec_raw(s, "mixer");
        const sl_model_entry *me = mx ? sl_registry_find(mx) : NULL;
        if (!rc && me && sl_model_entry_has_key(me, len_keys[i]) && !sl_spec_raw(s, len_keys[i]))
            rc = sl_spec_set(s, len_keys[i], buf);
    }
    if (!rc) {
        *out = sl_spec_format(s);
        if (!*out) rc = sl_error(SL_ENOMEM, "out of memory");
    }
    sl_spec_free(s);
    return rc;
}

static double rss_mb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0.0;
    char line[256];
    double v = 0.0;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            v = strtod(line + n + 1, NULL) / 1024.0;
            break;
        }
    fclose(f);
    return v;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the child's whole job; fills r (never prints) */
static void measure(const char *spec, int T, int B, int reps, int backward, int threads, uint64_t seed, child_result *r)
{
    memset(r, 0, sizeof *r);
    sl_threads_set(threads);
    sl_model *m = NULL;
    sl_rng *rng = NULL;
    float *x = NULL, *y = NULL, *dy = NULL;
    int32_t *tok = NULL;
    if (sl_model_create(spec, seed, &m)) {
        snprintf(r->msg, sizeof r->msg, "build: %s", sl_errmsg());
        return;
    }
    r->params = sl_params_count_trainable(m->P);
    if (backward && !(m->caps & SL_CAP_GRAD)) {
        snprintf(r->msg, sizeof r->msg, "model has no backward pass");
        goto done;
    }
    rng = sl_rng_alloc(seed + 17);
    size_t N = (size_t)B * T;
    int token = (m->caps & SL_CAP_TOKEN_IN) != 0;
    if (token) tok = malloc(N * sizeof *tok);
    else x = malloc(N * (size_t)m->d_in * sizeof *x);
    y = malloc(N * (size_t)m->d_out * sizeof *y);
    if (backward) dy = malloc(N * (size_t)m->d_out * sizeof *dy);
    if (!rng || (token ? !tok : !x) || !y || (backward && !dy)) {
        snprintf(r->msg, sizeof r->msg, "out of memory for the inputs");
        goto done;
    }
    if (token)
        for (size_t i = 0; i < N; i++) tok[i] = (int32_t)sl_rng_int(rng, (unsigned long)m->d_in);
    else sl_rng_fill_normal(rng, x, N * (size_t)m->d_in, 1.0f);
    if (backward) sl_rng_fill_normal(rng, dy, N * (size_t)m->d_out, 1.0f / (float)N);
    sl_model_set_training(m, backward, rng);
    r->base_mb = rss_mb("VmRSS");
    r->min = r->cpu_min = 1e300;
    double sum = 0.0, cpu_sum = 0.0;
    for (int k = 0; k <= reps; k++) { /* k = 0: warm-up */
        double c0 = cpu_now(), t0 = sl_now();
        if (sl_model_forward(m, x, tok, y, B, T)) {
            snprintf(r->msg, sizeof r->msg, "forward: %s", sl_errmsg());
            goto done;
        }
        if (backward) {
            sl_params_zero_grad(m->P);
            if (sl_model_backward(m, dy, NULL)) {
                snprintf(r->msg, sizeof r->msg, "backward: %s", sl_errmsg());
                goto done;
            }
        }
        double dt = sl_now() - t0, dc = cpu_now() - c0;
        if (k == 0) continue;
        sum += dt;
        cpu_sum += dc;
        if (dt < r->min) r->min = dt;
        if (dc < r->cpu_min) r->cpu_min = dc;
    }
    r->mean = sum / reps;
    r->cpu_mean = cpu_sum / reps;
    r->ok = 1;
done:
    free(x);
    free(y);
    free(dy);
    free(tok);
    sl_rng_free(rng);
    sl_model_free(m);
}

typedef struct {
    char *p;
    size_t n, cap;
} strbuf;

static int sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return -1;
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return 0;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
        char *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap;
    }
}

/* run one measurement in a child; fills r and the peak RSS (MB) from wait4 */
static void run_child(const char *spec, int T, int B, int reps, int backward, int threads, uint64_t seed, long mem_mb,
                      long time_s, child_result *r, double *peak_mb)
{
    memset(r, 0, sizeof *r);
    *peak_mb = 0.0;
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(r->msg, sizeof r->msg, "pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->msg, sizeof r->msg, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
#ifndef __SANITIZE_ADDRESS__
        /* (an AddressSanitizer build reserves terabytes of address space for its shadow
         * memory, so an address-space limit would break every child: skipped there) */
        if (mem_mb > 0) {
            struct rlimit rl = {(rlim_t)mem_mb << 20, (rlim_t)mem_mb << 20};
            setrlimit(RLIMIT_AS, &rl);
        }
#endif
        if (time_s > 0) alarm((unsigned)time_s);
        child_result cr;
        measure(spec, T, B, reps, backward, threads, seed, &cr);
        ssize_t w = write(fd[1], &cr, sizeof cr);
        (void)w;
        close(fd[1]);
        _exit(0);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t k = read(fd[0], (char *)r + got, sizeof *r - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd[0]);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    *peak_mb = (double)ru.ru_maxrss / 1024.0; /* KB on Linux */
    if (got < sizeof *r) {
        memset(r, 0, sizeof *r);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) snprintf(r->msg, sizeof r->msg, "timeout after %ld s", time_s);
        else if (WIFSIGNALED(status))
            snprintf(r->msg, sizeof r->msg, "killed by signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                     mem_mb > 0 ? "; out of memory?" : "");
        else snprintf(r->msg, sizeof r->msg, "child exited with status %d", WEXITSTATUS(status));
    }
}

/* CSV-safe copy of a message: no commas, quotes or newlines */
static void csv_clean(char *s)
{
    for (; *s; s++)
        if (*s == ',' || *s == '"' || *s == '\n' || *s == '\r') *s = *s == ',' ? ';' : ' ';
}

int cmd_scale(int argc, char **argv)
{
    const char *model = NULL, *lens_text = NULL, *out = NULL, *label_opt = NULL;
    long batch = 1, d_model = 64, reps = 3, threads = 0, seed = 1, mem_mb = 4096, time_s = 600, v;
    int backward = 0, o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h': fputs(USAGE, stdout); return 0;
        case O_MODEL: model = optarg; break;
        case O_SEQLEN: lens_text = optarg; break;
        case O_BATCH:
            if (!cli_int(USAGE, "--batch", optarg, 1, 1 << 20, &batch)) return 2;
            break;
        case O_DMODEL:
            if (!cli_int(USAGE, "--d-model", optarg, 1, 1 << 16, &d_model)) return 2;
            break;
        case O_REPS:
            if (!cli_int(USAGE, "--reps", optarg, 1, 1 << 20, &reps)) return 2;
            break;
        case O_BACKWARD: backward = 1; break;
        case O_THREADS:
            if (!cli_int(USAGE, "--threads", optarg, 1, 1024, &threads)) return 2;
            break;
        case O_SEED:
            if (!cli_int(USAGE, "--seed", optarg, 0, 1L << 62, &seed)) return 2;
            break;
        case O_MEM:
            if (!cli_int(USAGE, "--mem-limit", optarg, 0, 1L << 30, &mem_mb)) return 2;
            break;
        case O_TIME:
            if (!cli_int(USAGE, "--time-limit", optarg, 0, 1L << 30, &time_s)) return 2;
            break;
        case O_LABEL: label_opt = optarg; break;
        case O_OUT: out = optarg; break;
        default: return cli_bad_option(USAGE, opts, argv, optind);
        }
    }
    if (optind < argc) return cli_usage(USAGE, "unexpected argument '%s'", argv[optind]);
    if (!model) return cli_usage(USAGE, "--model is required");
    if (!lens_text) return cli_usage(USAGE, "--seq-len is required");
    if (label_opt && (!*label_opt || strpbrk(label_opt, ",\"\n")))
        return cli_usage(USAGE, "--label: '%s' must be non-empty, without commas or quotes", label_opt);

    /* the length list */
    int lens[256], n_lens = 0, t_max = 0;
    {
        char *copy = strdup(lens_text), *save = NULL;
        if (!copy) return cli_fail("out of memory");
        for (char *tk = strtok_r(copy, ",", &save); tk; tk = strtok_r(NULL, ",", &save)) {
            if (n_lens == 256) {
                free(copy);
                return cli_usage(USAGE, "--seq-len: at most 256 lengths");
            }
            if (!cli_int(USAGE, "--seq-len", tk, 1, 1 << 26, &v)) {
                free(copy);
                return 2;
            }
            lens[n_lens++] = (int)v;
            if (v > t_max) t_max = (int)v;
        }
        free(copy);
        if (!n_lens) return cli_usage(USAGE, "--seq-len: no lengths in '%s'", lens_text);
    }

    /* the spec is rebuilt for every length, so length limits (S4's l_max: the kernel length)
     * equal the measured length. Models are only ever built in the children: the parent
     * stays free of OpenMP threads, which do not survive fork(). */
    char *spec = NULL, label[128];
    int rc0 = build_spec(model, (int)d_model, t_max, &spec, label, sizeof label);
    if (rc0) return cli_spec_fail(rc0, "--model");
    if (label_opt) snprintf(label, sizeof label, "%s", label_opt);
    csv_clean(label);
    free(spec);
    spec = NULL;
    int nthreads = threads > 0 ? (int)threads : sl_threads_get(); /* a query; starts no threads */

    strbuf csv = {0};
    int err = sb_printf(&csv, "label,seq_len,batch,d_model,threads,pass,reps,time_mean_s,time_min_s,cpu_mean_s,"
                              "cpu_min_s,tokens_per_s,peak_rss_mb,base_rss_mb,params,status,reason,spec\n");
    int n_failed = 0;
    for (int i = 0; i < n_lens && !err; i++) {
        free(spec);
        spec = NULL;
        if (build_spec(model, (int)d_model, lens[i], &spec, NULL, 0)) {
            free(csv.p);
            return cli_lib_fail("--model");
        }
        for (int pass = 0; pass <= backward && !err; pass++) {
            child_result r;
            double peak;
            run_child(spec, lens[i], (int)batch, (int)reps, pass, (int)threads, (uint64_t)seed, mem_mb, time_s, &r, &peak);
            const char *pname = pass ? "forward_backward" : "forward";
            if (i == 0 && pass == 0 && !r.ok && !strncmp(r.msg, "build: ", 7)) {
                /* a spec that does not build at all is the caller's error, not a measurement */
                cli_fail("--model: %s", r.msg + 7);
                free(spec);
                free(csv.p);
                return 1;
            }
            if (r.ok) {
                double tps = (double)batch * lens[i] / r.mean;
                err = sb_printf(&csv, "%s,%d,%ld,%ld,%d,%s,%ld,%.6g,%.6g,%.6g,%.6g,%.6g,%.2f,%.2f,%zu,ok,,\"%s\"\n", label,
                                lens[i], batch, d_model, nthreads, pname, reps, r.mean, r.min, r.cpu_mean, r.cpu_min, tps, peak,
                                r.base_mb, r.params, spec);
                fprintf(stderr, "seqlab scale: %s T=%d %s: %.4g s, peak %.1f MB\n", label, lens[i], pname, r.mean, peak);
            } else {
                n_failed++;
                r.msg[sizeof r.msg - 1] = '\0';
                csv_clean(r.msg);
                err = sb_printf(&csv, "%s,%d,%ld,%ld,%d,%s,%ld,,,,,,%.2f,,%zu,failed,%s,\"%s\"\n", label, lens[i], batch, d_model,
                                nthreads, pname, reps, peak, r.params, r.msg, spec);
                fprintf(stderr, "seqlab scale: %s T=%d %s: failed: %s\n", label, lens[i], pname, r.msg);
            }
        }
    }
    free(spec);
    if (err) {
        free(csv.p);
        return cli_fail("out of memory");
    }
    int ret = 0;
    if (out) {
        sl_afile a;
        if (sl_afile_open(&a, out)) {
            free(csv.p);
            return cli_lib_fail(out);
        }
        fwrite(csv.p, 1, csv.n, a.f);
        if (sl_afile_commit(&a)) ret = cli_lib_fail(out);
    } else {
        fwrite(csv.p, 1, csv.n, stdout);
    }
    free(csv.p);
    if (!ret && n_failed == n_lens * (backward + 1)) ret = cli_fail("every measurement failed");
    return ret;
}
