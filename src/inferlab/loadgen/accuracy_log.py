"""Streaming reader and writer for LoadGen's ``mlperf_log_accuracy.json``.

LoadGen writes a JSON array with one element per completed sample that was selected for logging::

    [
    { "seq_id" : 0, "qsl_idx" : 1, "data" : "0000803F0000003F" },
    { "seq_id" : 1, "qsl_idx" : 5, "data" : "0000A0400000003F" }
    ]

``data`` is the raw response payload as upper-case hex (host byte order). Token runs add
``"token_count" : n`` and, outside Offline, ``"token_data" : "<hex>"``. Logs reach gigabytes, so
the reader never loads the whole document: it decodes one element at a time with
``json.JSONDecoder.raw_decode`` over a sliding text buffer, which accepts any valid JSON layout
(LoadGen's one-element-per-line layout, a compact single line, pretty-printed files...).

Entries appear in completion order and a ``qsl_idx`` may repeat (MultiStream padding, repeated
sampling); like every official accuracy script, :func:`first_payloads` keeps the first occurrence.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inferlab.core.errors import DataError

__all__ = [
    "ACCURACY_LOG_NAME",
    "AccuracyEntry",
    "LogStats",
    "decode_hex",
    "first_payloads",
    "iter_entries",
    "write_accuracy_log",
]

log = logging.getLogger(__name__)

ACCURACY_LOG_NAME = "mlperf_log_accuracy.json"

_CHUNK_CHARS = 1 << 20  # first read size; doubled while a single element does not fit
_MAX_ELEMENT_CHARS = 1 << 28  # give up on one element beyond this (corrupt file)
_WHITESPACE = " \t\n\r"
_FIX_RERUN = "re-run the accuracy test; LoadGen rewrites the file from scratch"


@dataclass(frozen=True, slots=True)
class AccuracyEntry:
    """One element of the accuracy log. ``data``/``token_data`` stay hex strings (lazy decoding)."""

    seq_id: int
    qsl_idx: int
    data: str
    token_count: int | None = None
    token_data: str | None = None

    @classmethod
    def from_array(
        cls,
        seq_id: int,
        qsl_idx: int,
        payload: npt.ArrayLike | bytes,
        token_count: int | None = None,
        token_data: bytes | None = None,
    ) -> AccuracyEntry:
        """Build an entry from raw bytes or an array (its bytes in host order, like LoadGen)."""
        raw = payload if isinstance(payload, bytes) else np.ascontiguousarray(payload).tobytes()
        token_hex = token_data.hex().upper() if token_data is not None else None
        return cls(seq_id, qsl_idx, raw.hex().upper(), token_count, token_hex)

    def payload_bytes(self) -> bytes:
        """The raw response bytes (``ValueError`` on malformed hex)."""
        return bytes.fromhex(self.data)


@dataclass(frozen=True, slots=True)
class LogStats:
    """How many entries the log held, how many distinct ``qsl_idx``, and how many were repeats."""

    entries: int
    unique: int
    duplicates: int


def decode_hex(
    hex_data: str, dtype: npt.DTypeLike, *, path: str | os.PathLike[str] = "", where: str = ""
) -> np.ndarray:
    """Decode a LoadGen hex payload into a 1-D array of ``dtype`` (``bytes.fromhex`` +
    ``np.frombuffer``, exactly what the official scripts do). Raises :class:`DataError`."""
    try:
        raw = bytes.fromhex(hex_data)
    except ValueError as exc:
        raise DataError(
            f"{path}: {where} has a malformed hex payload ({exc})", _FIX_RERUN
        ) from None
    try:
        return np.frombuffer(raw, dtype=dtype)
    except ValueError:
        size = np.dtype(dtype).itemsize
        raise DataError(
            f"{path}: {where} payload is {len(raw)} bytes, not a multiple of {size} "
            f"({np.dtype(dtype).name})",
            "pass the dtype the SUT actually wrote into the response buffer",
        ) from None


def _open_text(path: Path) -> Any:
    if not path.exists():
        raise DataError(
            f"accuracy log {path} does not exist",
            "run LoadGen in AccuracyOnly mode (or check the output directory)",
        )
    if path.is_dir():
        raise DataError(
            f"accuracy log {path} is a directory", f"point at {ACCURACY_LOG_NAME} inside it"
        )
    return path.open("r", encoding="utf-8", newline="")


def _check_int(value: Any, field: str, path: Path, index: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(
            f"{path}: element {index} has {field}={value!r}; expected an integer", _FIX_RERUN
        )
    return value


def _to_entry(obj: Any, path: Path, index: int) -> AccuracyEntry:
    if not isinstance(obj, dict):
        raise DataError(
            f"{path}: element {index} is {type(obj).__name__}, expected an object with "
            "seq_id/qsl_idx/data",
            _FIX_RERUN,
        )
    for key in ("seq_id", "qsl_idx", "data"):
        if key not in obj:
            raise DataError(f"{path}: element {index} has no {key!r} field", _FIX_RERUN)
    data = obj["data"]
    if not isinstance(data, str):
        raise DataError(f"{path}: element {index} has a non-string 'data' field", _FIX_RERUN)
    token_count = obj.get("token_count")
    if token_count is not None:
        token_count = _check_int(token_count, "token_count", path, index)
    token_data = obj.get("token_data")
    if token_data is not None and not isinstance(token_data, str):
        raise DataError(f"{path}: element {index} has a non-string 'token_data'", _FIX_RERUN)
    return AccuracyEntry(
        seq_id=_check_int(obj["seq_id"], "seq_id", path, index),
        qsl_idx=_check_int(obj["qsl_idx"], "qsl_idx", path, index),
        data=data,
        token_count=token_count,
        token_data=token_data,
    )


class _Stream:
    """A text buffer over a file that grows on demand and drops consumed text."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._chunk = _CHUNK_CHARS

    def more(self) -> bool:
        """Append the next chunk (doubling the size after each unsuccessful attempt)."""
        if self.eof:
            return False
        if self.pos:
            self.buf = self.buf[self.pos :]
            self.pos = 0
        text = self._handle.read(self._chunk)
        if not text:
            self.eof = True
            return False
        self.buf += text
        self._chunk = min(self._chunk * 2, 1 << 28)
        return True

    def peek(self) -> str:
        """Next non-whitespace character ('' at end of file), without consuming it."""
        while True:
            n = len(self.buf)
            while self.pos < n and self.buf[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < n:
                self._chunk = _CHUNK_CHARS
                return self.buf[self.pos]
            if not self.more():
                return ""


def iter_entries(
    path: str | os.PathLike[str], *, allow_truncated: bool = False
) -> Iterator[AccuracyEntry]:
    """Yield the log's elements in file order, holding at most one element in memory.

    Raises :class:`DataError` for a missing file, a document that is not a JSON array of
    ``{seq_id, qsl_idx, data}`` objects, or a truncated file (unless ``allow_truncated``, which
    stops quietly after the last complete element, e.g. for a killed run)."""
    p = Path(path)
    decoder = json.JSONDecoder()
    with _open_text(p) as handle:
        stream = _Stream(handle)
        first = stream.peek()
        if first == "":
            raise DataError(
                f"accuracy log {p} is empty (no JSON array)",
                "the run was killed before LoadGen wrote it; " + _FIX_RERUN,
            )
        if first != "[":
            raise DataError(f"{p} is not a JSON array (starts with {first!r})", _FIX_RERUN)
        stream.pos += 1
        index = 0
        expect_value = False  # True right after a comma
        while True:
            ch = stream.peek()
            if ch == "]" and not expect_value:
                stream.pos += 1
                break
            if ch == "":
                if allow_truncated:
                    log.warning("%s: truncated after %d entries; using those", p, index)
                    return
                raise DataError(
                    f"accuracy log {p} is truncated after {index} entries (no closing ']')",
                    "the run was interrupted; " + _FIX_RERUN,
                )
            if index > 0 and not expect_value:
                if ch != ",":
                    raise DataError(
                        f"{p}: expected ',' or ']' after element {index - 1}, found {ch!r}",
                        _FIX_RERUN,
                    )
                stream.pos += 1
                expect_value = True
                continue
            if ch == "]":
                raise DataError(f"{p}: trailing comma before the closing ']'", _FIX_RERUN)
            while True:
                try:
                    obj, end = decoder.raw_decode(stream.buf, stream.pos)
                except json.JSONDecodeError as exc:
                    if len(stream.buf) - stream.pos < _MAX_ELEMENT_CHARS and stream.more():
                        continue
                    if allow_truncated:
                        log.warning("%s: truncated inside element %d; using %d", p, index, index)
                        return
                    raise DataError(
                        f"{p}: element {index} is not valid JSON ({exc.msg})", _FIX_RERUN
                    ) from None
                break
            stream.pos = end
            yield _to_entry(obj, p, index)
            index += 1
            expect_value = False
        if stream.peek() != "":
            raise DataError(f"{p}: unexpected text after the closing ']'", _FIX_RERUN)


def first_payloads(
    path: str | os.PathLike[str], dtype: npt.DTypeLike, *, allow_truncated: bool = False
) -> tuple[dict[int, np.ndarray], LogStats]:
    """Decode each ``qsl_idx``'s FIRST payload as a 1-D ``dtype`` array (later repeats ignored).

    The dict keeps first-seen order. Returns it with :class:`LogStats`."""
    payloads: dict[int, np.ndarray] = {}
    entries = 0
    for entry in iter_entries(path, allow_truncated=allow_truncated):
        entries += 1
        if entry.qsl_idx in payloads:
            continue
        where = f"element {entries - 1} (qsl_idx {entry.qsl_idx})"
        payloads[entry.qsl_idx] = decode_hex(entry.data, dtype, path=path, where=where)
    stats = LogStats(entries=entries, unique=len(payloads), duplicates=entries - len(payloads))
    log.debug("%s: %d entries, %d unique, %d duplicates", path, *_astuple(stats))
    return payloads, stats


def _astuple(stats: LogStats) -> tuple[int, int, int]:
    return stats.entries, stats.unique, stats.duplicates


def _entry_text(entry: AccuracyEntry) -> str:
    parts = [
        f'"seq_id" : {int(entry.seq_id)}',
        f'"qsl_idx" : {int(entry.qsl_idx)}',
        f'"data" : "{entry.data.upper()}"',
    ]
    if entry.token_data is not None:
        parts.append(f'"token_data" : "{entry.token_data.upper()}"')
    if entry.token_count is not None or entry.token_data is not None:
        parts.append(f'"token_count" : {int(entry.token_count or 0)}')
    return "{ " + ", ".join(parts) + " }"


def write_accuracy_log(path: str | os.PathLike[str], entries: Iterable[AccuracyEntry]) -> int:
    """Write ``entries`` in LoadGen's exact text layout (``[``, one element per line, ``]``,
    upper-case hex; an empty log is ``"[\\n]\\n"``). Returns the number of entries written."""
    count = 0
    p = Path(path)
    with p.open("w", encoding="utf-8", newline="\n") as out:
        out.write("[")
        for entry in entries:
            out.write(",\n" if count else "\n")
            out.write(_entry_text(entry))
            count += 1
        out.write("\n]\n")
    log.debug("wrote %d accuracy entries to %s", count, p)
    return count
