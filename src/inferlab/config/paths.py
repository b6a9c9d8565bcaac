"""Every path of a run's config made absolute once, against where the user wrote it.

The worker runs in the run directory, so a relative path must not reach it. A path in a YAML
file is relative to the file's directory; one from a flag, ``--set``, an environment variable
or the Python API is relative to the process's working directory when the config is built. A
leading ``~`` is the user's home. Absolute paths are kept as written, relative ones are joined
and their ``..`` taken off (no symlink is resolved), and result.json records the absolute paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from inferlab.backends.base import BackendSection
from inferlab.backends.registry import section_classes
from inferlab.config.sections import SECTION

PathLike = str | os.PathLike


def absolute(value: PathLike, base: Path) -> Path:
    """``value`` with ``~`` expanded, joined to ``base`` (absolute) when it is relative, with
    ``..`` taken off lexically as ``os.path.abspath`` does."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(os.path.normpath(base / path))


def here() -> Path:
    """The process's working directory (where the user typed the command)."""
    return Path.cwd()


def path_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names of ``model``'s fields that hold a path (``Path`` or ``Path | None``)."""
    return frozenset(
        name
        for name, field in model.model_fields.items()
        if field.annotation is Path or Path in get_args(field.annotation)
    )


@cache
def section_path_fields() -> frozenset[str]:
    """Keys of any backend section that hold a path (e.g. a compile cache directory)."""
    return frozenset().union(*(path_fields(cls) for cls in section_classes()))


def resolve_paths(layer: Mapping[str, Any], base: Path, fields: Iterable[str]) -> dict[str, Any]:
    """One config layer (its flat legacy keys already nested) with the paths among ``fields``
    and its backend section's path keys made absolute against ``base``. Values that are not
    text or paths are left for validation to report."""
    out = dict(layer)
    for key in fields:
        if isinstance(out.get(key), PathLike):
            out[key] = absolute(out[key], base)
    section = out.get(SECTION)
    if isinstance(section, Mapping):
        keys = section_path_fields()
        out[SECTION] = {
            k: absolute(v, base) if k in keys and isinstance(v, PathLike) else v
            for k, v in section.items()
        }
    elif isinstance(section, BackendSection):
        update = {
            k: absolute(v, base)
            for k in path_fields(type(section))
            if isinstance(v := getattr(section, k), PathLike) and not Path(v).is_absolute()
        }
        if update:
            out[SECTION] = section.model_copy(update=update)
    return out
