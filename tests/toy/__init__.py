"""toy-seq: the toy benchmark of the tests (docs/adding-a-benchmark.md walks through it).

Each sample is a short sequence of int32 "tokens"; the answer is the sequence reversed, so every
sample's response has its own length, like a detector's box list or an LLM's generated tokens.
It is registered the way a plugin package registers a benchmark: an entry point in the group
``inferlab.benchmarks`` (tests/plugins/inferlab_toy_benchmark-0.dist-info), which tests/conftest.py
puts on the path of the tests and of the worker processes they start.
"""
