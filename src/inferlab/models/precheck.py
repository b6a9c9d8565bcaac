"""Cheap checks of a model file before a run starts (no torch or onnx import).

Loading a checkpoint happens in the worker, after the run directory exists; a file that is
plainly not loadable (truncated, the wrong kind of file) is found here instead, in
milliseconds, so the run is refused with exit code 2 and no run directory. The full check is
still the load itself.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from inferlab.core.errors import ModelError

_ZIP = b"PK\x03\x04"  # torch.save's format since torch 1.6: a zip archive
_PICKLE_PROTO = 0x80  # the legacy torch.save format: a pickle of protocol 2 or later
_ONNX_FIRST = 0x08  # ModelProto field 1 (ir_version, a varint): every ONNX file starts so


def precheck_model_file(path: Path, fmt: str, *, fix: str) -> None:
    """Raise :class:`ModelError` when ``path`` cannot be a model file of format ``fmt``
    ("torch-state-dict", "onnx"); other formats and folders are left to the loader."""
    if path.is_dir() or fmt not in ("torch-state-dict", "onnx"):
        return
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ModelError(f"model file {path} cannot be read: {exc.strerror}", fix) from None
    if not head:
        raise ModelError(f"model file {path} is empty", fix)
    if fmt == "onnx":
        if head[0] != _ONNX_FIRST:
            raise ModelError(f"model file {path} is not an ONNX model (it starts {head!r})", fix)
        return
    if head == _ZIP:
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelError(
                f"model file {path} is a damaged zip archive, not loadable by torch.load "
                f"(truncated? {exc})",
                fix,
            ) from None
        if not any(n.endswith("data.pkl") for n in names):
            raise ModelError(
                f"model file {path} is a zip archive but not a PyTorch checkpoint (no data.pkl)",
                fix,
            )
        return
    if head[0] != _PICKLE_PROTO:
        raise ModelError(
            f"model file {path} is not a PyTorch checkpoint (neither torch.save's zip archive "
            f"nor a pickle; it starts {head!r})",
            fix,
        )
