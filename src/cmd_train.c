/* src/cmd_train.c — `seqlab train` and `seqlab eval`. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/util.h"
#include "lab/finetune.h"
#include "lab/registry.h"
#include "lab/trainer.h"
#include "nlp/word2vec.h"
#include "seq/lm.h"
#include "seq/lora.h"
#include "src/cli.h"
#include "src/run.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <sched.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char TRAIN_USAGE[] =
    "usage: seqlab train --model SPEC [--task TASK] [options]\n"
    "       seqlab train --resume DIR --steps N [--extend-schedule] [--time-budget S] [--threads K]\n"
    "  --model SPEC        model spec (seqlab list); a bare mixer is wrapped: lm:mixer=.. for token\n"
    "                      tasks, seq:mixer=.. for real-valued tasks\n"
    "  --task TASK         task spec (default charlm)\n"
    "  --corpus FILE       text for corpus tasks (default: /usr/share/common-licenses/*)\n"
    "  --steps N           total number of steps (default 1000; with --time-budget and no --steps:\n"
    "                      no step limit, and the LR stays at --lr after warmup)\n"
    "  --time-budget S     end the run at the first step whose end finds S seconds used (log.csv's\n"
    "                      seconds, evaluations included): final eval, log row, checkpoint and\n"
    "                      model as at a last step. Recorded in the run; --resume keeps it as the\n"
    "                      run's total unless given again (a larger one continues a budgeted run)\n"
    "  --batch B           batch size (default 16): sequences per forward pass\n"
    "  --accum N           gradient accumulation: each optimizer step runs N batches of B and\n"
    "                      updates as one batch of N*B would (default 1; docs/training.md)\n"
    "  --checkpoint-blocks K  gradient checkpointing (lm:/seq: wrappers, gpt, llama): keep the\n"
    "                      residual stream only at every K-th block (K in 1..n_layer) and\n"
    "                      recompute the other blocks in backward; the same gradients bit for\n"
    "                      bit, less activation memory, about one more forward of the first\n"
    "                      n_layer-K blocks per step. Recorded in the run (--resume keeps it)\n"
    "  --dry-run           print the memory the run will need (parameters, gradients, optimizer,\n"
    "                      buffers, activations with and without checkpointing) and exit\n"
    "  --seq-len T         sequence length, for tasks whose length is free (charlm, adding)\n"
    "  --pack              corpus tasks with documents (charlm: a file per document of a directory\n"
    "                      corpus or the default one, or doc_sep=HEX): rows packed with whole\n"
    "                      documents that never see each other (docs/training.md)\n"
    "  --lr LR             peak learning rate (default 3e-3)\n"
    "  --min-lr LR         floor of the cosine decay (default lr/10)\n"
    "  --warmup N          linear warmup steps (default 50)\n"
    "  --schedule S        cosine (default) or constant\n"
    "  --optimizer O       adamw (default) or sgd\n"
    "  --weight-decay W    default 0.01 (AdamW, decoupled)\n"
    "  --beta2 B           AdamW beta2 (default 0.999)\n"
    "  --clip C            global gradient-norm clip (default 1; 0 off)\n"
    "  --eval-every N      validation every N steps (default 100)\n"
    "  --eval-batches N    validation batches (default 8)\n"
    "  --ckpt-every N      checkpoint every N steps (default 500; always at the end)\n"
    "  --seed S            seed of initialisation, batches and dropout (default 1)\n"
    "  --threads K         OpenMP/OpenBLAS threads (default: all cores)\n"
    "  --batch-slices any|native  with K > 1 threads, split each batch into K slices of whole\n"
    "                      sequences, one per thread: any model (default; a model without slices\n"
    "                      of its own runs them on replicas that share its weights), or only models\n"
    "                      with their own (native; the others thread inside their kernels)\n"
    "  --init-embeddings F initialise the token embedding from word2vec vectors (text or binary)\n"
    "  --init-from SRC     start from trained weights (docs/finetune.md): a run directory, a\n"
    "                      .safetensors file (by state_dict name) or a llama2.c .bin; the model\n"
    "                      spec comes from SRC unless --model is given, a character task keeps\n"
    "                      SRC's alphabet, and a vocabulary that differs is an error\n"
    "  --lora r=R,alpha=A,dropout=0,targets=P1|P2..  with --init-from: freeze the model and train\n"
    "                      rank-R adapters (scale A/R) on the rank-2 tensors whose names match a\n"
    "                      pattern (docs/finetune.md); the run's files hold the adapters alone\n"
    "  --out DIR           run directory (default run): log.csv, model.safetensors, checkpoint.safetensors;\n"
    "                      a directory that already holds a run is refused (resume it, or --force)\n"
    "  --force             replace the run already in --out (its three files are deleted first)\n"
    "  --resume DIR        continue the run in DIR up to --steps N (the new total). The LR schedule\n"
    "                      keeps the run's recorded decay length: steps past it train at the floor\n"
    "                      (--min-lr), which is what makes the result bit-identical to a run that\n"
    "                      was never interrupted. A run already at step N (or at --stop-after)\n"
    "                      has nothing to train: that is said, and nothing is written (exit 0)\n"
    "  --extend-schedule   with --resume: the cosine decays over the new --steps instead, as if the\n"
    "                      run had been planned for N steps (the LR jumps back up from the floor to\n"
    "                      that schedule's value at the current step); recorded in the run\n"
    "  --stop-after N      stop after step N as if interrupted (checkpoint written); resume later\n"
    "  --progress/--no-progress  force or suppress the progress bar (default: only on a terminal)\n"
    "Data parallel (docs/distributed.md): mpirun -np K seqlab train ... splits every batch over K\n"
    "  ranks (each B/K sequences; same result as one process), rank 0 writes the run; --threads\n"
    "  defaults to this node's cores shared among its ranks. Needs a build with MPI.\n";

static const char EVAL_USAGE[] = "usage: seqlab eval --run DIR [--task TASK] [--batches N] [--json]\n"
                                 "  Evaluates the trained model of DIR on the validation split of its task (or TASK) and\n"
                                 "  prints the metrics on stdout (key: value lines, or one JSON object with --json):\n"
                                 "  run, task, step, metric (its name), value, the metric again by name, loss (the\n"
                                 "  validation loss), params; language models (metric val_loss) add ppl, accuracy tasks\n"
                                 "  add accuracy_counted (positions scored). mse tasks: mse and loss are the same number.\n";

/* s as a JSON string (quotes, backslashes and control characters escaped) */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

enum {
    O_MODEL = 256,
    O_TASK,
    O_CORPUS,
    O_STEPS,
    O_BATCH,
    O_SEQLEN,
    O_LR,
    O_MINLR,
    O_WARMUP,
    O_SCHED,
    O_OPT,
    O_WD,
    O_BETA2,
    O_CLIP,
    O_EVALEVERY,
    O_EVALB,
    O_CKPT,
    O_SEED,
    O_THREADS,
    O_OUT,
    O_RESUME,
    O_PROG,
    O_NOPROG,
    O_INITEMB,
    O_STOP,
    O_BUDGET,
    O_FORCE,
    O_EXTEND,
    O_INITFROM,
    O_LORA,
    O_ACCUM,
    O_PACK,
    O_CKPTB,
    O_DRY,
    O_SLICES
};

static const struct option train_opts[] = {{"model", 1, 0, O_MODEL},
                                           {"task", 1, 0, O_TASK},
                                           {"corpus", 1, 0, O_CORPUS},
                                           {"steps", 1, 0, O_STEPS},
                                           {"batch", 1, 0, O_BATCH},
                                           {"seq-len", 1, 0, O_SEQLEN},
                                           {"lr", 1, 0, O_LR},
                                           {"min-lr", 1, 0, O_MINLR},
                                           {"warmup", 1, 0, O_WARMUP},
                                           {"schedule", 1, 0, O_SCHED},
                                           {"optimizer", 1, 0, O_OPT},
                                           {"weight-decay", 1, 0, O_WD},
                                           {"beta2", 1, 0, O_BETA2},
                                           {"clip", 1, 0, O_CLIP},
                                           {"eval-every", 1, 0, O_EVALEVERY},
                                           {"eval-batches", 1, 0, O_EVALB},
                                           {"ckpt-every", 1, 0, O_CKPT},
                                           {"seed", 1, 0, O_SEED},
                                           {"threads", 1, 0, O_THREADS},
                                           {"out", 1, 0, O_OUT},
                                           {"resume", 1, 0, O_RESUME},
                                           {"progress", 0, 0, O_PROG},
                                           {"no-progress", 0, 0, O_NOPROG},
                                           {"init-embeddings", 1, 0, O_INITEMB},
                                           {"stop-after", 1, 0, O_STOP},
                                           {"time-budget", 1, 0, O_BUDGET},
                                           {"force", 0, 0, O_FORCE},
                                           {"extend-schedule", 0, 0, O_EXTEND},
                                           {"init-from", 1, 0, O_INITFROM},
                                           {"lora", 1, 0, O_LORA},
                                           {"accum", 1, 0, O_ACCUM},
                                           {"pack", 0, 0, O_PACK},
                                           {"checkpoint-blocks", 1, 0, O_CKPTB},
                                           {"dry-run", 0, 0, O_DRY},
                                           {"batch-slices", 1, 0, O_SLICES},
                                           {"help", 0, 0, 'h'},
                                           {0, 0, 0, 0}};

/* task spec from --task plus --seq-len / --corpus / --pack */
static int build_task_spec(const char *task, long seq_len, const char *corpus, int pack, char **out)
{
    sl_spec *s;
    int rc = sl_spec_parse(task, &s);
    if (rc) return rc;
    const sl_task_entry *e = sl_task_find(s->name);
    if (!e) {
        sl_spec_free(s);
        sl_task *t;
        return sl_task_create(task, &t);
    }
    char buf[32];
    if (seq_len > 0) {
        if (!e->seq_len_key) {
            sl_spec_free(s);
            return sl_error(SL_EINVAL, "--seq-len does not apply to task '%s' (its length follows from its keys)", e->name);
        }
        snprintf(buf, sizeof buf, "%ld", seq_len);
        sl_spec_set(s, e->seq_len_key, buf);
    }
    if (corpus) {
        if (!e->corpus_key) {
            sl_spec_free(s);
            return sl_error(SL_EINVAL, "--corpus does not apply to task '%s'", e->name);
        }
        sl_spec_set(s, e->corpus_key, corpus);
    }
    if (pack) {
        int has = 0;
        for (const sl_spec_key *k = e->keys; k && k->name; k++) has |= !strcmp(k->name, "pack");
        if (!has) {
            sl_spec_free(s);
            return sl_error(SL_EINVAL, "--pack does not apply to task '%s' (it has no documents)", e->name);
        }
        sl_spec_set(s, "pack", "1");
    }
    *out = sl_spec_format(s);
    sl_spec_free(s);
    return SL_OK;
}

static const char *const RUN_FILES[] = {"checkpoint.safetensors", "model.safetensors", "log.csv", NULL};

/* 1 if DIR's model.safetensors is at least as new as its checkpoint. The trainer writes the model
 * after the last checkpoint, so a run killed between the two has none, or an older one (of an
 * earlier end): resuming it then writes the model from the checkpoint instead of doing nothing. */
static int model_current(const char *dir)
{
    char p[4096];
    struct stat ms, cs;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (stat(p, &ms)) return 0;
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", dir);
    if (stat(p, &cs)) return 0;
    return ms.st_mtim.tv_sec > cs.st_mtim.tv_sec ||
           (ms.st_mtim.tv_sec == cs.st_mtim.tv_sec && ms.st_mtim.tv_nsec >= cs.st_mtim.tv_nsec);
}

/* --out that already holds a run: refuse, and say how to resume or overwrite it. 1 if refused. */
static int refuse_existing_run(const char *out)
{
    char path[4096];
    const char *found = NULL;
    for (int i = 0; RUN_FILES[i] && !found; i++) {
        snprintf(path, sizeof path, "%s/%s", out, RUN_FILES[i]);
        if (access(path, F_OK) == 0) found = RUN_FILES[i];
    }
    if (!found) return 0;
    char at[64] = "";
    sl_safetensors *st;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", out);
    if (sl_checkpoint_open(path, &st) == SL_OK) {
        const char *step = sl_safetensors_meta(st, "step"), *decay = sl_safetensors_meta(st, "decay_steps");
        if (step && decay && strtod(decay, NULL) < (double)(1L << 40))
            snprintf(at, sizeof at, " (at step %s of %s)", step, decay);
        else if (step) snprintf(at, sizeof at, " (at step %s)", step);
        sl_safetensors_free(st);
    }
    cli_fail("run directory '%s' already holds a run%s: continue it with 'seqlab train --resume %s --steps N' "
             "(add --extend-schedule to stretch the LR schedule), train into another --out, or give --force to replace it",
             out, at, out);
    return 1;
}

/* --force: delete the old run's files (only those) before a new run writes any */
static int remove_run(const char *out)
{
    char path[4096];
    for (int i = 0; RUN_FILES[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", out, RUN_FILES[i]);
        if (unlink(path) && errno != ENOENT) return cli_fail("--force: cannot remove %s: %s", path, strerror(errno));
    }
    return 0;
}

static int init_embeddings(sl_model *m, const sl_task *t, const char *path)
{
    float *wte;
    int V, C, found = 0;
    if (sl_lm_embedding(m, &wte, &V, &C)) return cli_lib_fail("--init-embeddings");
    if (!t->alphabet) return cli_fail("--init-embeddings needs a text task (charlm)");
    char **words = calloc((size_t)V, sizeof *words);
    char(*store)[2] = calloc((size_t)V, sizeof *store);
    for (int v = 0; v < V; v++) {
        store[v][0] = (char)t->alphabet[v];
        words[v] = store[v];
    }
    int rc = sl_w2v_init_embedding(path, (const char *const *)words, V, C, wte, &found);
    free(words);
    free(store);
    if (rc) return cli_lib_fail(path);
    fprintf(stderr, "seqlab: %d of %d embedding rows initialised from %s\n", found, V, path);
    return 0;
}

/* threads per rank when --threads is not given: the cores this process may run on, shared
 * among the ranks of its node (mpirun binds ranks to cores by default; unbound ranks share) */
static int rank_threads(const sl_dist *d)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int k = (int)(online > 0 ? online : 1) / sl_dist_local_size(d);
    cpu_set_t cs;
    if (!sched_getaffinity(0, sizeof cs, &cs) && CPU_COUNT(&cs) < k) k = CPU_COUNT(&cs);
    return k > 0 ? k : 1;
}

/* resident set size of this process now, bytes (0 if /proc is not there) */
static size_t rss_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtoul(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb * 1024;
}

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

/* --dry-run (docs/training.md): the run's memory by lab/trainer.h's sl_train_memory, the
 * activations also at the other checkpointing choices, and the process's own resident size
 * measured after the probes (program, libraries, task data, OpenBLAS buffers) */
static int dry_run(const char *spec, const sl_model *m, sl_task *t, const sl_train_config *c)
{
    sl_train_mem mem;
    if (c->dist && sl_dist_size(c->dist) > 1) return cli_fail("--dry-run runs in one process: run it without mpirun");
    if (!(m->caps & SL_CAP_GRAD)) return cli_fail("--dry-run: model %s is not trained by gradient", m->vt->kind);
    if (sl_train_memory(spec, t, c, &mem)) return cli_lib_fail("--dry-run");
    const int L = m->caps & SL_CAP_CKPT ? m->n_children : 0;
    printf("dry run: %s on %s, batch %d x %d positions, accum %d, threads %d\n", spec, t->name, c->batch, t->T,
           c->accum > 1 ? c->accum : 1, c->threads > 0 ? c->threads : sl_threads_get());
    printf("parameters: %zu (%.2f MiB)\n", mem.params_n, mib(mem.params));
    printf("gradients: %.2f MiB\n", mib(mem.grads));
    printf("optimizer: %.2f MiB (two moments per parameter)\n", mib(mem.optim));
    printf("buffers: %.2f MiB (batch, outputs, their gradients and probabilities; evaluation)\n", mib(mem.buffers));
    /* activations with each checkpointing choice: off, and K = 1 .. L-1 (K = L is off); past 8
     * blocks the powers of two */
    size_t act_off = mem.act;
    if (c->ckpt_blocks > 0 && c->ckpt_blocks < L) {
        sl_train_config c0 = *c;
        c0.ckpt_blocks = 0;
        if (sl_train_memory_act(spec, t, &c0, 0, &act_off)) return cli_lib_fail("--dry-run");
    }
    printf("activations: %.2f MiB (no checkpointing)\n", mib(act_off));
    for (int k = 1; k < L; k = L <= 8 ? k + 1 : 2 * k) {
        size_t a = mem.act;
        if (k != c->ckpt_blocks && sl_train_memory_act(spec, t, c, k, &a)) return cli_lib_fail("--dry-run");
        printf("activations --checkpoint-blocks %d: %.2f MiB\n", k, mib(a));
    }
    if (!L) printf("(model %s has no gradient checkpointing)\n", m->vt->kind);
    malloc_trim(0); /* the probes' freed memory back to the system before measuring */
    const size_t rss = rss_now(), base = rss > mem.params ? rss - mem.params : 0;
    printf("process: %.2f MiB (program, libraries, task data; measured now, without the parameters)\n", mib(base));
    const size_t total = base + mem.params + mem.grads + mem.optim + mem.buffers + mem.act;
    printf("total: %.2f MiB (estimated peak resident size of this run", mib(total));
    if (c->ckpt_blocks > 0 && c->ckpt_blocks < L) printf(", --checkpoint-blocks %d)\n", c->ckpt_blocks);
    else printf(", no checkpointing)\n");
    return 0;
}

static int train_main(int argc, char **argv, sl_dist *dist, int *entered)
{
    sl_train_config c;
    sl_train_defaults(&c);
    const char *model = NULL, *task = "charlm", *corpus = NULL, *out = "run", *resume = NULL, *initemb = NULL, *initfrom = NULL;
    long seq_len = 0, v;
    double d;
    sl_lora_config lora;
    char lora_text[1200], init_abs[4096];
    int have_lora = 0;
    int pack = 0, dry = 0;
    int have_minlr = 0, have_steps = 0, progress = 1, other_flags = 0, have_decay = 0, have_budget = 0, force = 0, extend = 0;
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "h", train_opts, NULL)) != -1) {
        if (o != O_STEPS && o != O_THREADS && o != O_SLICES && o != O_RESUME && o != O_PROG && o != O_NOPROG && o != O_STOP &&
            o != O_BUDGET && o != O_EXTEND && o != 'h')
            other_flags = 1;
        switch (o) {
        case 'h': fputs(TRAIN_USAGE, stdout); return 0;
        case O_MODEL: model = optarg; break;
        case O_TASK: task = optarg; break;
        case O_CORPUS: corpus = optarg; break;
        case O_PACK: pack = 1; break;
        case O_DRY: dry = 1; break;
        case O_CKPTB:
            if (!cli_int(TRAIN_USAGE, "--checkpoint-blocks", optarg, 1, 1 << 20, &v)) return 2;
            c.ckpt_blocks = (int)v;
            break;
        case O_STEPS:
            if (!cli_int(TRAIN_USAGE, "--steps", optarg, 0, 1L << 40, &v)) return 2;
            c.steps = v;
            have_steps = 1;
            break;
        case O_BATCH:
            if (!cli_int(TRAIN_USAGE, "--batch", optarg, 1, 1 << 20, &v)) return 2;
            c.batch = (int)v;
            break;
        case O_ACCUM:
            if (!cli_int(TRAIN_USAGE, "--accum", optarg, 1, 1 << 20, &v)) return 2;
            c.accum = (int)v;
            break;
        case O_SEQLEN:
            if (!cli_int(TRAIN_USAGE, "--seq-len", optarg, 1, 1 << 24, &seq_len)) return 2;
            break;
        case O_LR:
            if (!cli_double(TRAIN_USAGE, "--lr", optarg, 0, 100, &d)) return 2;
            c.sched.lr = (float)d;
            break;
        case O_MINLR:
            if (!cli_double(TRAIN_USAGE, "--min-lr", optarg, 0, 100, &d)) return 2;
            c.sched.min_lr = (float)d;
            have_minlr = 1;
            break;
        case O_WARMUP:
            if (!cli_int(TRAIN_USAGE, "--warmup", optarg, 0, 1L << 40, &v)) return 2;
            c.sched.warmup = v;
            break;
        case O_SCHED:
            if (!strcmp(optarg, "cosine")) c.sched.cosine = 1;
            else if (!strcmp(optarg, "constant")) c.sched.cosine = 0;
            else return cli_usage(TRAIN_USAGE, "--schedule: '%s' is not cosine or constant", optarg);
            break;
        case O_OPT:
            if (!strcmp(optarg, "adamw")) {
                float wd = c.opt.weight_decay;
                c.opt = sl_optim_defaults(SL_OPT_ADAMW);
                c.opt.weight_decay = wd;
            } else if (!strcmp(optarg, "sgd")) {
                c.opt = sl_optim_defaults(SL_OPT_SGD);
            } else return cli_usage(TRAIN_USAGE, "--optimizer: '%s' is not adamw or sgd", optarg);
            break;
        case O_WD:
            if (!cli_double(TRAIN_USAGE, "--weight-decay", optarg, 0, 10, &d)) return 2;
            c.opt.weight_decay = (float)d;
            break;
        case O_BETA2:
            if (!cli_double(TRAIN_USAGE, "--beta2", optarg, 0, 0.999999, &d)) return 2;
            c.opt.beta2 = (float)d;
            break;
        case O_CLIP:
            if (!cli_double(TRAIN_USAGE, "--clip", optarg, 0, 1e9, &c.clip)) return 2;
            break;
        case O_EVALEVERY:
            if (!cli_int(TRAIN_USAGE, "--eval-every", optarg, 0, 1L << 40, &v)) return 2;
            c.eval_every = v;
            break;
        case O_EVALB:
            if (!cli_int(TRAIN_USAGE, "--eval-batches", optarg, 1, 1 << 20, &v)) return 2;
            c.eval_batches = (int)v;
            break;
        case O_CKPT:
            if (!cli_int(TRAIN_USAGE, "--ckpt-every", optarg, 0, 1L << 40, &v)) return 2;
            c.ckpt_every = v;
            break;
        case O_SEED:
            if (!cli_int(TRAIN_USAGE, "--seed", optarg, 0, 1L << 62, &v)) return 2;
            c.seed = (uint64_t)v;
            break;
        case O_THREADS:
            if (!cli_int(TRAIN_USAGE, "--threads", optarg, 1, 1024, &v)) return 2;
            c.threads = (int)v;
            break;
        case O_SLICES:
            if (!strcmp(optarg, "any")) c.no_replicas = 0;
            else if (!strcmp(optarg, "native")) c.no_replicas = 1;
            else return cli_usage(TRAIN_USAGE, "--batch-slices: '%s' is not any or native", optarg);
            break;
        case O_OUT: out = optarg; break;
        case O_RESUME: resume = optarg; break;
        case O_PROG: progress = 2; break;
        case O_NOPROG: progress = 0; break;
        case O_INITEMB: initemb = optarg; break;
        case O_BUDGET:
            if (!cli_double(TRAIN_USAGE, "--time-budget", optarg, 1e-3, 1e9, &c.time_budget)) return 2;
            have_budget = 1;
            break;
        case O_STOP:
            if (!cli_int(TRAIN_USAGE, "--stop-after", optarg, 1, 1L << 40, &v)) return 2;
            c.stop_after = v;
            break;
        case O_FORCE: force = 1; break;
        case O_EXTEND: extend = 1; break;
        case O_INITFROM: initfrom = optarg; break;
        case O_LORA:
            if (sl_lora_config_parse(optarg, &lora)) return cli_usage(TRAIN_USAGE, "%s", sl_errmsg());
            have_lora = 1;
            break;
        case '?':
        default: return cli_bad_option(TRAIN_USAGE, train_opts, argv, optind);
        }
    }
    (void)have_decay;
    if (optind < argc) return cli_usage(TRAIN_USAGE, "unexpected argument '%s'", argv[optind]);
    c.progress = progress;
    c.dist = dist;
    const int R0 = sl_dist_rank(dist) == 0;
    if (!c.threads && sl_dist_size(dist) > 1 && !getenv("OMP_NUM_THREADS")) c.threads = rank_threads(dist);
    char *task_spec = NULL, *model_spec = NULL, ckpt_path[4096];
    sl_safetensors *st = NULL;
    sl_task *t = NULL;
    sl_model *m = NULL;
    int ret = 1;
    sl_init_source src;
    memset(&src, 0, sizeof src);
    long resume_at = -1; /* the step of the run resumed */
    if (resume) {
        if (other_flags)
            return cli_usage(TRAIN_USAGE, "--resume takes only --steps, --extend-schedule, --time-budget, --stop-after, "
                                          "--threads, --batch-slices and --progress; the rest comes from the run");
        if (extend && !have_steps)
            return cli_usage(TRAIN_USAGE, "--extend-schedule needs --steps N (the new total the schedule decays over)");
        if (!have_steps && !have_budget)
            return cli_usage(TRAIN_USAGE, "--resume needs --steps N (the new total) or --time-budget S");
        snprintf(ckpt_path, sizeof ckpt_path, "%s/checkpoint.safetensors", resume);
        if (sl_checkpoint_open(ckpt_path, &st)) {
            if (sl_dist_size(dist) > 1)
                sl_error_wrap(SL_EIO, "rank %d (every rank reads the checkpoint: the run directory must be shared)",
                              sl_dist_rank(dist));
            return cli_lib_fail(NULL);
        }
        long steps = c.steps, stop_after = c.stop_after;
        int threads = c.threads, no_replicas = c.no_replicas;
        double budget = c.time_budget;
        if (sl_train_config_from_meta(st, &c)) {
            cli_lib_fail(ckpt_path);
            goto done;
        }
        /* without --steps, a budgeted run goes on to its recorded length (its decay length) */
        c.steps = have_steps ? steps : c.sched.decay_steps;
        if (have_budget) c.time_budget = budget;
        if (extend) {
            if (!c.sched.cosine) {
                cli_fail("--extend-schedule: the run's LR schedule is constant; there is nothing to extend");
                goto done;
            }
            if (steps < c.sched.decay_steps) {
                cli_fail("--extend-schedule: the run's schedule already decays over %ld steps, more than --steps %ld",
                         c.sched.decay_steps, steps);
                goto done;
            }
            c.sched.decay_steps = steps;
        }
        c.stop_after = stop_after;
        c.threads = threads;
        c.no_replicas = no_replicas;
        c.progress = progress;
        /* a run already at its last step (or at --stop-after) has nothing to train: say so and
         * touch nothing (the trainer would rewrite the model and the log for zero steps) */
        long at;
        if (sl_checkpoint_meta_long(st, "step", 0, 1L << 40, &at)) {
            cli_lib_fail(ckpt_path);
            goto done;
        }
        resume_at = at;
        if ((at == c.steps || (at < c.steps && c.stop_after > 0 && c.stop_after <= at)) && model_current(resume)) {
            if (R0) {
                if (at == c.steps)
                    printf("run %s is already complete: at step %ld of %ld (nothing to train; a larger --steps continues it)\n",
                           resume, at, c.steps);
                else
                    printf("run %s is already at step %ld of %ld, at or past --stop-after %ld: nothing to train\n", resume, at,
                           c.steps, c.stop_after);
            }
            ret = 0;
            goto done;
        }
        const char *ms = sl_safetensors_meta(st, "model"), *ts = sl_safetensors_meta(st, "task");
        if (!ms || !ts) {
            cli_fail("%s lacks the model or task spec", ckpt_path);
            goto done;
        }
        model_spec = strdup(ms);
        task_spec = strdup(ts);
        out = resume;
    } else {
        if (!model && !initfrom) return cli_usage(TRAIN_USAGE, "--model is required");
        if (extend) return cli_usage(TRAIN_USAGE, "--extend-schedule applies to --resume only");
        if (initfrom && initemb) return cli_usage(TRAIN_USAGE, "--init-from and --init-embeddings exclude each other");
        if (have_lora && !initfrom) return cli_usage(TRAIN_USAGE, "--lora adapts a trained model: give it with --init-from SRC");
        if (dry && (have_lora || initemb))
            return cli_usage(TRAIN_USAGE, "--dry-run accounts the model of --model alone (no --lora, --init-embeddings)");
        if (!dry && !force && R0 && refuse_existing_run(out)) return 1;
        int rc = build_task_spec(task, seq_len, corpus, pack, &task_spec);
        if (rc) return cli_spec_fail(rc, "--task");
        if (initfrom) {
            char *ts = NULL;
            if (sl_init_source_open(initfrom, &src)) {
                cli_lib_fail(NULL);
                goto done;
            }
            if (!model && !src.spec[0]) {
                cli_fail("--init-from %s: the file names no model spec; give --model", initfrom);
                goto done;
            }
            if (!model) model = src.spec;
            if ((rc = sl_init_task_spec(&src, task_spec, &ts))) {
                ret = cli_spec_fail(rc, "--task");
                goto done;
            }
            free(task_spec);
            task_spec = ts;
        }
        if (!have_minlr) c.sched.min_lr = c.sched.lr / 10.0f;
        if (have_budget && !have_steps) {
            c.steps = 1L << 40;
            c.sched.cosine = 0;
        } /* no step limit: constant after warmup */
        c.sched.decay_steps = c.steps;
    }
    sl_threads_set(c.threads);
    /* a bad --task or --model spec exits 2 like any bad flag value; from a resumed run's
     * checkpoint it is the file's fault (1) */
    int rc;
    if ((rc = sl_task_create(task_spec, &t))) {
        if (initfrom && src.n_alphabet > 0 && strstr(sl_errmsg(), "outside the given alphabet")) {
            cli_fail("--init-from %s: the vocabularies differ: %s", initfrom, sl_errmsg());
            goto done;
        }
        ret = resume ? cli_lib_fail("task") : cli_spec_fail(rc, "--task");
        goto done;
    }
    if (!model_spec && (rc = sl_model_spec_for_task(model, t, &model_spec))) {
        ret = cli_spec_fail(rc, "--model");
        goto done;
    }
    if ((rc = sl_model_create(model_spec, c.seed, &m))) {
        ret = resume ? cli_lib_fail("model") : cli_spec_fail(rc, "--model");
        goto done;
    }
    if (initfrom && sl_init_check_vocab(&src, m, t)) {
        cli_fail("--init-from %s: %s", initfrom, sl_errmsg());
        goto done;
    }
    if (!resume && run_check_task(m, model, t)) {
        ret = cli_spec_fail(SL_EINVAL, "--model");
        goto done;
    }
    if (!resume && c.ckpt_blocks && sl_model_set_checkpoint(m, c.ckpt_blocks)) {
        ret = cli_usage(TRAIN_USAGE, "--checkpoint-blocks %d: %s", c.ckpt_blocks, sl_errmsg());
        goto done;
    }
    if (dry) {
        ret = dry_run(model_spec, m, t, &c);
        goto done;
    }
    if (initemb && init_embeddings(m, t, initemb)) goto done;
    if (initfrom && sl_init_load(&src, m)) {
        cli_lib_fail(NULL);
        goto done;
    }
    if (resume && sl_finetune_rebuild(st, &m)) {
        cli_lib_fail(ckpt_path);
        goto done;
    }
    if (sl_finetune_dpo_reference(t, model_spec, resume ? sl_safetensors_meta(st, "init_from") : initfrom)) {
        cli_lib_fail(NULL);
        goto done;
    }
    if (have_lora) {
        sl_rng *lr = sl_rng_alloc(c.seed + 104729); /* the adapters' own stream */
        sl_model *w = NULL;
        rc = lr ? sl_lora_create(m, &lora, lr, &w) : sl_error(SL_ENOMEM, "out of memory");
        sl_rng_free(lr);
        if (rc) {
            cli_lib_fail(NULL);
            goto done;
        }
        m = w;
        sl_lora_config_format(&lora, lora_text, sizeof lora_text);
        fprintf(stderr, "seqlab: LoRA on %d tensors: %zu trainable parameters (base: %zu, frozen)\n", sl_lora_n_targets(m),
                sl_params_count_trainable(m->P), sl_lora_base(m)->P->total);
    }
    if (force && R0 && remove_run(out)) goto done;
    sl_train_meta mt;
    sl_train_meta_fill(&mt, model_spec, task_spec, &c, t);
    const char *kv[2 * SL_TRAIN_META_N + 4];
    memcpy(kv, mt.kv, sizeof(char *) * (size_t)(2 * mt.n));
    c.meta_kv = kv;
    c.n_meta = mt.n;
    if (initfrom) { /* provenance (a full fine-tune resumes from its own checkpoint); a LoRA run's base */
        if (!realpath(initfrom, init_abs)) snprintf(init_abs, sizeof init_abs, "%s", initfrom);
        kv[2 * c.n_meta] = "init_from";
        kv[2 * c.n_meta + 1] = init_abs;
        c.n_meta++;
    }
    if (have_lora) {
        kv[2 * c.n_meta] = "lora";
        kv[2 * c.n_meta + 1] = lora_text;
        c.n_meta++;
    } else if (resume) { /* a resumed run keeps its provenance and adapters' config */
        for (const char *const *k = (const char *const[]){"init_from", "lora", NULL}; *k; k++) {
            const char *v = sl_safetensors_meta(st, *k);
            if (!v) continue;
            kv[2 * c.n_meta] = *k;
            kv[2 * c.n_meta + 1] = v;
            c.n_meta++;
        }
    }
    c.out_dir = out;
    if ((m->caps & SL_CAP_FIT) && !(m->caps & SL_CAP_GRAD) && sl_dist_size(dist) > 1) {
        cli_fail("model %s is fitted from counts in one process: run it without mpirun", m->vt->kind);
        goto done;
    }
    if ((m->caps & SL_CAP_FIT) && !(m->caps & SL_CAP_GRAD)) {
        /* count-based models: fit on the training stream, evaluate, save */
        if (!t->train_stream) {
            cli_fail("model %s is fitted from a corpus; task %s has none", m->vt->kind, t->name);
            goto done;
        }
        double t0 = sl_now();
        if (sl_model_fit(m, t->train_stream, t->n_train_stream)) {
            cli_lib_fail("fit");
            goto done;
        }
        sl_eval_result er;
        if (sl_task_eval(t, m, c.eval_batches, c.batch, sl_train_eval_seed(c.seed), &er)) {
            cli_lib_fail("eval");
            goto done;
        }
        if (sl_mkdirs(out)) {
            cli_lib_fail(out);
            goto done;
        }
        snprintf(ckpt_path, sizeof ckpt_path, "%s/checkpoint.safetensors", out);
        if (sl_checkpoint_write(ckpt_path, m->P, NULL, NULL, 0, sl_now() - t0, c.meta_kv, c.n_meta)) {
            cli_lib_fail(ckpt_path);
            goto done;
        }
        printf("fitted %s in %.2fs: %s %.6f\n", m->vt->kind, sl_now() - t0, t->metric, er.metric);
        ret = 0;
        goto done;
    }
    /* checkpointing frees and refills the recomputed blocks' caches every step: blocks of 1 MiB
     * and more are mapped and unmapped at once (glibc would otherwise keep them in its heap,
     * whose fragments held up to twice the live memory in bench/dryrun_bench.sh) */
    if (c.ckpt_blocks > 0) mallopt(M_MMAP_THRESHOLD, 1 << 20);
    sl_train_result res;
    *entered = 1; /* from here on every failure is voted on by all ranks (lab/trainer.c) */
    if (sl_train(m, t, &c, resume ? ckpt_path : NULL, &res)) {
        cli_lib_fail("train");
        goto done;
    }
    ret = 0;
    if (!R0) goto done;          /* rank 0 reports */
    if (res.step == resume_at) { /* nothing trained: the model was missing or older than the checkpoint */
        printf(
            "run %s: at step %ld of %ld; model.safetensors written from the checkpoint (the run had stopped before writing it)\n",
            out, res.step, c.steps);
        goto done;
    }
    printf("step %ld  %.1fs  train_loss %.6f  val_loss %.6f", res.step, res.seconds, res.train_loss, res.eval.loss);
    if (strcmp(t->metric, "val_loss")) printf("  %s %.6f", t->metric, res.eval.metric);
    if (t->token_out) printf("  val_ppl %.4f", res.eval.ppl);
    if (res.budget_hit) printf("  (time budget %gs reached)", c.time_budget);
    if (sl_dist_size(dist) > 1)
        printf("  (%d ranks; rank 0: allreduce %.3fs, waiting %.3fs)", sl_dist_size(dist), res.comm_seconds, res.wait_seconds);
    putchar('\n');
done:
    sl_init_source_close(&src);
    sl_model_free(m);
    sl_task_free(t);
    sl_safetensors_free(st);
    free(task_spec);
    free(model_spec);
    return ret;
}

/* `seqlab train`, alone or as one rank of `mpirun -np K seqlab train`. Under MPI every rank's
 * first collective is a vote (lab/trainer.c): a rank that fails before training joins it with
 * its failure, so the ranks already training stop with its message instead of waiting. */
int cmd_train(int argc, char **argv)
{
    sl_dist *d = NULL;
    if (sl_dist_init(&d)) return cli_lib_fail(NULL);
    int entered = 0, ret = train_main(argc, argv, d, &entered);
    if (d && ret && !entered) sl_dist_agree(d, sl_error(SL_EINVAL, "stopped before training (its own message says why)"));
    sl_dist_finalize(d);
    return ret;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {{"run", 1, 0, 'r'},  {"task", 1, 0, 't'}, {"batches", 1, 0, 'b'},
                                         {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *dir = NULL, *task = NULL;
    long batches = -1;
    int json = 0, o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h': fputs(EVAL_USAGE, stdout); return 0;
        case 'r': dir = optarg; break;
        case 't': task = optarg; break;
        case 'b':
            if (!cli_int(EVAL_USAGE, "--batches", optarg, 1, 1 << 20, &batches)) return 2;
            break;
        case 'j': json = 1; break;
        default: return cli_bad_option(EVAL_USAGE, opts, argv, optind);
        }
    }
    if (optind < argc) return cli_usage(EVAL_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!dir) return cli_usage(EVAL_USAGE, "--run is required");
    int rc0 = task ? run_check_task_spec(task) : 0;
    if (rc0) return cli_spec_fail(rc0, "--task");
    run_t r;
    if (run_open(dir, task, 1, &r)) {
        run_close(&r);
        return cli_lib_fail(dir);
    }
    /* the model reads and predicts ids of the run's alphabet: another text must map the same
     * characters to the same ids (sl_task_eval checks the widths) */
    if (r.n_alphabet > 0 && r.task->alphabet &&
        (r.task->vocab != r.n_alphabet || memcmp(r.task->alphabet, r.alphabet, (size_t)r.n_alphabet))) {
        cli_fail("%s: the task's alphabet (%d characters) is not the run's (%d characters)", dir, r.task->vocab, r.n_alphabet);
        run_close(&r);
        return 1;
    }
    sl_train_config c;
    sl_train_defaults(&c);
    if (sl_train_config_from_meta(r.ckpt, &c)) {
        int rcf = cli_lib_fail(dir);
        run_close(&r);
        return rcf;
    }
    if (batches > 0) c.eval_batches = (int)batches;
    long step = 0;
    const char *sv = sl_safetensors_meta(r.ckpt, "step");
    if (sv) step = strtol(sv, NULL, 10);
    sl_eval_result er;
    int rc = sl_task_eval(r.task, r.model, c.eval_batches, c.batch, sl_train_eval_seed(c.seed), &er);
    if (rc) {
        run_close(&r);
        return cli_lib_fail("eval");
    }
    /* the fields a task has: every task its metric by name (and as "value", for scripts),
     * the validation loss and the parameter count; a language model its perplexity; an
     * accuracy task the number of positions scored */
    const char *metric = r.task->metric;
    int is_acc = !strcmp(metric, "accuracy"), is_lm = !strcmp(metric, "val_loss");
    if (json) {
        printf("{\"run\": ");
        json_string(stdout, dir);
        printf(", \"task\": \"%s\", \"step\": %ld, \"metric\": \"%s\", \"value\": %.9g", r.task->name, step, metric, er.metric);
        if (!is_lm) printf(", \"%s\": %.9g", metric, er.metric);
        printf(", \"loss\": %.9g", er.loss);
        if (is_lm) printf(", \"val_loss\": %.9g, \"ppl\": %.9g", er.loss, er.ppl);
        if (is_acc) printf(", \"accuracy_counted\": %ld", er.counted);
        printf(", \"params\": %zu}\n", sl_params_count_trainable(r.model->P));
    } else {
        printf("run: %s\ntask: %s\nstep: %ld\n%s: %.6f\n", dir, r.task->name, step, metric, er.metric);
        if (!is_lm) printf("loss: %.6f\n", er.loss);
        if (is_lm) printf("ppl: %.4f\n", er.ppl);
        if (is_acc) printf("accuracy_counted: %ld\n", er.counted);
        printf("params: %zu\n", sl_params_count_trainable(r.model->P));
    }
    run_close(&r);
    return 0;
}
