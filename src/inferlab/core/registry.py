"""The benchmark registry: one static table, id -> "module:attr", resolved lazily."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from inferlab.core.errors import ConfigError
from inferlab.core.spec import BenchmarkSpec

# One line per benchmark. Importing a module named here must not import torch.
BENCHMARKS: dict[str, str] = {
    "resnet50": "inferlab.benchmarks.resnet50.spec:SPEC",
    "bert-99": "inferlab.benchmarks.bert.spec:SPEC_99",
    "bert-99.9": "inferlab.benchmarks.bert.spec:SPEC_99_9",
}


def resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def benchmark_ids() -> list[str]:
    return list(BENCHMARKS)


@cache
def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for bid in BENCHMARKS:
        for alias in get(bid).aliases:
            out[alias] = bid
    return out


def canonical_id(name: str) -> str:
    key = name.strip().lower()
    if key in BENCHMARKS:
        return key
    alias = _aliases().get(key)
    if alias is None:
        raise ConfigError(
            f"unknown benchmark {name!r}", f"use one of {', '.join(BENCHMARKS)} (see `inferlab ls`)"
        )
    return alias


@cache
def get(name: str) -> BenchmarkSpec:
    bid = name if name in BENCHMARKS else canonical_id(name)
    spec = resolve(BENCHMARKS[bid])
    if not isinstance(spec, BenchmarkSpec) or spec.id != bid:
        raise TypeError(f"registry entry {bid!r} does not resolve to its BenchmarkSpec")
    return spec
