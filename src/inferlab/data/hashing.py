"""File checksums: sha256 and md5 of a file, several digests in one pass, hex validation."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from inferlab.core.errors import ConfigError


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    return hash_file(path, ("sha256",), chunk)["sha256"]


def md5_file(path: Path, chunk: int = 1 << 20) -> str:
    return hash_file(path, ("md5",), chunk)["md5"]


def hash_file(path: Path, algos: tuple[str, ...], chunk: int) -> dict[str, str]:
    h = Hashers(algos)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigests()


class Hashers:
    """Several hashlib objects fed together; ``n`` counts the bytes fed."""

    def __init__(self, algos: tuple[str, ...]) -> None:
        self.algos = algos
        self.reset()

    def reset(self) -> None:
        self._h = {a: hashlib.new(a) for a in self.algos}
        self.n = 0

    def update(self, data: bytes | memoryview) -> None:
        for h in self._h.values():
            h.update(data)
        self.n += len(data)

    def hexdigests(self) -> dict[str, str]:
        return {a: h.hexdigest() for a, h in self._h.items()}


def normalize_hex(value: str | None, length: int, name: str) -> str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if not re.fullmatch(f"[0-9a-f]{{{length}}}", v):
        raise ConfigError(
            f"{name} {value!r} is not {length} hex digits", fix=f"pass a valid {name}"
        )
    return v
