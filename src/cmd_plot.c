/* src/cmd_plot.c — `seqlab plot RUN_DIR...`: the validation loss of several runs on one
 * gnuplot figure, against step and against seconds (log.csv's columns), each curve labelled
 * with its run's model spec and trainable-parameter count.
 *
 * The program reads each run itself (log.csv's rows that carry a val_loss, the spec from the
 * checkpoint's metadata, the parameter count from the model rebuilt from that spec), writes
 * one gnuplot script with the data inline into a temporary file, and runs gnuplot on it.
 * gnuplot writes the picture to a temporary file beside --out, renamed over --out only when
 * gnuplot succeeded, so a failed plot never leaves a truncated picture. */
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "lab/registry.h"
#include "src/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char PLOT_USAGE[] = "usage: seqlab plot RUN_DIR... [--out FILE] [--x step|seconds|both] [--log-y] [--title TEXT]\n"
                                 "  Draws the validation loss (log.csv's val_loss rows) of every RUN_DIR on one figure,\n"
                                 "  each curve labelled with the run's model spec and trainable-parameter count.\n"
                                 "  --out FILE     picture to write, .png or .svg (default runs.png); written only if gnuplot\n"
                                 "                 succeeds\n"
                                 "  --x AXIS       step, seconds (log.csv's wall-clock seconds), or both side by side (default)\n"
                                 "  --log-y        logarithmic loss axis (MSE tasks)\n"
                                 "  --title TEXT   figure title (default: the task, when every run has the same one)\n"
                                 "  Needs gnuplot on PATH (Debian: apt-get install gnuplot-nox), or SEQLAB_GNUPLOT=PROGRAM.\n";

typedef struct {
    const char *dir;
    char *spec, *task, *label;
    size_t params;
    int fitted; /* count-based model: no trainable tensors */
    long n;     /* rows with a validation loss */
    long *step;
    double *secs, *loss;
} plot_run;

static void run_free(plot_run *r)
{
    free(r->spec);
    free(r->task);
    free(r->label);
    free(r->step);
    free(r->secs);
    free(r->loss);
}

/* index of column NAME in the header line [h, e), or -1 */
static int header_col(const char *h, const char *e, const char *name)
{
    size_t len = strlen(name);
    for (int col = 0; h < e; col++) {
        const char *c = memchr(h, ',', (size_t)(e - h));
        if (!c) c = e;
        size_t fl = (size_t)(c - h);
        if (fl && h[fl - 1] == '\r') fl--;
        if (fl == len && !memcmp(h, name, len)) return col;
        h = c + 1;
    }
    return -1;
}

/* field number COL of the line [l, e) into buf (empty if the line is shorter) */
static void field(const char *l, const char *e, int col, char *buf, size_t cap)
{
    for (int i = 0; i < col && l < e; i++) {
        const char *c = memchr(l, ',', (size_t)(e - l));
        l = c ? c + 1 : e;
    }
    const char *c = memchr(l, ',', (size_t)(e - l));
    size_t n = (size_t)((c ? c : e) - l);
    while (n && (l[n - 1] == '\r' || l[n - 1] == ' ')) n--;
    if (n >= cap) n = cap - 1;
    memcpy(buf, l, n);
    buf[n] = '\0';
}

static int parse_num(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && !errno;
}

static int read_log(plot_run *r)
{
    char path[4096], f[3][64];
    void *buf = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/log.csv", r->dir);
    int rc = sl_read_file(path, (size_t)1 << 30, &buf, &n);
    if (rc) return rc;
    const char *p = buf, *end = (const char *)buf + n;
    const char *nl = memchr(p, '\n', n);
    const char *he = nl ? nl : end;
    int cs = header_col(p, he, "step"), ct = header_col(p, he, "seconds"), cv = header_col(p, he, "val_loss");
    if (cs < 0 || ct < 0 || cv < 0) {
        free(buf);
        return sl_error(SL_EFORMAT, "%s: the header lacks step, seconds or val_loss (not a seqlab log?)", path);
    }
    long cap = 0, line = 1;
    for (p = nl ? nl + 1 : end; p < end; p = nl ? nl + 1 : end) {
        line++;
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le == p || (le == p + 1 && *p == '\r')) continue;
        field(p, le, cv, f[2], sizeof f[2]);
        if (!f[2][0]) continue; /* a logged step without an evaluation */
        field(p, le, cs, f[0], sizeof f[0]);
        field(p, le, ct, f[1], sizeof f[1]);
        double s, t, v;
        if (!parse_num(f[0], &s) || !parse_num(f[1], &t) || !parse_num(f[2], &v)) {
            free(buf);
            return sl_error(SL_EFORMAT, "%s:%ld: step '%s', seconds '%s' or val_loss '%s' is not a number", path, line, f[0],
                            f[1], f[2]);
        }
        if (r->n == cap) {
            cap = cap ? 2 * cap : 64;
            long *ns = realloc(r->step, (size_t)cap * sizeof *ns);
            if (ns) r->step = ns;
            double *nt = realloc(r->secs, (size_t)cap * sizeof *nt);
            if (nt) r->secs = nt;
            double *nv = realloc(r->loss, (size_t)cap * sizeof *nv);
            if (nv) r->loss = nv;
            if (!ns || !nt || !nv) {
                free(buf);
                return sl_error(SL_ENOMEM, "out of memory");
            }
        }
        r->step[r->n] = (long)s;
        r->secs[r->n] = t;
        r->loss[r->n] = v;
        r->n++;
    }
    free(buf);
    if (!r->n) return sl_error(SL_EINVAL, "%s has no validation rows yet (val_loss is written every --eval-every steps)", path);
    return SL_OK;
}

/* spec, task and parameter count from the run's checkpoint (or its model file) */
static int read_meta(plot_run *r)
{
    char path[4096];
    sl_safetensors *st = NULL;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->dir);
    int rc = sl_checkpoint_open(path, &st);
    if (rc) {
        char first[1024];
        snprintf(first, sizeof first, "%s", sl_errmsg());
        snprintf(path, sizeof path, "%s/model.safetensors", r->dir);
        if (access(path, F_OK) || (rc = sl_safetensors_read(path, &st)))
            return sl_error(rc ? rc : SL_EIO, "%s (and no readable model.safetensors)", first);
    }
    const char *spec = sl_safetensors_meta(st, "model"), *task = sl_safetensors_meta(st, "task");
    if (!spec) {
        sl_safetensors_free(st);
        return sl_error(SL_EFORMAT, "%s has no model spec in its metadata", path);
    }
    r->spec = strdup(spec);
    r->task = task ? strdup(task) : NULL;
    sl_safetensors_free(st);
    if (!r->spec || (task && !r->task)) return sl_error(SL_ENOMEM, "out of memory");
    sl_model *m;
    if ((rc = sl_model_create(r->spec, 1, &m))) return sl_error_wrap(rc, "rebuilding model '%s'", r->spec);
    r->params = sl_params_count_trainable(m->P);
    r->fitted = (m->caps & SL_CAP_FIT) && !(m->caps & SL_CAP_GRAD);
    sl_model_free(m);
    return SL_OK;
}

/* a gnuplot single-quoted string: '' stands for ' */
static void gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        if (*s != '\n' && *s != '\r') fputc(*s, f);
    }
    fputc('\'', f);
}

static const char *find_gnuplot(char *buf, size_t cap)
{
    const char *env = getenv("SEQLAB_GNUPLOT");
    if (env && *env) {
        if (strchr(env, '/')) return access(env, X_OK) ? NULL : env;
    }
    const char *name = env && *env ? env : "gnuplot";
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    while (*path) {
        const char *c = strchr(path, ':');
        size_t len = c ? (size_t)(c - path) : strlen(path);
        snprintf(buf, cap, "%.*s/%s", (int)len, len ? path : ".", name);
        if (!access(buf, X_OK)) return buf;
        path += len + (c ? 1 : 0);
        if (!c) break;
    }
    return NULL;
}

static void fmt_params(char *buf, size_t cap, const plot_run *r)
{
    if (r->fitted) snprintf(buf, cap, "fitted, no trainable parameters");
    else if (r->params >= 1000000) snprintf(buf, cap, "%.2fM params", (double)r->params / 1e6);
    else if (r->params >= 10000) snprintf(buf, cap, "%.1fk params", (double)r->params / 1e3);
    else snprintf(buf, cap, "%zu params", r->params);
}

static void write_panel(FILE *f, const plot_run *runs, int n, int xcol, const char *xlabel, int with_key)
{
    fprintf(f, "set xlabel '%s'\n", xlabel);
    if (with_key) fputs("set key on\n", f);
    else fputs("unset key\n", f);
    fputs("plot ", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s$run%d using %d:3 with linespoints ls %d title ", i ? ", \\\n     " : "", i, xcol, i + 1);
        gp_str(f, runs[i].label);
    }
    fputc('\n', f);
}

int cmd_plot(int argc, char **argv)
{
    static const struct option opts[] = {{"out", 1, 0, 'o'},   {"x", 1, 0, 'x'},    {"log-y", 0, 0, 'l'},
                                         {"title", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = "runs.png", *title = NULL;
    int xs = 1, xt = 1, logy = 0, o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h': fputs(PLOT_USAGE, stdout); return 0;
        case 'o': out = optarg; break;
        case 'x':
            if (!strcmp(optarg, "step")) xs = 1, xt = 0;
            else if (!strcmp(optarg, "seconds")) xs = 0, xt = 1;
            else if (!strcmp(optarg, "both")) xs = xt = 1;
            else return cli_usage(PLOT_USAGE, "--x: '%s' is not step, seconds or both", optarg);
            break;
        case 'l': logy = 1; break;
        case 't': title = optarg; break;
        default:
            if (optopt) return cli_usage(PLOT_USAGE, "option %s needs a value", argv[optind - 1]);
            return cli_usage(PLOT_USAGE, "unknown option '%s'", argv[optind - 1]);
        }
    }
    int n = argc - optind;
    if (n < 1) return cli_usage(PLOT_USAGE, "give at least one RUN_DIR");
    size_t ol = strlen(out);
    int svg = ol > 4 && !strcmp(out + ol - 4, ".svg");
    if (!svg && !(ol > 4 && !strcmp(out + ol - 4, ".png")))
        return cli_usage(PLOT_USAGE, "--out: '%s' does not end in .png or .svg", out);
    struct stat sb;
    if (!stat(out, &sb) && !S_ISREG(sb.st_mode)) return cli_fail("--out: %s exists and is not a regular file", out);

    /* read every run first: a bad one stops the command before gnuplot runs */
    plot_run *runs = calloc((size_t)n, sizeof *runs);
    if (!runs) return cli_fail("out of memory");
    int ret = 1;
    char script[] = "/tmp/seqlab-plot-XXXXXX";
    char tmp_out[4096] = "";
    int have_script = 0;
    for (int i = 0; i < n; i++) {
        plot_run *r = &runs[i];
        r->dir = argv[optind + i];
        if (stat(r->dir, &sb)) {
            cli_fail("%s: no such run directory", r->dir);
            goto done;
        }
        if (!S_ISDIR(sb.st_mode)) {
            cli_fail("%s is not a run directory", r->dir);
            goto done;
        }
        if (read_log(r) || read_meta(r)) {
            cli_lib_fail(r->dir);
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        char pc[64];
        fmt_params(pc, sizeof pc, &runs[i]);
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= j != i && !strcmp(runs[i].spec, runs[j].spec);
        size_t len = strlen(runs[i].spec) + strlen(pc) + strlen(runs[i].dir) + 16;
        if (!(runs[i].label = malloc(len))) {
            cli_fail("out of memory");
            goto done;
        }
        if (dup) snprintf(runs[i].label, len, "%s (%s) [%s]", runs[i].spec, pc, runs[i].dir);
        else snprintf(runs[i].label, len, "%s (%s)", runs[i].spec, pc);
    }
    int same_task = runs[0].task != NULL;
    for (int i = 1; i < n && same_task; i++) same_task = runs[i].task && !strcmp(runs[i].task, runs[0].task);
    char gpbuf[4096];
    const char *gp = find_gnuplot(gpbuf, sizeof gpbuf);
    if (!gp) {
        cli_fail("gnuplot not found (not on PATH, or SEQLAB_GNUPLOT names no program); Debian: apt-get install gnuplot-nox");
        goto done;
    }

    int fd = mkstemp(script);
    if (fd < 0) {
        cli_fail("cannot create a temporary file in /tmp: %s", strerror(errno));
        goto done;
    }
    have_script = 1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        cli_fail("cannot write %s", script);
        goto done;
    }
    snprintf(tmp_out, sizeof tmp_out, "%s.tmp%ld%s", out, (long)getpid(), svg ? ".svg" : ".png");
    int panels = xs + xt;
    int W = panels == 2 ? 1500 : 900, keyh = 22 * n + 30, H = 520 + keyh;
    if (svg) fprintf(f, "set terminal svg size %d,%d noenhanced font ',11'\n", W, H);
    else
        fprintf(f,
                "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size %d,%d noenhanced font ',11' }"
                " else { set terminal png size %d,%d noenhanced }\n",
                W, H, W, H);
    fputs("set output ", f);
    gp_str(f, tmp_out);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "$run%d << EOD\n", i);
        for (long k = 0; k < runs[i].n; k++) fprintf(f, "%ld %.6g %.9g\n", runs[i].step[k], runs[i].secs[k], runs[i].loss[k]);
        fputs("EOD\n", f);
    }
    /* the key below the panels, across the figure; both panels keep the same bottom margin */
    fprintf(f, "set bmargin at screen %.4f\n", (double)(keyh + 50) / H);
    fprintf(f, "set key at screen 0.5, screen 0.01 center bottom vertical maxrows %d Left reverse\n", n);
    fputs("set grid\nset ylabel 'validation loss'\nset tmargin 3\n", f);
    if (logy) fputs("set logscale y\n", f);
    fprintf(f, "set multiplot layout 1,%d title ", panels);
    if (title) gp_str(f, title);
    else {
        char t[1200];
        snprintf(t, sizeof t, "validation loss%s%s", same_task ? " on " : "", same_task ? runs[0].task : "");
        gp_str(f, t);
    }
    fputc('\n', f);
    if (xs) write_panel(f, runs, n, 1, "step", 1);
    if (xt) write_panel(f, runs, n, 2, "seconds", !xs);
    fputs("unset multiplot\nset output\n", f);
    if (fclose(f)) {
        cli_fail("cannot write %s", script);
        goto done;
    }

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        cli_fail("cannot start gnuplot: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        dup2(2, 1); /* gnuplot's messages go to stderr; stdout stays ours */
        execl(gp, gp, script, (char *)NULL);
        fprintf(stderr, "seqlab: error: cannot run %s: %s\n", gp, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            cli_fail("waiting for gnuplot: %s", strerror(errno));
            goto done;
        }
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        cli_fail("gnuplot failed (%s %d); %s was not written", WIFEXITED(status) ? "exit" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), out);
        goto done;
    }
    if (stat(tmp_out, &sb) || sb.st_size == 0) {
        cli_fail("gnuplot wrote no picture; %s was not written", out);
        goto done;
    }
    if (rename(tmp_out, out)) {
        cli_fail("cannot rename %s to %s: %s", tmp_out, out, strerror(errno));
        goto done;
    }
    tmp_out[0] = '\0';
    printf("wrote %s (%d run%s)\n", out, n, n == 1 ? "" : "s");
    ret = 0;
done:
    if (have_script) unlink(script);
    if (tmp_out[0]) unlink(tmp_out);
    for (int i = 0; i < n; i++) run_free(&runs[i]);
    free(runs);
    return ret;
}
