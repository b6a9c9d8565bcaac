"""Shared pieces of strict checkpoint loading for the model modules.

Safe ``torch.load`` (``weights_only=True``) with readable errors, state-dict unwrapping, key
listing for messages and the file facts for result.json. Messages start with a model-specific
``what`` (e.g. "model file", "checkpoint") and carry the caller's ``fix`` text, so each
model keeps its own wording.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from inferlab.core.errors import ModelError

MAX_NAMES = 5  # key names listed in an error message
_HASH_CHUNK = 1 << 20
# torch's message when weights_only=True meets a pickled class: "... GLOBAL pkg.mod.Name was ..."
_GLOBAL_RE = re.compile(r"Unsupported global: GLOBAL ((?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*) was ")
_MODULE_PREFIX = "module."  # DataParallel / DistributedDataParallel


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def names(keys: list[str]) -> str:
    """The first few ``keys`` for a message, with a count of the rest."""
    shown = ", ".join(keys[:MAX_NAMES])
    more = len(keys) - MAX_NAMES
    return f"{shown} (+{more} more)" if more > 0 else shown


def require_file(path: Path, *, what: str, fix: str) -> int:
    """Size in bytes of ``path``; :class:`ModelError` "<what> <path> does not exist" if absent."""
    if not path.is_file():
        raise ModelError(f"{what} {path} does not exist", fix)
    return path.stat().st_size


def torch_load(path: Path, *, what: str, fix: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, every failure as :class:`ModelError`.

    A pickled class (needs ``weights_only=False``) is refused with a re-save fix; any other
    failure says "<what> <path> is not loadable by torch.load (reason)" with ``fix``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        found = _GLOBAL_RE.search(text)
        if found:
            raise ModelError(
                f"{what} {path} pickles {found.group(1)}, which needs "
                "torch.load(weights_only=False) and can run arbitrary code; refusing to load it",
                "re-save it as a plain state dict: torch.save(model.state_dict(), path)",
            ) from exc
        if "Weights only load failed" in text:
            reason = "corrupt, truncated or not a PyTorch file"
        else:
            first = text.strip().splitlines()[0][:120] if text.strip() else "empty or truncated"
            reason = f"{type(exc).__name__}: {first}"
        raise ModelError(
            f"{what} {path} is not loadable by torch.load ({reason})",
            fix,
        ) from exc


def unwrap_state_dict(
    obj: Any, path: Path, *, what: str, fix: str, nest_keys: tuple[str, ...]
) -> dict[str, Tensor]:
    """Plain state dict from a checkpoint: unnest the first of ``nest_keys`` that holds a
    mapping, check every entry is a str -> tensor, strip a "module." prefix held by all keys."""
    for key in nest_keys:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise ModelError(
            f"{what} {path} holds a {type(obj).__name__}, not a state dict of tensors",
            fix,
        )
    state: dict[str, Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise ModelError(
                f"{what} {path} is not a state dict: entry {key!r} is a "
                f"{type(value).__name__}, not a tensor",
                fix,
            )
        state[key] = value
    if all(k.startswith(_MODULE_PREFIX) for k in state):
        state = {k[len(_MODULE_PREFIX) :]: v for k, v in state.items()}
    return state


def key_mismatch(missing: list[str], unexpected: list[str]) -> str:
    """ "N missing key(s): ...; M unexpected key(s): ..." ("" when both lists are empty)."""
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s): {names(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s): {names(unexpected)}")
    return "; ".join(parts)


def file_facts(path: Path, size: int, n_tensors: int) -> dict[str, Any]:
    """Facts for result.json: ``{"path", "size_bytes", "sha256", "n_tensors"}``."""
    return {
        "path": str(path),
        "size_bytes": size,
        "sha256": sha256_file(path),
        "n_tensors": n_tensors,
    }
