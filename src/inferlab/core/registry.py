"""The benchmark registry: one static table, id -> "module:attr", resolved lazily.

Benchmarks that ship with inferlab are the lines of :data:`BENCHMARKS`. A benchmark in another
installed distribution (a plugin, or the toy benchmark of the tests) is registered through the
same table by an entry point in the group :data:`ENTRY_POINT_GROUP`::

    [project.entry-points."inferlab.benchmarks"]
    my-bench = "my_package.spec:SPEC"

Nothing registers by import side effect; resolving an id imports only its spec module (which
must not import torch), so `inferlab ls` stays fast.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from inferlab.core.errors import ConfigError
from inferlab.core.spec import BenchmarkSpec

# One line per benchmark. Importing a module named here must not import torch.
BENCHMARKS: dict[str, str] = {
    "resnet50": "inferlab.benchmarks.resnet50.spec:SPEC",
    "bert-99": "inferlab.benchmarks.bert.spec:SPEC_99",
    "bert-99.9": "inferlab.benchmarks.bert.spec:SPEC_99_9",
    "retinanet": "inferlab.benchmarks.retinanet.spec:SPEC",
    "llama3.1-8b": "inferlab.benchmarks.llama3_1_8b.spec:SPEC",
    "llama3.1-8b-edge": "inferlab.benchmarks.llama3_1_8b.spec:SPEC_EDGE",
    "gptj-99": "inferlab.benchmarks.gptj.spec:SPEC_99",
    "gptj-99.9": "inferlab.benchmarks.gptj.spec:SPEC_99_9",
}
# What `inferlab run` runs when no benchmark is named (the README's first command).
DEFAULT_BENCHMARK = "resnet50"
ENTRY_POINT_GROUP = "inferlab.benchmarks"


def resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@cache
def table() -> dict[str, str]:
    """Built-in benchmarks, then those of installed plugins (entry points), id -> ref."""
    out = dict(BENCHMARKS)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in out and out[ep.name] != ep.value:
            raise ConfigError(
                f"the installed plugin benchmark {ep.name!r} ({ep.value}) clashes with "
                f"{out[ep.name]}",
                "rename the plugin's entry point",
            )
        out[ep.name] = ep.value
    return out


def benchmark_ids() -> list[str]:
    return list(table())


@cache
def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for bid in table():
        for alias in get(bid).aliases:
            out[alias] = bid
    return out


def canonical_id(name: str) -> str:
    key = name.strip().lower()
    if key in table():
        return key
    alias = _aliases().get(key)
    if alias is None:
        raise ConfigError(
            f"unknown benchmark {name!r}",
            f"use one of {', '.join(table())} (see `inferlab ls`)",
        )
    return alias


@cache
def get(name: str) -> BenchmarkSpec:
    bid = name if name in table() else canonical_id(name)
    spec = resolve(table()[bid])
    if not isinstance(spec, BenchmarkSpec) or spec.id != bid:
        raise TypeError(f"registry entry {bid!r} does not resolve to its BenchmarkSpec")
    return spec
