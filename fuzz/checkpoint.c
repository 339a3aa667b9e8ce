/* fuzz/checkpoint.c — training checkpoints as `train --resume`, `eval` and `generate --run`
 * read them: the safetensors container, every metadata value the trainer and the CLI read
 * back (strictly: whole string, finite, in the command line's range, whole where an integer
 * is expected), the model spec in the metadata rebuilt (when it is small, see
 * fuzz/small_model.h), and the weights, optimizer state and RNG state restored into that model and
 * into a fixed one (the model of the seed corpus: lm:mixer=rnn,d_model=4,n_layer=1,vocab_size=5). */
#include "fuzz/fuzz.h"

#include "core/checkpoint.h"
#include "core/optim.h"
#include "core/rng.h"
#include "lab/registry.h"
#include "fuzz/small_model.h"

static void restore(const sl_safetensors *st, sl_model *m)
{
    sl_optim_config oc = sl_optim_defaults(SL_OPT_ADAMW);
    sl_optim *o = sl_optim_alloc(&oc, m->P->total);
    sl_rng *r = sl_rng_alloc(1);
    long step;
    double secs;
    if (o && r && sl_checkpoint_restore(st, m->P, o, r, &step, &secs)) fuzz_reject();
    sl_checkpoint_restore(st, m->P, NULL, NULL, NULL, NULL);
    sl_optim_free(o);
    sl_rng_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sl_model *fixed;
    if (!fixed && sl_model_create("lm:mixer=rnn,d_model=4,n_layer=1,vocab_size=5", 1, &fixed)) abort();
    sl_safetensors *st;
    if (sl_safetensors_parse(data, size, &st)) return fuzz_reject();
    /* the keys and ranges of src/cmd_train.c (config_from_meta), lab/trainer.c and
     * core/checkpoint.c */
    static const struct {
        const char *key;
        double lo, hi;
        int whole;
    } keys[] = {{"batch", 1, 1 << 20, 1},
                {"lr", 0, 100, 0},
                {"min_lr", 0, 100, 0},
                {"warmup", 0, 1099511627776.0, 1},
                {"decay_steps", 0, 1099511627776.0, 1},
                {"cosine", 0, 1, 1},
                {"weight_decay", 0, 10, 0},
                {"beta1", 0, 1, 0},
                {"beta2", 0, 1, 0},
                {"clip", 0, 1e9, 0},
                {"eval_every", 0, 1099511627776.0, 1},
                {"eval_batches", 1, 1 << 20, 1},
                {"ckpt_every", 0, 1099511627776.0, 1},
                {"log_every", 0, 1099511627776.0, 1},
                {"time_budget", 0, 1e12, 0},
                {"step", 0, 1099511627776.0, 1},
                {"seconds", 0, 1e12, 0},
                {"log_loss_acc", -1e300, 1e300, 0},
                {"log_n_acc", 0, 1099511627776.0, 1}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        long l;
        double d;
        if (keys[i].whole) {
            if (!sl_checkpoint_meta_long(st, keys[i].key, (long)keys[i].lo, (long)keys[i].hi, &l) &&
                (l < keys[i].lo || l > keys[i].hi))
                abort(); /* a value read is in its range */
        } else if (!sl_checkpoint_meta_double(st, keys[i].key, keys[i].lo, keys[i].hi, &d) &&
                   !(d >= keys[i].lo && d <= keys[i].hi))
            abort();
    }
    restore(st, fixed);
    const char *spec = sl_safetensors_meta(st, "model");
    sl_model *m;
    if (spec && !fuzz_model_create_small(spec, &m)) {
        restore(st, m);
        sl_model_free(m);
    }
    sl_safetensors_free(st);
    return 0;
}
