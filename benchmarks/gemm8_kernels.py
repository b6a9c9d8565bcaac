#!/usr/bin/env python3
"""The 8-bit GEMM kernels of inferlab.backends.torch.gemm8 beside 16/32-bit matmul, one shape.

Default shape: a pointwise convolution's GEMM at ResNet-50's first stage, batch 16: 16*56*56
rows, 256 -> 512 channels. Prints ms per call (best of --repeat, each the mean of --number
calls) and the ratio to fp32 matmul. Random operands: the time does not depend on the values.

    python benchmarks/gemm8_kernels.py --device cpu
    python benchmarks/gemm8_kernels.py --device cuda --rows 802816   # batch 256 on a GPU
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import timeit
from collections.abc import Callable

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rows", type=int, default=16 * 56 * 56)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--number", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    dev = torch.device(args.device)
    m, k, n = args.rows, args.k, args.n
    one = torch.ones((), device=dev)
    f32 = (torch.randn(m, k, device=dev), torch.randn(k, n, device=dev))
    b16 = (f32[0].bfloat16(), f32[1].bfloat16())
    w8 = torch.randn(n, k, device=dev).to(torch.float8_e4m3fn).t()  # column-major, as gemm8
    fp8 = (f32[0].to(torch.float8_e4m3fn), w8)
    i8 = (
        torch.randint(-127, 127, (m, k), dtype=torch.int8, device=dev),
        torch.randint(-127, 127, (n, k), dtype=torch.int8, device=dev).t(),
    )
    kernels: dict[str, Callable[[], object]] = {
        "fp32 matmul": lambda: f32[0] @ f32[1],
        "bf16 matmul": lambda: b16[0] @ b16[1],
        "fp8 _scaled_mm": lambda: torch._scaled_mm(
            fp8[0], fp8[1], scale_a=one, scale_b=one, out_dtype=torch.bfloat16
        ),
        "int8 _int_mm": lambda: torch._int_mm(i8[0], i8[1]),
    }

    def timed(fn: Callable[[], object]) -> float:
        def call() -> None:
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)

        call()  # warm-up
        return min(timeit.repeat(call, number=args.number, repeat=args.repeat)) / args.number

    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor()
    when = dt.datetime.now(dt.UTC)
    print(f"# {where or 'cpu'}, torch {torch.__version__}, {when:%Y-%m-%d %H:%M} UTC")
    print(f"# rows {m}, K {k}, N {n}; best of {args.repeat} x {args.number} calls")
    times = {name: timed(fn) for name, fn in kernels.items()}
    for name, t in times.items():
        print(f"{name:16} {t * 1e3:10.3f} ms {t / times['fp32 matmul']:8.2f}x fp32")


if __name__ == "__main__":
    main()
