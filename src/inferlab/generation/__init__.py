"""Text generation for the LLM benchmarks: models built from `transformers` config classes, a
prefill/decode engine with a KV cache and continuous batching (greedy and beam search), and
tokenizers obtained from installed packages (no hub)."""
