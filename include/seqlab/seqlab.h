/* <seqlab/seqlab.h> — the whole public C API of libseqlab in one include.
 *
 *     #include <seqlab/seqlab.h>
 *     cc app.c $(pkg-config --cflags --libs seqlab)
 *     cc app.c -static $(pkg-config --static --cflags --libs seqlab)   (./configure --enable-static)
 *
 * Where to start reading (every header says what its functions do):
 *   lab/registry.h  sl_model_create(spec, seed, &m): any model from a spec string
 *                   ("lstm:input_size=8,hidden_size=32", "lm:mixer=mamba,vocab_size=65", ...)
 *   seq/model.h     the sequence interface: sl_model_forward / _backward (sequence mode),
 *                   sl_model_state_new / sl_model_step (step mode), capability flags, widths
 *   core/params.h   the model's named tensors (m->P): data, grad, save/load as safetensors
 *   core/optim.h    AdamW / SGD, the LR schedule, gradient clipping
 *   lab/tasks.h     tasks from spec strings ("copy:length=10,delay=20"), batches, loss, eval
 *   lab/trainer.h   sl_train: the whole loop with logging and checkpoints, as `seqlab train`
 *   core/error.h    every call returns 0 or a negative SL_E* code; sl_errmsg() says why
 * examples/train_copy.c uses all of them. The family headers (seq/lstm.h, ssm/mamba.h,
 * seq/transformer.h, nlp/ngram.h, ...) with each model's own functions are included too.
 * Every header has extern "C" guards, so C++ can include this one.
 *
 * The headers include each other as "core/error.h", "seq/model.h": the include path needs
 * $(includedir)/seqlab, which `pkg-config --cflags seqlab` gives.
 */
#ifndef SEQLAB_SEQLAB_H
#define SEQLAB_SEQLAB_H

#include "core/error.h"
#include "core/rng.h"
#include "core/params.h"
#include "core/optim.h"
#include "core/util.h"
#include "core/dtype.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "core/npy.h"
#include "core/checkpoint.h"
#include "core/gradcheck.h"

#include "seq/spec.h"
#include "seq/model.h"
#include "seq/layers.h"
#include "seq/lm.h"
#include "seq/rnn.h"
#include "seq/lstm.h"
#include "seq/gru.h"
#include "seq/attention.h"
#include "seq/transformer.h"
#include "seq/llama2c.h"
#include "seq/hf.h"
#include "seq/lora.h"

#include "ssm/hippo.h"
#include "ssm/fftconv.h"
#include "ssm/ssmblock.h"
#include "ssm/s4.h"
#include "ssm/s4d.h"
#include "ssm/scan.h"
#include "ssm/mamba.h"
#include "ssm/ssd.h"
#include "ssm/mamba2.h"
#include "ssm/lru.h"
#include "ssm/linattn.h"
#include "ssm/retnet.h"
#include "ssm/gla.h"
#include "ssm/rwkv.h"
#include "ssm/based.h"
#include "ssm/h3.h"
#include "ssm/hyena.h"

#include "nlp/vocab.h"
#include "nlp/ngram.h"
#include "nlp/ngram_model.h"
#include "nlp/word2vec.h"
#include "nlp/bpe.h"
#include "nlp/spm.h"
#include "nlp/tokenizer.h"
#include "nlp/shards.h"

#include "lab/registry.h"
#include "lab/tasks.h"
#include "lab/trainer.h"
#include "lab/finetune.h"
#include "lab/dpo.h"
#include "lab/sample.h"
#include "lab/pack.h"

#endif
