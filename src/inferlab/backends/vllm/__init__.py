"""vLLM backend: the LLM benchmarks' model in vLLM's engine on CUDA (imports vllm lazily)."""
