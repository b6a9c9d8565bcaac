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
# torch's messages when weights_only=True meets a pickled global, a class or function the file
# asks to import and call: "Unsupported global: GLOBAL pkg.mod.Name was not an allowed global"
# and "Trying to load unsupported GLOBAL posix.system whose module posix is blocked"
_GLOBAL_RE = re.compile(
    r"[Uu]nsupported (?:global: )?GLOBAL ((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*) (?:was|whose) "
)
_PICKLE_PROTO = 0x80  # the first byte of a pickle of protocol 2 or later
_PROBE_OPS = 100_000  # pickle opcodes looked at for a global before giving up
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

    A file that holds pickled code (a class or function to import and call: a pickled module,
    ``os.system``) is *refused*, named as such with the global it asks for, and the fix is a
    one-line conversion to a plain state dict for a file the user trusts. A file torch cannot
    read at all says "<what> <path> is not loadable by torch.load (corrupt, truncated or not a
    PyTorch file ...)" with ``fix``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        found = _GLOBAL_RE.search(text)
        name = found.group(1) if found else None
        if name is None and "Weights only load failed" in text:
            name = pickled_global(path)  # a plain pickle, not torch.save's format
        if name is not None:
            raise ModelError(
                f"{what} {path} was refused, not loaded: it holds pickled code ({name}, a "
                "global that loading would import and call), which the safe loader "
                "torch.load(weights_only=True) does not run; the file is not corrupt",
                convert_fix(path),
            ) from exc
        if "Weights only load failed" in text:
            reason = "corrupt, truncated or not a PyTorch file"
        else:
            first = text.strip().splitlines()[0][:120] if text.strip() else "empty or truncated"
            reason = f"corrupt, truncated or not a PyTorch file: {type(exc).__name__}: {first}"
        raise ModelError(
            f"{what} {path} is not loadable by torch.load ({reason})",
            fix,
        ) from exc


def convert_fix(path: Path) -> str:
    """The one-line conversion of a checkpoint that holds code into a plain state dict."""
    out = path.with_name(f"{path.stem}.state_dict{path.suffix or '.pth'}")
    code = (
        f"import torch; c = torch.load({str(path)!r}, weights_only=False); "
        "torch.save(c.get('state_dict', c) if isinstance(c, dict) else c.state_dict(), "
        f"{str(out)!r})"
    )
    return (
        f'only if you trust the file (this load runs its code), convert it once: python -c "{code}"'
        f" and pass {out} (weights nested under another key: save that entry instead)"
    )


def pickled_global(path: Path) -> str | None:
    """The first global (module.name) a plain pickle file imports; None when the file is no
    pickle or imports none within its first opcodes."""
    import pickletools

    strings: list[str] = []
    try:
        with path.open("rb") as fh:
            if fh.read(1) != bytes([_PICKLE_PROTO]):
                return None
            fh.seek(0)
            for n, (op, arg, _) in enumerate(pickletools.genops(fh)):
                if op.name in ("GLOBAL", "INST"):
                    return str(arg).replace(" ", ".")
                if op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    return f"{strings[-2]}.{strings[-1]}"
                if isinstance(arg, str):
                    strings.append(arg)
                if n > _PROBE_OPS:
                    break
    except Exception:  # not a pickle after all (or cut short): no global to name
        return None
    return None


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
