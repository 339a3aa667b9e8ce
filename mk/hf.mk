# mk/hf.mk — Hugging Face GPT-2 / Llama checkpoints (seq/hf.c): reader, writer, their tests and
# fixtures (t/ref/make_hf_ckpt_fixtures.py writes t/data/hf-ckpt/).
libseqlab_la_SOURCES += seq/hf.c
nobase_seqlabinc_HEADERS += seq/hf.h
check_PROGRAMS += t/t-hf
TESTS += t/t-hf t/hf-ckpt.sh
EXTRA_DIST += docs/checkpoints.md t/hf-ckpt.sh t/ref/make_hf_ckpt_fixtures.py \
	t/data/hf-ckpt/tokens.npy t/data/hf-ckpt/prompt_ids.txt \
	t/data/hf-ckpt/gpt2_tied/config.json t/data/hf-ckpt/gpt2_tied/model.safetensors \
	t/data/hf-ckpt/gpt2_tied_logits.npy t/data/hf-ckpt/gpt2_tied_greedy.txt \
	t/data/hf-ckpt/gpt2_untied/config.json t/data/hf-ckpt/gpt2_untied/model.safetensors \
	t/data/hf-ckpt/gpt2_untied_logits.npy t/data/hf-ckpt/gpt2_untied_greedy.txt \
	t/data/hf-ckpt/llama_gqa/config.json t/data/hf-ckpt/llama_gqa/model.safetensors.index.json \
	t/data/hf-ckpt/llama_gqa/model-00001-of-00002.safetensors t/data/hf-ckpt/llama_gqa/model-00002-of-00002.safetensors \
	t/data/hf-ckpt/llama_gqa_logits.npy t/data/hf-ckpt/llama_gqa_greedy.txt \
	t/data/hf-ckpt/llama_tied/config.json t/data/hf-ckpt/llama_tied/model.safetensors \
	t/data/hf-ckpt/llama_tied_logits.npy t/data/hf-ckpt/llama_tied_greedy.txt
