#!/usr/bin/env python3
"""The generation engine vs ``transformers.generate``, Offline, one script, one run.

A random Llama (default: 4 layers, hidden 256, 4 heads, vocab 32,000, fp32) and --prompts
generated prompts with a spread of input lengths (uniform --min-input..--max-input) and of
per-request output limits (uniform --min-output..--max-output new tokens, EOS ignored: every
request produces exactly its limit). Both sides get the same requests in the same order and
--batch as their batch size:

  generate   static batches of --batch consecutive requests, left-padded, one
             ``model.generate(max_new_tokens=<the batch's largest limit>)`` each; a request's
             tokens beyond its own limit are wasted (not counted)
  engine     ``inferlab.generation.Engine(max_seqs=--batch)``: continuous batching, a request
             leaves at its limit and the next one joins between decode steps

tokens/s = the requests' own new tokens (the same total for both) / wall time, the best of
--repeats runs of each side, alternating (a shared machine's neighbours hit both). The engine is
warmed up on a few requests first, generate on one batch. Also printed: how many requests got
the same tokens from both (left padding changes a batch's numerics slightly, so a few random-
model near-ties may differ; the unit tests check exact equality on unpadded prompts).

    python benchmarks/generation_engine.py            # 256 prompts (a few minutes on 2 cores)
    python benchmarks/generation_engine.py --prompts 64
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from typing import Any

import torch


def requests(args: argparse.Namespace) -> list[tuple[list[int], int]]:
    g = torch.Generator().manual_seed(args.seed)
    out = []
    for _ in range(args.prompts):
        n = int(torch.randint(args.min_input, args.max_input + 1, (1,), generator=g))
        new = int(torch.randint(args.min_output, args.max_output + 1, (1,), generator=g))
        out.append((torch.randint(3, args.vocab, (n,), generator=g).tolist(), new))
    return out


def run_generate(model: Any, reqs: list[tuple[list[int], int]], batch: int) -> list[list[int]]:
    outs: list[list[int]] = []
    for start in range(0, len(reqs), batch):
        chunk = reqs[start : start + batch]
        width = max(len(p) for p, _ in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, (p, _) in enumerate(chunk):
            ids[i, width - len(p) :] = torch.tensor(p)
            mask[i, width - len(p) :] = 1
        longest = max(n for _, n in chunk)
        with torch.inference_mode():
            seqs = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=longest,
                min_new_tokens=longest,
                do_sample=False,
                pad_token_id=0,
            )
        outs += [seqs[i, width : width + n].tolist() for i, (_, n) in enumerate(chunk)]
    return outs


def run_engine(engine: Any, reqs: list[tuple[list[int], int]], tag: str) -> list[list[int]]:
    from inferlab.generation.engine import Request

    todo = [
        Request(f"{tag}{i}", p, max_new_tokens=n, ignore_eos=True) for i, (p, n) in enumerate(reqs)
    ]
    return [list(c.tokens) for c in engine.generate(todo)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--min-input", type=int, default=16)
    ap.add_argument("--max-input", type=int, default=256)
    ap.add_argument("--min-output", type=int, default=16)
    ap.add_argument("--max-output", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs; the best of each")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from inferlab.generation.engine import Engine
    from inferlab.generation.models import random_model, tiny_config

    config = tiny_config(
        "llama",
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=args.heads,
        intermediate_size=3 * args.hidden,
        eos_token_id=None,
        pad_token_id=0,
    )
    model = random_model(config, seed=args.seed)
    reqs = requests(args)
    useful = sum(n for _, n in reqs)
    engine = Engine(
        model, max_seqs=args.batch, max_seq_len=args.max_input + args.max_output, eos_token_ids=()
    )

    run_engine(engine, reqs[: min(8, len(reqs))], "warm")  # warm-up, both sides
    run_generate(model, reqs[: min(args.batch, len(reqs))][:8], args.batch)

    t_gens: list[float] = []
    t_engs: list[float] = []
    steps = rows = 0
    for _ in range(args.repeats):  # alternating, so a noisy neighbour hits both sides
        t0 = time.perf_counter()
        ref = run_generate(model, reqs, args.batch)
        t_gens.append(time.perf_counter() - t0)
        steps0, rows0 = engine.steps, engine.decode_rows
        t0 = time.perf_counter()
        got = run_engine(engine, reqs, f"r{len(t_engs)}-")
        t_engs.append(time.perf_counter() - t0)
        steps, rows = engine.steps - steps0, engine.decode_rows - rows0
    t_gen, t_eng = min(t_gens), min(t_engs)

    padded = sum(
        len(reqs[s : s + args.batch]) * max(n for _, n in reqs[s : s + args.batch])
        for s in range(0, len(reqs), args.batch)
    )
    same = sum(a == b for a, b in zip(ref, got, strict=True))
    print(
        f"# {dt.date.today()}  {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    print(
        f"# Llama {args.layers} layers, hidden {args.hidden}, {args.heads} heads, vocab "
        f"{args.vocab}, fp32; {args.prompts} prompts, input {args.min_input}-{args.max_input}, "
        f"output {args.min_output}-{args.max_output} (EOS ignored), batch {args.batch}"
    )
    print(f"{'':<10} {'seconds':>8} {'tokens':>8} {'tokens/s':>9}  note")
    print(
        f"{'generate':<10} {t_gen:8.2f} {useful:8d} {useful / t_gen:9.1f}  "
        f"static batches; {padded} tokens generated, {padded - useful} past a request's limit"
    )
    print(
        f"{'engine':<10} {t_eng:8.2f} {useful:8d} {useful / t_eng:9.1f}  "
        f"{steps} steps, mean batch {rows / max(steps, 1):.1f} sequences"
    )
    print(f"ratio engine/generate: {t_gen / t_eng:.2f}x (best of {args.repeats} alternating runs)")
    print(
        "all runs (s): generate "
        + ", ".join(f"{t:.2f}" for t in t_gens)
        + "; engine "
        + ", ".join(f"{t:.2f}" for t in t_engs)
    )
    print(f"requests with identical tokens: {same} of {len(reqs)}")


if __name__ == "__main__":
    main()
