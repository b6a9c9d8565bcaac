"""The user's text files (config YAML, user.conf, dataset lists) read as UTF-8, every failure
one line naming the file: a byte that is not UTF-8 with its offset, line and column, and the
fix (save it as UTF-8); a file that cannot be read with the reason."""

from __future__ import annotations

import codecs
from pathlib import Path

from inferlab.core.errors import ConfigError, InferlabError

UTF8_FIX = "save it as UTF-8"


def _where(raw: bytes, offset: int) -> str:
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return f"byte 0x{raw[offset]:02x} at offset {offset} (line {line}, column {column})"


def decode_utf8(
    raw: bytes,
    path: Path | str,
    *,
    what: str,
    error: type[InferlabError] = ConfigError,
    bom: bool = False,
    fix: str | None = None,
) -> str:
    """``raw`` (the bytes of ``path``: a file, or a member named inside an archive) as text;
    ``bom``: a leading UTF-8 byte-order mark (as
    Windows editors write) is dropped. Not UTF-8: ``error`` naming the first bad byte, with
    ``fix`` (default: save it as UTF-8; a file that only comes from elsewhere, official data,
    names where to get it instead)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise error(
            f"{what} {path} is UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8",
            fix
            or f"{UTF8_FIX} (PowerShell: Out-File -Encoding utf8 or Set-Content -Encoding utf8)",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} {path} is not UTF-8 text: {_where(raw, exc.start)}",
            fix or f"{UTF8_FIX} (e.g. iconv -f LATIN1 -t UTF-8 for a Latin-1 file)",
        ) from None
    return text.removeprefix("\ufeff") if bom else text


def read_bytes(path: Path, *, what: str, error: type[InferlabError], missing_fix: str) -> bytes:
    """The bytes of ``path``; absent, a directory or unreadable: ``error`` saying which."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist", missing_fix) from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file", missing_fix) from None
    except PermissionError:
        raise error(
            f"cannot read {what} {path}: permission denied", "check the file's permissions"
        ) from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}", missing_fix) from None


def read_utf8(
    path: Path,
    *,
    what: str,
    error: type[InferlabError] = ConfigError,
    missing_fix: str,
    bom: bool = False,
    fix: str | None = None,
) -> str:
    """:func:`read_bytes` then :func:`decode_utf8` (``fix``: for text that is not UTF-8)."""
    raw = read_bytes(path, what=what, error=error, missing_fix=missing_fix)
    return decode_utf8(raw, path, what=what, error=error, bom=bom, fix=fix)
