"""The backend table: one static line per backend, name -> "module:attr" of its config section
(:class:`~inferlab.backends.base.BackendSection`), resolved lazily like the benchmark registry.

A section module must not import its framework (torch, onnxruntime): the CLI and ``RunConfig``
resolve every line to build the config's union and the ``--backend`` choices. The section says
everything the rest of inferlab needs; nothing outside ``inferlab.backends`` compares a
backend's name."""

from __future__ import annotations

from functools import cache

from inferlab.backends.base import BackendSection
from inferlab.core.errors import ConfigError
from inferlab.core.registry import resolve

BACKENDS: dict[str, str] = {
    "torch": "inferlab.backends.torch.section:TorchSection",
    "onnxruntime": "inferlab.backends.onnxruntime.section:OrtSection",
    "null": "inferlab.backends.null.section:NullSection",
    "vllm": "inferlab.backends.vllm.section:VllmSection",
}
# What a run uses when it names no backend.
DEFAULT_BACKEND = "torch"


def backend_names() -> list[str]:
    return list(BACKENDS)


@cache
def section_class(name: str) -> type[BackendSection]:
    """The config section of backend ``name``; ConfigError naming the choices when unknown."""
    ref = BACKENDS.get(name)
    if ref is None:
        raise ConfigError(f"unknown backend {name!r}", f"use one of {', '.join(BACKENDS)}")
    cls = resolve(ref)
    default = getattr(cls, "model_fields", {}).get("name")
    if not (isinstance(cls, type) and issubclass(cls, BackendSection)) or (
        default is None or default.default != name
    ):
        raise TypeError(f"backend table entry {name!r} does not resolve to its BackendSection")
    return cls


def section_classes() -> list[type[BackendSection]]:
    return [section_class(name) for name in BACKENDS]


def find_section(name: object) -> type[BackendSection] | None:
    """The section of a stored config's backend name, None for a name not in the table (a
    result written by another version)."""
    return section_class(name) if isinstance(name, str) and name in BACKENDS else None
