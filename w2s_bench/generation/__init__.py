"""The generation family's foundations: causal LMs that work offline, sampling, scoring text, SFT.

* ``lm``: load a causal LM (alias, folder or hub id) with its tokenizer, device, precision and LoRA.
* ``sampling``: batched, KV-cached sampling with lm-eval's generation settings, deterministic per
  prompt and seed; low-level prefill / continue / select / repeat for searches over continuations.
* ``scoring``: log p(continuation | prompt) and perplexity under an LM.
* ``sft``: supervised finetuning on (prompt, continuation) pairs through the shared training loop.
* ``ladder`` and ``corpus``: the offline LM ladder (``offline-lm-s`` / ``-m`` / ``-l``), small GPT-2-style
  LMs that w2s-bench pretrains itself on a corpus it generates.

Modules are imported where used (``from w2s_bench.generation.sampling import sample``): this package
is imported by the model registry, which must stay light.
"""
