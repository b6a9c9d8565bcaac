"""The backend's section of a config dict: flat keys of earlier versions (``torch_mode``,
``compile``, ``fold_bn``, ``channels_last``, ``sample_store``, ``compile_cache_dir``,
``null_service_time_ms``; in YAML files, ``--set`` and stored result.json configs) are moved
into ``backend_options``, and a key that belongs to another backend than the run's is an error
naming the fix (unless it holds the value that means "unset", as every stored config does)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from inferlab.backends.base import BackendSection, config_error
from inferlab.backends.registry import BACKENDS, DEFAULT_BACKEND, section_class, section_classes
from inferlab.core.option import CliOption

SECTION = "backend_options"


@cache
def flat_keys() -> dict[str, str]:
    """Every backend's flat legacy key -> its key in the section."""
    return {flat: key for cls in section_classes() for flat, (key, _) in cls.flat_keys.items()}


def nest_flat_keys(layer: Mapping[str, Any]) -> dict[str, Any]:
    """One layer (YAML, flags, --set) with its flat legacy keys moved into ``backend_options``
    (flat keys win over the same layer's nested ones). Which backend they belong to is decided
    once the layers are merged (:func:`place_backend_keys`)."""
    out = dict(layer)
    moved = {flat_keys()[k]: out.pop(k) for k in list(out) if k in flat_keys()}
    if moved:
        nested = out.get(SECTION)
        if isinstance(nested, BackendSection):
            nested = {**nested.model_dump(), "name": nested.name}
        out[SECTION] = {**(nested if isinstance(nested, Mapping) else {}), **moved}
    return out


def place_backend_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with ``backend_options`` holding the run's backend section input: its ``name``
    set from ``backend``, legacy keys nested, other backends' keys dropped when unset."""
    out = nest_flat_keys(data)
    name = out.get("backend", DEFAULT_BACKEND)
    if not isinstance(name, str) or name not in BACKENDS:
        out.pop(SECTION, None)  # the backend field reports the unknown name
        return out
    section = out.get(SECTION)
    if section is None:
        out[SECTION] = {"name": name}
        return out
    if isinstance(section, BackendSection) or not isinstance(section, Mapping):
        return out  # an instance is checked against the backend after validation
    cls = section_class(name)
    section = dict(section)
    given = section.pop("name", name)
    if given != name:
        raise config_error(
            f"{SECTION} are for the {given} backend, and this run uses --backend {name}",
            f"drop {SECTION}.name, or use --backend {given}",
        )
    for key in list(section):
        if cls.accepts(key):
            continue
        owner = next((c for c in section_classes() if c.accepts(key)), None)
        if owner is None:
            continue  # unknown everywhere: the section reports it (extra keys are forbidden)
        if section[key] == owner.unset_value(key):
            del section[key]
            continue
        other = owner.model_fields["name"].default
        raise config_error(
            f"{spelling(owner, key)} is a setting of the {other} backend, and this run uses "
            f"--backend {name}",
            f"drop it, or use --backend {other}",
        )
    section["name"] = name
    out[SECTION] = section
    return out


def spelling(cls: type[BackendSection], key: str) -> str:
    """How a user may have written section key ``key``: its flag, its flat key, its path."""
    names = []
    field = cls.model_fields.get(key)
    for meta in field.metadata if field is not None else ():
        if isinstance(meta, CliOption) and meta.flag:
            names.append(meta.flag.split("/")[0])
    names += [flat for flat, (k, _) in cls.flat_keys.items() if k == key]
    names.append(f"{SECTION}.{key}")
    return " / ".join(dict.fromkeys(names))


def flat_view(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored config (result.json ``config``) with its backend section's keys also under
    their flat names of earlier versions (``torch_mode``, ``fold_bn``, ...), so that readers of
    stored results read old and new configs alike."""
    out = dict(config or {})
    section = out.get(SECTION)
    if isinstance(section, Mapping):
        cls = section_class(out["backend"]) if out.get("backend") in BACKENDS else None
        for flat, (key, _) in cls.flat_keys.items() if cls is not None else ():
            if key in section:
                out.setdefault(flat, section[key])
    return out
